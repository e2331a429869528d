"""The fault-injection TCP proxy (switchboard/testing/tcp_proxy.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from switchboard.testing.tcp_proxy import TcpProxy


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()


async def test_passes_bytes_both_ways(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        assert await roundtrip(proxy.port, b"hello" * 10_000) == b"hello" * 10_000


async def test_down_cuts_open_links_and_refuses_new_ones_until_up(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        port = proxy.port
        await proxy.down()
        assert await asyncio.wait_for(reader.read(10), 5) == b""  # the open link was cut
        writer.close()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await roundtrip(proxy.port, b"x")
        assert proxy.refused >= 1
        await proxy.up()
        assert proxy.port == port  # it kept its port while down
        assert await roundtrip(proxy.port, b"back") == b"back"


async def test_an_unreachable_upstream_looks_like_a_closed_connection() -> None:
    async with TcpProxy("127.0.0.1", 1) as proxy:
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await roundtrip(proxy.port, b"x")
