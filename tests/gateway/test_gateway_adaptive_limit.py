"""The gateway's adaptive limit on chat completions in flight
(SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT), through a real gateway in front of a real
gRPC router servicer whose timing each test chooses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from services.gateway.settings import GatewaySettings
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp


class TimedRouter(router_pb2_grpc.RouterServiceServicer):
    """Answers "hold" only once `release` is set; otherwise after `backend_s`
    (counted in the DoneEvent's total_time, as a real router counts a backend's
    time) and `unaccounted_s` (spent before its clock starts, as a request
    waiting in a saturated router's queue would)."""

    def __init__(self) -> None:
        self.backend_s = 0.0
        self.unaccounted_s = 0.0
        self.release = asyncio.Event()

    def _done(self, started: float, first_token_at: float | None = None) -> router_pb2.DoneEvent:
        done = router_pb2.DoneEvent(finish_reason=router_pb2.FINISH_REASON_STOP, backend="mock-a")
        done.total_time.FromNanoseconds(int((time.perf_counter() - started) * 1e9))
        if first_token_at is not None:
            done.time_to_first_token.FromNanoseconds(int((first_token_at - started) * 1e9))
        return done

    async def _work(self, text: str) -> float:
        await asyncio.sleep(self.unaccounted_s)
        started = time.perf_counter()
        if text == "hold":
            await self.release.wait()
        await asyncio.sleep(self.backend_s)
        return started

    async def Complete(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        started = await self._work(request.messages[-1].content)
        return router_pb2.CompleteResponse(request_id=request.request_id, text="ok", backend="mock-a",
                                           model="mock-model", done=self._done(started))

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        text = request.messages[-1].content
        if text == "hold":
            yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(request_id=request.request_id,
                                                                          backend="mock-a"))
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text="held ", backend="mock-a"))
        started = await self._work(text)
        first_token_at = None
        if text != "hold":
            yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(request_id=request.request_id,
                                                                          backend="mock-a"))
            first_token_at = time.perf_counter()
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text="ok", backend="mock-a"))
            await asyncio.sleep(self.backend_s)  # the rest of a long answer: not queueing either
        yield router_pb2.GenerateResponse(done=self._done(started, first_token_at))

    async def ListBackends(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return router_pb2.ListBackendsResponse(backends=[router_pb2.BackendInfo(name="mock-a", model="mock-model")])


@pytest.fixture
async def router(serve: Any) -> Any:
    servicer = TimedRouter()
    running = await serve("router", app=GrpcApp(
        service_names=["switchboard.router.v1.RouterService"],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, servicer)]))
    running.servicer = servicer
    return running


async def _gateway(serve: Any, router: Any, tmp_path: Any, *, maximum: int, target_s: float = 0.15) -> str:
    settings = GatewaySettings(
        data_dir=tmp_path, router_address=router.address, shutdown_grace_s=1, gateway_adaptive_limit=True,
        gateway_adaptive_limit_min=1, gateway_adaptive_limit_max=maximum, gateway_adaptive_limit_target_s=target_s,
    )
    gw = await serve("gateway", settings=settings)
    return f"http://127.0.0.1:{gw.port}"


def _body(text: str, stream: bool) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], "stream": stream}


async def _ask(http: httpx.AsyncClient, text: str, stream: bool) -> int:
    reply = await http.post("/v1/chat/completions", json=_body(text, stream))
    if reply.status_code == 200 and stream:
        assert reply.text.rstrip().endswith("data: [DONE]")
    return reply.status_code


async def _rounds(http: httpx.AsyncClient, rounds: int, concurrency: int) -> list[int]:
    codes: list[int] = []
    for r in range(rounds):
        codes += await asyncio.gather(*(_ask(http, "hi", stream=(r + i) % 2 == 0) for i in range(concurrency)))
    return codes


async def test_requests_over_the_limit_are_refused_with_retry_after_until_a_slot_frees(
    serve: Any, router: Any, tmp_path: Any
) -> None:
    base = await _gateway(serve, router, tmp_path, maximum=2)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        held = []
        for _ in range(2):  # two streams in flight, each past its first token
            cm = http.stream("POST", "/v1/chat/completions", json=_body("hold", stream=True))
            reply = await cm.__aenter__()
            lines = reply.aiter_lines()
            while "held" not in await anext(lines):
                pass
            held.append((cm, lines))
        refused = await http.post("/v1/chat/completions", json=_body("hi", stream=False))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]
        assert error["code"] == "server_overloaded" and "limit of requests in flight" in error["message"]
        router.servicer.release.set()
        for cm, lines in held:
            rest = [line async for line in lines if line]
            assert rest[-1] == "data: [DONE]"
            await cm.__aexit__(None, None, None)
        # The finished streams gave their slots back.
        assert await _rounds(http, 1, 2) == [200, 200]


async def test_a_slow_backend_does_not_shrink_the_limit(serve: Any, router: Any, tmp_path: Any) -> None:
    # 0.5 s per answer, far over the 150 ms target, but inside the router's own
    # time: the backend's, not queueing. Every request keeps the limit in use.
    router.servicer.backend_s = 0.5
    base = await _gateway(serve, router, tmp_path, maximum=4)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        codes = await _rounds(http, 4, 4)
    assert codes == [200] * 16


async def test_queueing_outside_the_router_shrinks_the_limit_and_sheds_the_excess(
    serve: Any, router: Any, tmp_path: Any
) -> None:
    # The same 0.5 s, but spent before the router's clock starts: queueing.
    router.servicer.unaccounted_s = 0.5
    base = await _gateway(serve, router, tmp_path, maximum=4)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        first = await _rounds(http, 2, 4)
        later = await _rounds(http, 3, 4)
        assert first[:4] == [200] * 4  # nothing measured yet
        assert 503 in later, later
        assert 200 in later, later  # cut, not shut: the floor still admits
        router.servicer.unaccounted_s = 0.0  # the queue drains: requests meet the target again
        for _ in range(20):  # traffic at the limit raises it one per request that meets the target
            if await _rounds(http, 1, 4) == [200] * 4:
                break
        else:
            pytest.fail("the limit did not recover")


def test_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match="gateway_adaptive_limit_min must not exceed"):
        GatewaySettings(gateway_adaptive_limit_min=10, gateway_adaptive_limit_max=5)
