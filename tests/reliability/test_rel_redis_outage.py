"""Redis down (and Redis stalled) under load, through the TCP proxy in front
of the shared Redis (never stopped): the router's callers and the cache's own
callers see no error — answers come from the backend, the cache says it is
degraded — and the cache recovers by itself once Redis is back (hits again,
without a restart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import grpc
import pytest

from rel_support import (
    CLOSED,
    ROUTER,
    backend_table,
    clean_env,
    generate,
    percentiles,
    record,
    spawn,
    steady_load,
    stop_process,
    truncation_problem,
    wait_serving,
    write_backends,
)
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.tcp_proxy import TcpProxy, Toxic

PROMPTS = [f"cached question number {i}" for i in range(25)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    fb = await FakeBackend(tokens=10).start()
    yield fb
    await fb.stop()


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    parsed = urlparse(redis_url)
    async with TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379) as proxy:
        yield proxy


async def _cache_ok(stub: cache_pb2_grpc.CacheServiceStub, key: str) -> tuple[bool, bool]:
    """(stored and found again, degraded) for a fresh key: does Redis work end to end?"""
    store = await stub.Store(cache_pb2.StoreRequest(key=key, value=b"v"), timeout=2)
    found = await stub.Lookup(cache_pb2.LookupRequest(key=key), timeout=2)
    return store.stored and found.found and not found.degraded, store.degraded or found.degraded


@pytest.mark.parametrize("outage", ["down", "stall"])
@pytest.mark.parametrize("form", ["short", pytest.param("long", marks=[pytest.mark.slow, pytest.mark.timeout(600)])])
async def test_redis_outage_under_load_no_caller_error_and_cache_recovers(
    tmp_path, fake, redis_proxy, redis_prefix, outage, form
) -> None:
    before_s, outage_s, after_s = (2.0, 4.0, 4.0) if form == "short" else (10.0, 30.0, 20.0)
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        SWITCHBOARD_REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}/0", SWITCHBOARD_CACHE_REDIS_PREFIX=redis_prefix,
        SWITCHBOARD_CACHE_REDIS_TIMEOUT_S="0.25", SWITCHBOARD_CACHE_BREAKER_OPEN_S="1",
    )
    cache = await spawn("cache", env, tmp_path / "logs")
    config = write_backends(tmp_path / "backends.toml", [backend_table("only", fake.url)])
    router = await spawn("router", clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_CONFIG=str(config), SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", SWITCHBOARD_CACHE_ADDRESS=cache.address,
        SWITCHBOARD_LEARNING_ADDRESS=CLOSED, SWITCHBOARD_MONITOR_ADDRESS=CLOSED), tmp_path / "logs")
    try:
        await wait_serving(cache)
        await wait_serving(router, ROUTER)
        async with grpc.aio.insecure_channel(cache.address) as cache_channel, \
                grpc.aio.insecure_channel(router.address) as router_channel:
            await _under_load(cache_pb2_grpc.CacheServiceStub(cache_channel),
                              router_pb2_grpc.RouterServiceStub(router_channel), fake, redis_proxy,
                              outage=outage, form=form, before_s=before_s, outage_s=outage_s, after_s=after_s)
    finally:
        for proc in (router, cache):
            await stop_process(proc.process)


async def _under_load(cache_stub: cache_pb2_grpc.CacheServiceStub, stub: router_pb2_grpc.RouterServiceStub,
                      fake: FakeBackend, redis_proxy: TcpProxy, *, outage: str, form: str,
                      before_s: float, outage_s: float, after_s: float) -> None:
    phase = {"now": "before"}
    hits = {"before": 0, "outage": 0, "after": 0}
    cache_errors: list[str] = []
    degraded_cache_answers = 0

    async def one(i: int) -> str | None:
        nonlocal degraded_cache_answers
        prompt = PROMPTS[i % len(PROMPTS)]
        out = await generate(stub, timeout=10, prompt=prompt, cache_policy=router_pb2.CACHE_POLICY_PREFER)
        problem = truncation_problem(out, fake.answer_for([("user", prompt)]))
        if problem is None and (out.terminal != "done" or out.code != grpc.StatusCode.OK):
            problem = f"not answered: {out.terminal} {out.code.name}"
        if problem is None and out.of("start")[0].cache_hit:
            hits[phase["now"]] += 1
        if i % 5 == 0:  # the cache's own callers, directly
            try:
                reply = await cache_stub.Lookup(cache_pb2.LookupRequest(key=f"k{i % 7}"), timeout=5)
                degraded_cache_answers += reply.degraded
            except grpc.aio.AioRpcError as exc:
                cache_errors.append(f"{exc.code().name}: {exc.details()}")
        return problem

    async def faults() -> float:
        await asyncio.sleep(before_s)
        phase["now"] = "outage"
        if outage == "down":
            await redis_proxy.down()
        else:
            redis_proxy.add_toxic(Toxic.timeout(0, name="stall"))
        await asyncio.sleep(outage_s)
        if outage == "down":
            await redis_proxy.up()
        else:
            redis_proxy.remove_toxic("stall")
        phase["now"] = "after"
        back = time.monotonic()
        # Recovered = a fresh key stored and found through Redis, no restart.
        n = 0
        while True:
            n += 1
            ok, _ = await _cache_ok(cache_stub, f"probe-{n}")
            if ok:
                return time.monotonic() - back
            if time.monotonic() - back > 20:
                raise AssertionError("the cache did not recover within 20 s of Redis coming back")
            await asyncio.sleep(0.05)

    fault_task = asyncio.create_task(faults())
    load = await steady_load(one, rate_per_s=25, duration_s=before_s + outage_s + after_s, concurrency=16)
    recovered_s = await fault_task
    stats = await cache_stub.Stats(cache_pb2.StatsRequest(), timeout=5)
    # The router's answers come from the cache again: ask twice, the second is a hit.
    fresh = "a question asked after Redis came back"
    await generate(stub, timeout=10, prompt=fresh, cache_policy=router_pb2.CACHE_POLICY_PREFER)
    hit_again = False
    for _ in range(50):
        again = await generate(stub, timeout=10, prompt=fresh, cache_policy=router_pb2.CACHE_POLICY_PREFER)
        if again.terminal == "done" and again.of("start")[0].cache_hit:
            hit_again = True
            break
        await asyncio.sleep(0.1)  # the store happens in the background
    record(
        f"Redis {outage} under load ({form})",
        requests=load.total, caller_errors=len(load.errors), cache_rpc_errors=len(cache_errors),
        outage_s=outage_s, rate_per_s=round(load.rate, 1),
        cache_hits_before=hits["before"], cache_hits_during=hits["outage"], cache_hits_after=hits["after"],
        degraded_cache_answers=degraded_cache_answers, cache_recovered_s=round(recovered_s, 2),
        stats_degraded_after=stats.degraded, first_errors=(load.errors + cache_errors)[:3],
        **percentiles(load.latencies),
    )
    assert not load.errors, load.errors[:10]
    assert not cache_errors, cache_errors[:10]
    assert degraded_cache_answers > 0  # the outage was real and the cache said so
    assert hit_again  # hits came back by themselves, no restart
    assert not stats.degraded, stats.degraded_reason
