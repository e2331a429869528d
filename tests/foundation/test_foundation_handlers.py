"""The per-method memo of the interceptors' wrapped handlers, which spares
grpc.aio's pass through every interceptor on every call a rebuild."""

from __future__ import annotations

from typing import Any

import grpc

from switchboard.runtime.handlers import RewrapMemo, rewrap


async def _echo(request: Any, context: Any) -> Any:
    return request


def _wrap_counting(built: list[str]) -> Any:
    def wrap_unary(behavior: Any) -> Any:
        built.append("unary")

        async def wrapped(request: Any, context: Any) -> Any:
            return ("wrapped", await behavior(request, context))

        return wrapped

    return wrap_unary


async def test_the_memo_builds_once_per_method_and_again_when_the_handler_below_changes() -> None:
    memo, built = RewrapMemo(), []
    below = grpc.unary_unary_rpc_method_handler(_echo)

    def build(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return rewrap(handler, _wrap_counting(built), lambda b: b)

    first = memo.get("/svc/A", below, lambda: build(below))
    again = memo.get("/svc/A", below, lambda: build(below))
    assert again is first and built == ["unary"]  # the same wrapped handler, built once
    assert await first.unary_unary(1, None) == ("wrapped", 1)

    other = memo.get("/svc/B", below, lambda: build(below))  # another method: its own
    assert other is not first and built == ["unary", "unary"]

    changed = grpc.unary_unary_rpc_method_handler(_echo)  # equal, but not the same object
    rebuilt = memo.get("/svc/A", changed, lambda: build(changed))
    assert rebuilt is not first and built == ["unary"] * 3
    assert memo.get("/svc/A", changed, lambda: build(changed)) is rebuilt
