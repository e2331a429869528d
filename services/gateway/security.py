"""Load shedding, API keys and the per-key rate limit, in front of every route but
the probes.

A pure ASGI middleware (not BaseHTTPMiddleware, which would buffer SSE). It puts
the authenticated `Caller` (or None when auth is off) in `request.state.caller`;
routes forward it to the services as gRPC metadata. The key itself is never
logged nor echoed; rate-limit buckets are keyed by a digest of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway import openai_compat
from services.gateway.errors import error_body
from services.gateway.limits import RateLimiter, retry_after_header
from switchboard.runtime.auth import ApiKeys, Caller, bearer_token
from switchboard.runtime.overload import LagEstimate

# Routes that answer errors in OpenAI's shape rather than the gateway's.
OPENAI_PREFIXES = ("/v1/chat/", "/v1/models")


def caller_of(scope: Scope) -> Caller | None:
    """The caller GatewayGuard authenticated (None when auth is off)."""
    return scope.get("state", {}).get("caller")


def error_for(path: str, status: int, grpc_name: str, openai_code: str, message: str,
              headers: dict[str, str]) -> JSONResponse:
    if path.startswith(OPENAI_PREFIXES):
        body = openai_compat.error_body(status, message, code=openai_code)
    else:
        body = error_body(status, grpc_name, message)
    return JSONResponse(body, status_code=status, headers=headers)


class GatewayGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: ApiKeys,
        limiter: RateLimiter | None,
        load: LagEstimate | None = None,
        exempt: Collection[str] = ("/healthz", "/readyz"),
    ) -> None:
        self._app = app
        self._keys = keys
        self._limiter = limiter
        self._load = load
        self._exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self._app(scope, receive, send)
            return
        refusal = self._check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _check(self, scope: Scope) -> JSONResponse | None:
        path: str = scope["path"]
        if self._load is not None and self._load.overloaded:
            # First: refusing costs next to nothing, which is the point when overloaded.
            return error_for(path, 503, "UNAVAILABLE", "server_overloaded", self._load.refusal(),
                             {"Retry-After": "1"})
        caller = None
        if self._keys.enabled:
            header = _header(scope, b"authorization")
            token = bearer_token(header)
            caller = self._keys.authenticate(token)
            if caller is None:
                challenge = 'Bearer realm="switchboard"' + (', error="invalid_token"' if token else "")
                message = "invalid API key" if token else "missing API key: send Authorization: Bearer <key>"
                return error_for(path, 401, "UNAUTHENTICATED", "invalid_api_key", message,
                                 {"WWW-Authenticate": challenge})
        scope.setdefault("state", {})["caller"] = caller
        if self._limiter is not None:
            wait = self._limiter.acquire(_client_id(scope, caller))
            if wait > 0:
                return error_for(path, 429, "RESOURCE_EXHAUSTED", "rate_limit_exceeded",
                                 f"rate limit exceeded; retry in {wait:.2f}s",
                                 {"Retry-After": retry_after_header(wait)})
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _client_id(scope: Scope, caller: Caller | None) -> str:
    if caller is not None:
        return "key:" + hashlib.sha256(caller.key.encode()).hexdigest()[:32]
    client: Any = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")
