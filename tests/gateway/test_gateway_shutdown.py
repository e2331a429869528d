"""Shutting the gateway down ends endless watch streams promptly with a final
`event: end`, instead of holding shutdown for the whole grace period."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx

from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.settings import MeshSettings


class _QuietMonitor(monitor_pb2_grpc.MonitorServiceServicer):
    """Sends one snapshot, then has nothing more to say (like a calm mesh)."""

    async def WatchStatus(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        yield monitor_pb2.WatchStatusResponse(snapshot=monitor_pb2.StatusSnapshot())
        await asyncio.Event().wait()


async def test_watch_stream_ends_when_the_gateway_stops(serve: Any, tmp_path: Any) -> None:
    monitor = await serve("monitor", app=GrpcApp(
        service_names=["switchboard.monitor.v1.MonitorService"],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, _QuietMonitor())]))
    # A long grace: if the stream were only cut at the grace, the wait below would time out.
    settings = MeshSettings(data_dir=tmp_path, monitor_address=monitor.address, shutdown_grace_s=60)
    gw = await serve("gateway", settings=settings)
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.port}", timeout=30) as client:
        async with client.stream("GET", "/v1/monitor/status:watch") as reply:
            assert reply.status_code == 200
            stream = reply.aiter_lines()
            while not any(line.startswith("data: ") for line in lines):
                lines.append(await stream.__anext__())
            stopping = asyncio.create_task(gw.server.stop())
            async for line in stream:
                lines.append(line)
            await asyncio.wait_for(stopping, timeout=15)
    assert "event: end" in lines
