"""The error boundary every service gets: UNIMPLEMENTED for missing methods,
INTERNAL (without internals) for bugs while the server lives on, and
INVALID_ARGUMENT with readable field violations for bad input."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator

import grpc
import pytest

from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.status import FieldViolation, InvalidArgument, field_violations

CACHE = cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name
ROUTER = router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
SECRET = "db password is hunter2"


class BrokenCache(cache_pb2_grpc.CacheServiceServicer):
    """Lookup has a bug, Store validates, Stats works, Invalidate is not written."""

    async def Lookup(self, request, context):  # noqa: N802
        raise RuntimeError(SECRET)

    async def Store(self, request, context):  # noqa: N802
        raise InvalidArgument([FieldViolation("key", "must not be empty"), FieldViolation("ttl", "must be positive")])

    async def Stats(self, request, context):  # noqa: N802
        return cache_pb2.StatsResponse(size=7)


class BrokenRouter(router_pb2_grpc.RouterServiceServicer):
    """Generate fails after one event; Complete rejects its input."""

    async def Generate(self, request, context) -> AsyncIterator[router_pb2.GenerateResponse]:  # noqa: N802
        yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text="partial"))
        if request.prompt == "bad":
            raise InvalidArgument([FieldViolation("prompt", "not allowed")])
        raise ValueError(SECRET)


@pytest.fixture
async def cache(serve):
    app = GrpcApp(service_names=[CACHE], servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, BrokenCache())])
    running = await serve("cache", app=app)
    return cache_pb2_grpc.CacheServiceStub(running.channel)


@pytest.fixture
async def router(serve):
    app = GrpcApp(service_names=[ROUTER], servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, BrokenRouter())])
    running = await serve("router", app=app)
    return router_pb2_grpc.RouterServiceStub(running.channel)


async def test_unimplemented_method_names_itself(cache) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.Invalidate(cache_pb2.InvalidateRequest(key="k"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "CacheService/Invalidate" in caught.value.details()


async def test_unexpected_exception_is_internal_without_internals_and_server_lives_on(cache, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="switchboard.errors"):
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=5)
            assert caught.value.code() == grpc.StatusCode.INTERNAL
            assert "Lookup" in caught.value.details()
            assert SECRET not in caught.value.details()
    # Logged once per failure, with the traceback, for the operator.
    records = [r for r in caplog.records if r.name == "switchboard.errors"]
    assert len(records) == 2
    assert all(r.exc_info and SECRET in str(r.exc_info[1]) for r in records)
    # The next call is served normally.
    assert (await cache.Stats(cache_pb2.StatsRequest(), timeout=5)).size == 7


async def test_invalid_argument_carries_field_violations(cache) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.Store(cache_pb2.StoreRequest(key="", value=b"v"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == [
        FieldViolation("key", "must not be empty"),
        FieldViolation("ttl", "must be positive"),
    ]
    assert "key: must not be empty" in caught.value.details()


async def test_stream_failing_midway_is_internal_after_what_was_sent(router) -> None:
    call = router.Generate(router_pb2.GenerateRequest(prompt="hi"), timeout=5)
    first = await call.read()
    assert first.token.text == "partial"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert SECRET not in caught.value.details()


async def test_stream_invalid_argument_has_field_violations(router) -> None:
    call = router.Generate(router_pb2.GenerateRequest(prompt="bad"), timeout=5)
    events = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in call:
            events.append(event)
    assert len(events) == 1
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == [FieldViolation("prompt", "not allowed")]


async def test_unimplemented_stream_is_unimplemented(serve) -> None:
    app = GrpcApp(
        service_names=[ROUTER],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, router_pb2_grpc.RouterServiceServicer())],
    )
    running = await serve("router", app=app)
    stub = router_pb2_grpc.RouterServiceStub(running.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.Generate(router_pb2.GenerateRequest(prompt="hi"), timeout=5):
            pass
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "Generate" in caught.value.details()


class LateAborter(cache_pb2_grpc.CacheServiceServicer):
    """Lookup refuses (UNAVAILABLE) at the moment its caller cancels: the abort
    races the cancel, as a degraded service's refusal does under a caller's deadline."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        self.abort_raised: collections.Counter[str] = collections.Counter()

    async def Lookup(self, request, context):  # noqa: N802
        self.entered.set()
        await self.go.wait()
        for _ in range(int(request.key)):
            await asyncio.sleep(0)
        try:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")
        except BaseException as exc:
            self.abort_raised[type(exc).__name__] += 1
            raise


async def test_an_abort_racing_the_callers_cancel_is_not_logged_as_a_bug(serve, caplog) -> None:
    servicer = LateAborter()
    app = GrpcApp(service_names=[CACHE], servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, servicer)])
    running = await serve("cache", app=app)
    stub = cache_pb2_grpc.CacheServiceStub(running.channel)
    caplog.set_level(logging.DEBUG)
    for i in range(200):
        servicer.entered.clear()
        servicer.go = asyncio.Event()
        call = stub.Lookup(cache_pb2.LookupRequest(key=str(i % 4)))
        await servicer.entered.wait()
        for _ in range(i % 3):
            await asyncio.sleep(0)
        call.cancel()
        servicer.go.set()
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)
    # The race happened (the abort's send failed because the caller had left) ...
    assert servicer.abort_raised["ExecuteBatchError"] > 0, servicer.abort_raised
    # ... and nothing logged it as a bug, nor aborted a second time.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
