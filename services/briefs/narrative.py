"""The optional LLM narrative of a brief, written by the router (Complete) under
a deadline. The brief never depends on it: any failure is a skipped narrative
with the reason in NarrativeStatus."""

from __future__ import annotations

import logging
from typing import Protocol

import grpc

from services.briefs.model import NarrativeStatus, Scope
from switchboard.runtime.tenant import tenant_metadata
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.channels import PeerChannels

log = logging.getLogger("switchboard.briefs.narrative")

NARRATIVE_USER = "switchboard:briefs"
SYSTEM_PROMPT = (
    "You write the opening of a busy professional's daily brief. In two or three plain "
    "sentences, say what matters most in the brief below and what to do first. Use only "
    "facts from the brief; no greetings, no lists, no markdown."
)


class Narrator(Protocol):
    async def write(self, scope: Scope, brief_text: str) -> tuple[str, NarrativeStatus]:
        """The narrative and INCLUDED, or "" and why it was skipped."""
        ...


class RouterNarrator:
    """Asks the router through the shared peer channel, with its own deadline."""

    def __init__(self, channels: PeerChannels, timeout_s: float, max_tokens: int) -> None:
        self._channels = channels
        self._timeout_s = timeout_s
        self._max_tokens = max_tokens

    async def write(self, scope: Scope, brief_text: str) -> tuple[str, NarrativeStatus]:
        stub = router_pb2_grpc.RouterServiceStub(self._channels.channel("router"))
        request = router_pb2.CompleteRequest(
            system_prompt=SYSTEM_PROMPT,
            prompt=brief_text,
            # The mesh's own call, not the owner's: recorded under a service user so
            # it never counts toward the owner's interactions or time saved.
            user_id=NARRATIVE_USER,
            topic="briefs_narrative",
            max_tokens=self._max_tokens,
        )
        try:
            response = await stub.Complete(
                request, timeout=self._timeout_s, metadata=tenant_metadata(scope.tenant)
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "narrative skipped",
                extra={"code": exc.code().name, "error": exc.details(), "router": self._channels.address("router")},
            )
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return "", NarrativeStatus.SKIPPED_DEADLINE
            return "", NarrativeStatus.SKIPPED_ROUTER_UNAVAILABLE
        text = response.text.strip()
        if not text:
            return "", NarrativeStatus.SKIPPED_ROUTER_UNAVAILABLE
        return text, NarrativeStatus.INCLUDED
