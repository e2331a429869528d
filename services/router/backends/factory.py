"""Builds backends from their configs, and the pooled HTTP client they share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

import aiohttp

from services.router.backends.anthropic import AnthropicBackend
from services.router.backends.base import Backend
from services.router.backends.client import TRANSPORT_ERRORS, BackendClient
from services.router.backends.config import (
    OLLAMA_DEFAULT_URL,
    BackendConfig,
    BackendKind,
)
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
    trace_configs: Iterable[aiohttp.TraceConfig] = (),
    propagate_trace_context: bool = False,
) -> BackendClient:
    """One pooled client for every backend: HTTP/1.1 keep-alive, bounded pool.
    Every open stream holds one connection, so `max_connections` bounds the
    router's concurrent streams; a request that waits `pool_timeout_s` for one
    fails as POOL_EXHAUSTED (local overload). Per-request timeouts come from
    each backend's config; the pool wait stays the client's. Call it on the
    event loop that will use the client."""
    return BackendClient(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry_s=keepalive_expiry_s,
        pool_timeout_s=pool_timeout_s,
        trust_env=trust_env,
        trace_configs=trace_configs,
        propagate_trace_context=propagate_trace_context,
    )


def build_backend(
    config: BackendConfig, client: BackendClient, clock: Clock, env: Mapping[str, str]
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
    client: BackendClient, base_url: str = OLLAMA_DEFAULT_URL, timeout_s: float = 0.5
) -> Callable[[], Awaitable[bool]]:
    """The `probe_ollama` argument of `default_backends`: does Ollama answer
    GET /api/tags within `timeout_s`?"""

    async def probe() -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                status, _, _ = await client.fetch(f"{base_url.rstrip('/')}/api/tags", headers={}, connect_s=timeout_s)
        except TRANSPORT_ERRORS:  # TimeoutError included
            return False
        return status == 200

    return probe
