"""The fault-injection proxy's toxics (switchboard/testing/tcp_proxy.py), each
against a real TCP server: latency, bandwidth, slicing, close after N bytes,
reset, stall/timeout, toxicity, and removal restoring the link."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from switchboard.testing.tcp_proxy import Direction, TcpProxy, Toxic

PAYLOAD = bytes(range(256)) * 40  # 10 240 bytes


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
async def source_port() -> AsyncIterator[int]:
    """Sends PAYLOAD to whoever connects, then keeps the connection open."""

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(PAYLOAD)
            await writer.drain()
            await reader.read()  # until the client goes
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(send, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def roundtrip(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    finally:
        writer.close()


async def read_all(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple[bytes, BaseException | None]:
    got = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                got += chunk
    except (ConnectionError, TimeoutError) as exc:
        return got, exc
    return got, None


async def test_latency_delays_every_chunk_and_removal_restores(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        name = proxy.add_toxic(Toxic.latency(0.25))
        started = time.monotonic()
        assert await roundtrip(proxy.port, b"ping") == b"ping"
        assert time.monotonic() - started >= 0.25
        proxy.remove_toxic(name)
        assert proxy.toxics == []
        assert await roundtrip(proxy.port, b"pong") == b"pong"


async def test_upstream_latency_applies_to_requests_only(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        proxy.add_toxic(Toxic.latency(0.2, direction=Direction.UPSTREAM))
        started = time.monotonic()
        assert await roundtrip(proxy.port, b"x" * 100) == b"x" * 100
        assert time.monotonic() - started >= 0.2


async def test_bandwidth_paces_the_stream_without_losing_bytes(source_port: int) -> None:
    async with TcpProxy("127.0.0.1", source_port) as proxy:
        proxy.add_toxic(Toxic.bandwidth(20_000))  # 10 240 bytes → about half a second
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        data = await asyncio.wait_for(reader.readexactly(len(PAYLOAD)), 5)
        writer.close()
        assert data == PAYLOAD
        assert time.monotonic() - started >= 0.4


async def test_slicer_cuts_writes_into_small_pieces(source_port: int) -> None:
    async with TcpProxy("127.0.0.1", source_port) as proxy:
        proxy.add_toxic(Toxic.slicer(64, size_variation=16, delay_s=0.002))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        first = await asyncio.wait_for(reader.read(65536), 5)
        rest = await asyncio.wait_for(reader.readexactly(len(PAYLOAD) - len(first)), 5)
        writer.close()
        assert len(first) <= 80
        assert first + rest == PAYLOAD


async def test_limit_data_closes_after_exactly_n_bytes(source_port: int) -> None:
    async with TcpProxy("127.0.0.1", source_port) as proxy:
        proxy.add_toxic(Toxic.limit_data(1000))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        got, _ = await read_all(reader)
        writer.close()
        assert got == PAYLOAD[:1000]
        assert proxy.toxic_closes == 1


async def test_reset_sends_rst_after_the_timeout(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        started = time.monotonic()
        proxy.add_toxic(Toxic.reset(0.2))  # applies to the open connection too
        got, error = await read_all(reader)
        writer.close()
        assert got == b"" and isinstance(error, ConnectionResetError)
        assert time.monotonic() - started >= 0.2


async def test_stall_drops_data_but_keeps_the_connection_open(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        name = proxy.add_toxic(Toxic.timeout(0))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"lost")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(10), 0.3)
        assert proxy.open_connections == 1
        proxy.remove_toxic(name)
        writer.write(b"kept")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"kept"
        writer.close()


async def test_timeout_closes_a_stalled_connection(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        proxy.add_toxic(Toxic.timeout(0.2))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        got, error = await read_all(reader, timeout=3)
        writer.close()
        assert got == b"" and not isinstance(error, TimeoutError)


async def test_zero_toxicity_never_applies_and_context_manager_removes(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        proxy.add_toxic(Toxic.reset(0, toxicity=0.0))
        assert await roundtrip(proxy.port, b"safe") == b"safe"
        proxy.clear_toxics()
        async with proxy.toxic(Toxic.limit_data(2)):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"abcdef")
            got, _ = await read_all(reader)
            writer.close()
            assert got == b"ab"
        assert proxy.toxics == []
        assert await roundtrip(proxy.port, b"abcdef") == b"abcdef"


def test_toxics_validate_their_arguments() -> None:
    with pytest.raises(ValueError):
        Toxic.bandwidth(0)
    with pytest.raises(ValueError):
        Toxic.slicer(0)
    with pytest.raises(ValueError):
        Toxic.latency(-1)
    with pytest.raises(ValueError):
        Toxic.reset(toxicity=1.5)


async def test_toxic_names_are_unique(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        proxy.add_toxic(Toxic.latency(0.01, name="slow"))
        with pytest.raises(ValueError):
            proxy.add_toxic(Toxic.latency(0.02, name="slow"))
