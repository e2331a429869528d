"""Process-level routes: liveness and readiness (Kubernetes probes).

The REST transcoding of the annotated RPCs and the OpenAI-compatible API are
issue #6; until then only these answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

RouterStatus = Callable[[], Awaitable[str]]


def probe_routes(router_status: RouterStatus) -> list[Route]:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        status = await router_status()
        ready = status == "SERVING"
        body = {"status": "ready" if ready else "not ready", "router": status}
        return JSONResponse(body, status_code=200 if ready else 503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
