"""Wires the gateway together (its composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.openapi import openapi_document
from services.gateway.rest import RestDispatcher
from services.gateway.routes import probe_routes
from services.gateway.settings import GatewaySettings
from services.gateway.transcoding import mesh_routes
from switchboard.clients.health import check
from switchboard.runtime.server import Runtime

SETTINGS = GatewaySettings

ROUTER_SERVICE = "switchboard.router.v1.RouterService"


@dataclass
class GatewayApp:
    runtime: Runtime
    asgi: Any = field(init=False)

    def __post_init__(self) -> None:
        settings = self.runtime.settings
        assert isinstance(settings, GatewaySettings) and self.runtime.channels is not None
        routes = mesh_routes()
        self.openapi = openapi_document(routes)
        self.rest = RestDispatcher(
            routes,
            self.runtime.channels,
            unary_timeout_s=settings.gateway_request_timeout_s,
            stream_timeout_s=settings.gateway_stream_timeout_s,
            max_body_bytes=settings.gateway_max_body_bytes,
        )

        async def openapi(_: Request) -> JSONResponse:
            return JSONResponse(self.openapi)

        async def rest(request: Request) -> Response:
            return await self.rest(request)

        self.asgi = Starlette(
            routes=[
                *probe_routes(self._router_status),
                Route("/openapi.json", openapi),
                Route("/{path:path}", rest, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    async def _router_status(self) -> str:
        assert self.runtime.channels is not None
        return await check(self.runtime.channels.channel("router"), ROUTER_SERVICE, timeout=1.0)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create(runtime: Runtime) -> GatewayApp:
    return GatewayApp(runtime)
