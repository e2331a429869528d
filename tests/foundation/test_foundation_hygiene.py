"""Never-valid values (NUL in text, out-of-spec Timestamps and Durations) are
INVALID_ARGUMENT naming the field, at every server's door."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from switchboard.briefs.v1 import briefs_pb2
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.router.v1 import router_pb2
from switchboard.runtime.hygiene import violations
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.status import field_violations


def test_nul_anywhere_is_named_by_its_path() -> None:
    request = router_pb2.GenerateRequest(
        messages=[router_pb2.ChatMessage(role=router_pb2.ROLE_USER, content="fine"),
                  router_pb2.ChatMessage(role=router_pb2.ROLE_USER, content="bad\x00")],
        user_id="u\x00")
    assert {v.field for v in violations(request)} == {"messages[1].content", "user_id"}


def test_time_values_outside_the_spec() -> None:
    task = briefs_pb2.Task(title="t")
    task.due_at.seconds = 253_402_300_800  # year 10000
    task.estimated.seconds = 400_000_000_000  # over 10,000 years
    assert {v.field for v in violations(task)} == {"due_at", "estimated"}
    ok = briefs_pb2.Task(title="t")
    ok.due_at.seconds, ok.estimated.seconds = 1_800_000_000, 3600
    assert list(violations(ok)) == []
    mixed = briefs_pb2.Task(title="t")
    mixed.estimated.seconds, mixed.estimated.nanos = 5, -1  # signs must agree
    assert [v.field for v in violations(mixed)] == ["estimated"]


class _Monitor(monitor_pb2_grpc.MonitorServiceServicer):
    async def ListAlerts(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return monitor_pb2.ListAlertsResponse()

    async def WatchStatus(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        yield monitor_pb2.WatchStatusResponse()


@pytest.mark.parametrize("streaming", [False, True])
async def test_server_refuses_before_the_servicer_runs(serve: Any, streaming: bool) -> None:
    running = await serve("monitor", app=GrpcApp(
        service_names=["switchboard.monitor.v1.MonitorService"],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, _Monitor())]))
    stub = monitor_pb2_grpc.MonitorServiceStub(running.channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if streaming:
            async for _ in stub.WatchStatus(monitor_pb2.WatchStatusRequest(targets=["a\x00b"])):
                pass
        else:
            request = monitor_pb2.ListAlertsRequest()
            request.since.seconds = -99_999_999_999
            await stub.ListAlerts(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(err.value)] == (["targets[0]"] if streaming else ["since"])
    # and a clean request still passes
    assert await stub.ListAlerts(monitor_pb2.ListAlertsRequest()) is not None
