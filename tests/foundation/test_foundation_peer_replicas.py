"""A peer address that names several replicas spreads calls over all of them
(round robin), and a replica that is down is passed over: real gRPC servers
on real ports."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.settings import MeshSettings

_METHOD = "/test.Replica/Who"


async def _replica(name: str, counts: Counter[str]) -> tuple[grpc.aio.Server, int]:
    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        counts[name] += 1
        return name.encode()

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "test.Replica", {"Who": grpc.unary_unary_rpc_method_handler(who)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[Counter[str], list[int]]]:
    counts: Counter[str] = Counter()
    servers = [await _replica(name, counts) for name in ("a", "b")]
    yield counts, [port for _, port in servers]
    for server, _ in servers:
        await server.stop(None)


async def _call_many(address: str, tmp_path: Any, n: int) -> list[bytes]:
    channels = PeerChannels(MeshSettings(data_dir=tmp_path, router_address=address))
    try:
        call = channels.channel("router").unary_unary(_METHOD)
        return [await call(b"", timeout=5, wait_for_ready=True) for _ in range(n)]
    finally:
        await channels.close()


async def test_calls_are_spread_over_every_replica(replicas: Any, tmp_path: Any) -> None:
    counts, (a, b) = replicas
    answers = await _call_many(f"ipv4:127.0.0.1:{a},127.0.0.1:{b}", tmp_path, 40)
    assert set(answers) == {b"a", b"b"}
    # Round robin over READY subchannels: near even once both are connected.
    assert min(counts.values()) >= 10, counts


async def test_a_replica_that_is_down_is_passed_over(replicas: Any, tmp_path: Any) -> None:
    counts, (a, _) = replicas
    answers = await _call_many(f"ipv4:127.0.0.1:{_closed_port()},127.0.0.1:{a}", tmp_path, 20)
    assert answers == [b"a"] * 20


async def test_one_address_still_works(replicas: Any, tmp_path: Any) -> None:
    counts, (a, _) = replicas
    assert await _call_many(f"127.0.0.1:{a}", tmp_path, 3) == [b"a"] * 3
