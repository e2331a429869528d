"""Builds backends from their configs, and the pooled HTTP client they share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import httpx

from services.router.backends.anthropic import AnthropicBackend
from services.router.backends.base import Backend
from services.router.backends.config import OLLAMA_DEFAULT_URL, BackendConfig, BackendKind
from services.router.backends.mock import MockBackend
from services.router.backends.ollama import OllamaBackend
from services.router.backends.openai import OpenAIBackend
from switchboard.runtime.clock import Clock


def make_http_client(
    *,
    max_connections: int = 1000,
    max_keepalive_connections: int = 100,
    keepalive_expiry_s: float = 30.0,
    pool_timeout_s: float = 5.0,
    trust_env: bool = True,
) -> httpx.AsyncClient:
    """One pooled client for every backend: HTTP/1.1 keep-alive, bounded pool.
    Every open stream holds one connection, so `max_connections` bounds the
    router's concurrent streams; a request that waits `pool_timeout_s` for one
    fails as POOL_EXHAUSTED (local overload). Per-request timeouts come from
    each backend's config; the pool wait stays the client's."""
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry_s,
        ),
        timeout=httpx.Timeout(connect=5.0, read=None, write=5.0, pool=pool_timeout_s),
        follow_redirects=False,
        trust_env=trust_env,
    )


def build_backend(
    config: BackendConfig, client: httpx.AsyncClient, clock: Clock, env: Mapping[str, str]
) -> Backend:
    """The adapter for `config.kind`; the API key is read from `env` now."""
    key = config.api_key(env)
    if config.kind is BackendKind.openai:
        return OpenAIBackend(config, client, clock, key)
    if config.kind is BackendKind.ollama:
        return OllamaBackend(config, client, clock, key)
    if config.kind is BackendKind.anthropic:
        return AnthropicBackend(config, client, clock, key)
    if config.kind is BackendKind.mock:
        return MockBackend(config, clock)
    raise ValueError(f"unknown backend kind {config.kind!r}")


def ollama_probe(
    client: httpx.AsyncClient, base_url: str = OLLAMA_DEFAULT_URL, timeout_s: float = 0.5
) -> Callable[[], Awaitable[bool]]:
    """The `probe_ollama` argument of `default_backends`: does Ollama answer
    GET /api/tags within `timeout_s`?"""

    async def probe() -> bool:
        try:
            response = await client.get(f"{base_url.rstrip('/')}/api/tags", timeout=timeout_s)
        except (httpx.HTTPError, OSError):
            return False
        return response.status_code == 200

    return probe
