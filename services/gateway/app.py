"""Wires the gateway together (its composition root).

Outside in: CORS (when origins are configured) → load shedding, API keys and the
per-key rate limit (GatewayGuard; probes exempt) → routes: probes, /openapi.json, /docs, the
OpenAI-compatible API, then every annotated RPC of the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from services.gateway import openai_routes, routes
from services.gateway.admission import GatewayLimit
from services.gateway.docs import render_docs
from services.gateway.limits import RateLimiter
from services.gateway.openai_routes import OpenAIRoutes
from services.gateway.openapi import openapi_document
from services.gateway.rest import RestDispatcher
from services.gateway.routes import PUBLIC_PATHS, probe_routes
from services.gateway.security import GatewayGuard, caller_of, error_for
from services.gateway.settings import GatewaySettings
from services.gateway.transcoding import mesh_routes
from switchboard.clients.health import check
from switchboard.runtime.adaptive_limit import AdaptiveLimit
from switchboard.runtime.auth import ApiKeys, caller_metadata
from switchboard.runtime.server import Runtime

SETTINGS = GatewaySettings

ROUTER_SERVICE = "switchboard.router.v1.RouterService"


def _adaptive_limit(settings: GatewaySettings, runtime: Runtime) -> GatewayLimit | None:
    if not settings.gateway_adaptive_limit:
        return None
    limit = AdaptiveLimit(minimum=settings.gateway_adaptive_limit_min, maximum=settings.gateway_adaptive_limit_max,
                          target_delay_s=settings.gateway_adaptive_limit_target_s)
    return GatewayLimit(limit, runtime.clock, runtime.metrics)


@dataclass
class GatewayApp:
    runtime: Runtime
    asgi: Any = field(init=False)

    def __post_init__(self) -> None:
        settings = self.runtime.settings
        assert isinstance(settings, GatewaySettings) and self.runtime.channels is not None
        keys = ApiKeys.from_settings(settings)
        mesh = mesh_routes()
        self.openapi = openapi_document(
            mesh,
            {**routes.OPENAPI_PATHS, **openai_routes.OPENAPI_PATHS},
            openai_routes.OPENAPI_SCHEMAS,
            secured=keys.enabled,
        )
        self.docs_html = render_docs(self.openapi)
        self.rest = RestDispatcher(
            mesh,
            self.runtime.channels,
            unary_timeout_s=settings.gateway_request_timeout_s,
            stream_timeout_s=settings.gateway_stream_timeout_s,
            max_body_bytes=settings.gateway_max_body_bytes,
            stopping=self.runtime.stopping,
        )
        self.openai = OpenAIRoutes(
            self.runtime.channels,
            self.runtime.clock,
            request_timeout_s=settings.gateway_request_timeout_s,
            stream_timeout_s=settings.gateway_stream_timeout_s,
            max_body_bytes=settings.gateway_max_body_bytes,
            models_cache_s=settings.gateway_models_cache_s,
            limit=_adaptive_limit(settings, self.runtime),
        )

        async def openapi(_: Request) -> JSONResponse:
            return JSONResponse(self.openapi)

        async def docs(_: Request) -> HTMLResponse:
            return HTMLResponse(self.docs_html)

        async def rest(request: Request) -> Response:
            caller = caller_of(request.scope)
            return await self.rest(request, caller_metadata(caller) if caller is not None else ())

        limiter = None
        if settings.gateway_rate_limit_per_s > 0:
            limiter = RateLimiter(settings.gateway_rate_limit_per_s, settings.gateway_rate_limit_burst,
                                  self.runtime.clock, max_clients=settings.gateway_rate_limit_max_clients)
        middleware = []
        if settings.gateway_cors_origins:
            middleware.append(Middleware(
                CORSMiddleware,
                allow_origins=settings.gateway_cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type"],
                expose_headers=["retry-after", "x-switchboard-backend", "x-switchboard-request-id",
                                "x-switchboard-degraded"],
                max_age=600,
            ))
        middleware.append(Middleware(GatewayGuard, keys=keys, limiter=limiter, load=self.runtime.load,
                                     exempt=PUBLIC_PATHS))
        self.asgi = Starlette(
            routes=[
                *probe_routes(self._router_status),
                Route("/openapi.json", openapi),
                Route("/docs", docs),
                *self.openai.routes(),
                Route("/{path:path}", rest, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ],
            middleware=middleware,
            # Starlette's own refusals (a path no route pattern matches, e.g. one
            # with a newline) in the same JSON shape as every other error.
            exception_handlers={HTTPException: _http_exception},
        )

    async def _router_status(self) -> str:
        assert self.runtime.channels is not None
        return await check(self.runtime.channels.channel("router"), ROUTER_SERVICE, timeout=1.0)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    name = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_ARGUMENT")
    return error_for(request.url.path, exc.status_code, name, name.lower(), str(exc.detail), dict(exc.headers or {}))


def create(runtime: Runtime) -> GatewayApp:
    return GatewayApp(runtime)
