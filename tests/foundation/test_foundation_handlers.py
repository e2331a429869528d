"""WrappingInterceptor: what it leaves alone, and that each method's handler is
wrapped once however many calls it serves (grpc.aio asks every interceptor on
every call), and again when the handler below changes — on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc

from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor


class Tagging(WrappingInterceptor):
    """Tags answers with the method; counts how often it wraps."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[str] = []

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        return method.endswith("/Plain")

    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        self.built.append(method)

        async def tagged(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return method.encode() + b":" + await behavior(request, context)

        return tagged

    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        self.built.append(method)

        async def tagged(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            async for item in behavior(request, context):
                yield method.encode() + b":" + item

        return tagged


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def _twice(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield request
    yield request


def _handlers() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler("t.S", {
        "Echo": grpc.unary_unary_rpc_method_handler(_echo),
        "Twice": grpc.unary_stream_rpc_method_handler(_twice),
        "Plain": grpc.unary_unary_rpc_method_handler(_echo),
    })


async def test_each_method_is_wrapped_once_and_its_calls_stay_apart() -> None:
    tagging = Tagging()
    server = grpc.aio.server(interceptors=[tagging])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo, twice = channel.unary_unary("/t.S/Echo"), channel.unary_stream("/t.S/Twice")
            for i in range(5):
                assert await echo(b"%d" % i) == b"/t.S/Echo:%d" % i  # each call its own request
                assert [r async for r in twice(b"x")] == [b"/t.S/Twice:x"] * 2
            assert await channel.unary_unary("/t.S/Plain")(b"p") == b"p"  # left alone
    finally:
        await server.stop(None)
    assert sorted(tagging.built) == ["/t.S/Echo", "/t.S/Twice"]  # 10 calls, 2 wraps


async def test_a_changed_handler_below_is_wrapped_again() -> None:
    tagging = Tagging()
    first = grpc.unary_unary_rpc_method_handler(_echo)
    again = grpc.unary_unary_rpc_method_handler(_echo)  # equal, but another object
    details = SimpleNamespace(method="/t.S/Echo", invocation_metadata=())

    async def below(handler: grpc.RpcMethodHandler) -> Any:
        async def continuation(_: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return handler
        return await tagging.intercept_service(continuation, details)  # type: ignore[arg-type]

    wrapped = await below(first)
    assert await below(first) is wrapped and tagging.built == ["/t.S/Echo"]
    rewrapped = await below(again)
    assert rewrapped is not wrapped and tagging.built == ["/t.S/Echo"] * 2
    assert await rewrapped.unary_unary(b"z", None) == b"/t.S/Echo:z"
