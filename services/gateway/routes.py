"""Process-level routes: liveness and readiness (Kubernetes probes), and their
OpenAPI description (with the document's own and the docs page's routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

RouterStatus = Callable[[], Awaitable[str]]

# Never behind an API key: probes must work without secrets.
PUBLIC_PATHS = ("/healthz", "/readyz")


def probe_routes(router_status: RouterStatus) -> list[Route]:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        status = await router_status()
        ready = status == "SERVING"
        body = {"status": "ready" if ready else "not ready", "router": status}
        return JSONResponse(body, status_code=200 if ready else 503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


_PROBE = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "router": {"type": "string"}},
}

OPENAPI_PATHS: dict[str, Any] = {
    "/healthz": {"get": {
        "operationId": "gateway_healthz", "tags": ["gateway"], "summary": "Liveness: the process answers.",
        "security": [],
        "responses": {"200": {"description": "Alive.", "content": {"application/json": {"schema": _PROBE}}}},
    }},
    "/readyz": {"get": {
        "operationId": "gateway_readyz", "tags": ["gateway"], "summary": "Readiness: the router is SERVING.",
        "security": [],
        "responses": {
            "200": {"description": "Ready.", "content": {"application/json": {"schema": _PROBE}}},
            "503": {"description": "Not ready (router not SERVING).",
                    "content": {"application/json": {"schema": _PROBE}}},
        },
    }},
    "/openapi.json": {"get": {
        "operationId": "gateway_openapi", "tags": ["gateway"], "summary": "This OpenAPI document.",
        "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "default": {"description": "Error (401, 429).",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    }},
    "/docs": {"get": {
        "operationId": "gateway_docs", "tags": ["gateway"], "summary": "This document as an HTML page.",
        "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}},
                      "default": {"description": "Error (401, 429).",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    }},
}
