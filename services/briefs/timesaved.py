"""Time saved by the owner's AI interactions, from the learning service
(GetTimeSaved) under a deadline. Unreachable or failing → None, and the evening
brief says so (TimeSaved.learning_unavailable) instead of failing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.briefs.compose import InteractionTime
from services.briefs.model import Scope
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.runtime.channels import PeerChannels

log = logging.getLogger("switchboard.briefs.timesaved")


class TimeSavedSource(Protocol):
    async def time_saved(self, scope: Scope, since: datetime, until: datetime) -> InteractionTime | None:
        ...


def _ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class LearningTimeSaved:
    def __init__(self, channels: PeerChannels, timeout_s: float) -> None:
        self._channels = channels
        self._timeout_s = timeout_s

    async def time_saved(self, scope: Scope, since: datetime, until: datetime) -> InteractionTime | None:
        stub = learning_pb2_grpc.LearningServiceStub(self._channels.channel("learning"))
        request = learning_pb2.GetTimeSavedRequest(
            user_id=scope.owner_id, since=_ts(since), until=_ts(until), tenant=scope.tenant
        )
        try:
            response = await stub.GetTimeSaved(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "time saved unavailable",
                extra={"code": exc.code().name, "error": exc.details(), "learning": self._channels.address("learning")},
            )
            return None
        return InteractionTime(response.time_saved.ToTimedelta(), int(response.request_count))
