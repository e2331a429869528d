"""Plain helpers of the cache suite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import duration_pb2

from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.testing.services import RunningService

CALL_TIMEOUT = 5.0


def stub(running: RunningService) -> cache_pb2_grpc.CacheServiceStub:
    assert running.channel is not None
    return cache_pb2_grpc.CacheServiceStub(running.channel)


def tenant(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-switchboard-tenant", name),)


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


class Client:
    """The cache's RPCs with a deadline on every call and an optional tenant."""

    def __init__(self, running: RunningService, tenant_name: str | None = None) -> None:
        self._stub = stub(running)
        self._md = tenant(tenant_name) if tenant_name is not None else None

    async def store(self, key: str, value: bytes = b"answer", **fields: Any) -> cache_pb2.StoreResponse:
        if "ttl" in fields and isinstance(fields["ttl"], int | float):
            fields["ttl"] = seconds(fields["ttl"])
        return await self._stub.Store(
            cache_pb2.StoreRequest(key=key, value=value, **fields), timeout=CALL_TIMEOUT, metadata=self._md
        )

    async def lookup(self, key: str) -> cache_pb2.LookupResponse:
        return await self._stub.Lookup(cache_pb2.LookupRequest(key=key), timeout=CALL_TIMEOUT, metadata=self._md)

    async def found(self, key: str) -> bool:
        response = await self.lookup(key)
        assert not response.degraded, response.degraded_reason
        return response.found

    async def invalidate(self, **target: str) -> cache_pb2.InvalidateResponse:
        return await self._stub.Invalidate(
            cache_pb2.InvalidateRequest(**target), timeout=CALL_TIMEOUT, metadata=self._md
        )

    async def stats(self) -> cache_pb2.StatsResponse:
        return await self._stub.Stats(cache_pb2.StatsRequest(), timeout=CALL_TIMEOUT, metadata=self._md)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis); yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
