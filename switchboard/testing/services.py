"""Start real services in-process on real ports (port 0), for tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from switchboard.mesh import BY_NAME
from switchboard.runtime.channels import open_channel
from switchboard.runtime.entry import app_module
from switchboard.runtime.http import HttpServer
from switchboard.runtime.server import GrpcServer, Runtime


@dataclass
class RunningService:
    name: str
    server: GrpcServer | HttpServer
    runtime: Runtime
    app: Any
    port: int
    channel: grpc.aio.Channel | None  # None for the HTTP gateway

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        await self.server.stop()


async def start_service(name: str, runtime: Runtime, app: Any | None = None, *, shed: bool = False) -> RunningService:
    """Builds `name`'s app from `runtime` (or takes `app`) and serves it on a free port.

    In-process servers share the test's event loop, whose lag is the test's own work
    (hypothesis, many services at once), not the server's load: they shed load
    (settings.overload_loop_lag_s) only with `shed=True`."""
    entry = BY_NAME[name]
    if app is None:
        settings_cls = app_module(entry).SETTINGS
        if not isinstance(runtime.settings, settings_cls):
            # Tests may pass plain MeshSettings: widen them to the service's class.
            runtime.settings = settings_cls(**runtime.settings.model_dump())
            runtime.channels = None
            runtime.__post_init__()
        app = app_module(entry).create(runtime)
    if not shed:
        runtime.load.threshold_s = 0.0
    server: GrpcServer | HttpServer
    server = GrpcServer(app, runtime, port=0) if entry.is_grpc else HttpServer(app, runtime, port=0)
    port = await server.start()
    # Over TLS when the settings configure it (the test then talks to it as a peer would).
    channel = open_channel(f"127.0.0.1:{port}", runtime.settings) if entry.is_grpc else None
    return RunningService(name, server, runtime, app, port, channel)
