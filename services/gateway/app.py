"""Wires the gateway together (its composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from services.gateway.routes import probe_routes
from switchboard.clients.health import check
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = MeshSettings

ROUTER_SERVICE = "switchboard.router.v1.RouterService"


@dataclass
class GatewayApp:
    runtime: Runtime
    asgi: Any = field(init=False)

    def __post_init__(self) -> None:
        self.asgi = Starlette(routes=probe_routes(self._router_status))

    async def _router_status(self) -> str:
        assert self.runtime.channels is not None
        return await check(self.runtime.channels.channel("router"), ROUTER_SERVICE, timeout=1.0)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create(runtime: Runtime) -> GatewayApp:
    return GatewayApp(runtime)
