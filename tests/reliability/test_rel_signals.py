"""Signals to real service processes.

SIGTERM during streams: the router (a subprocess, a slow fake backend behind
it) turns NOT_SERVING at once, refuses new calls with UNAVAILABLE while health
keeps answering, lets every in-flight stream finish whole within the grace
period, flushes every outcome to learning, and exits 0: nothing lost.

SIGSTOP: a frozen router is never a hang for callers with deadlines (they get
DEADLINE_EXCEEDED or UNAVAILABLE by their deadline), the monitor detects it,
and it serves again after SIGCONT; frozen peers (cache and learning, subprocesses) never hold up the
router's callers: answers arrive within the callers' deadlines, and the
outcomes held back while learning was frozen are all stored afterwards."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psycopg
import pytest
from sqlalchemy.engine import make_url

from rel_support import (
    CLOSED,
    ROUTER,
    backend_table,
    clean_env,
    generate,
    health_status,
    percentiles,
    record,
    spawn,
    stop_process,
    truncation_problem,
    wait_serving,
    write_backends,
)
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend


def stored_interactions(database_url: str) -> tuple[int, int]:
    """(rows, distinct interaction ids) in learning's table."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (tenant, interaction_id)) FROM learning_interactions").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def wait_stored(database_url: str, expected: int, timeout: float) -> tuple[int, int]:
    end = time.monotonic() + timeout
    while True:
        rows = await asyncio.to_thread(stored_interactions, database_url)
        if rows[0] >= expected or time.monotonic() > end:
            return rows
        await asyncio.sleep(0.2)


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeBackend]:
    fb = await FakeBackend(tokens=40, token_delay_s=0.05).start()  # about 2 s an answer
    yield fb
    await fb.stop()


def router_env(tmp_path: Path, fake: FakeBackend, *, learning: str = CLOSED, cache: str = CLOSED,
               grace_s: float = 10.0, **extra: str) -> dict[str, str]:
    config = write_backends(tmp_path / "backends.toml", [backend_table("slow", fake.url, first_token_s=5, between_tokens_s=5)])
    return clean_env(
        SWITCHBOARD_CONFIG=str(config), SWITCHBOARD_DATA_DIR=str(tmp_path / "data"),
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", SWITCHBOARD_LEARNING_ADDRESS=learning,
        SWITCHBOARD_CACHE_ADDRESS=cache, SWITCHBOARD_MONITOR_ADDRESS=CLOSED,
        SWITCHBOARD_SHUTDOWN_GRACE_S=str(grace_s), **extra,
    )


@pytest.mark.parametrize("streams", [10, pytest.param(60, marks=[pytest.mark.slow, pytest.mark.timeout(600)])])
async def test_sigterm_during_streams_drains_everything_and_exits_0(
    serve, mesh_settings, tmp_path, slow_fake, database_url, streams
) -> None:
    learning = await serve("learning", settings=mesh_settings.model_copy(update={"database_url": database_url}))
    grace_s = 10.0
    router = await spawn("router", router_env(tmp_path, slow_fake, learning=learning.address, grace_s=grace_s),
                         tmp_path / "logs")
    try:
        await wait_serving(router, ROUTER)
        async with grpc.aio.insecure_channel(router.address) as channel:
            stub = router_pb2_grpc.RouterServiceStub(channel)
            prompts = [f"long question {i}" for i in range(streams)]
            first_tokens = [asyncio.Event() for _ in prompts]

            async def stream(i: int) -> tuple[str, object]:
                from rel_support import Streamed  # noqa: PLC0415

                out = Streamed()
                call = stub.Generate(router_pb2.GenerateRequest(prompt=prompts[i], request_id=f"drain-{i}"), timeout=60)
                try:
                    async for event in call:
                        out.events.append(event)
                        if event.WhichOneof("event") == "token":
                            first_tokens[i].set()
                except grpc.aio.AioRpcError as exc:
                    out.code, out.details = exc.code(), exc.details() or ""
                first_tokens[i].set()
                return prompts[i], out

            tasks = [asyncio.create_task(stream(i)) for i in range(streams)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in first_tokens)), 30)

            router.process.send_signal(signal.SIGTERM)
            term_at = time.monotonic()
            not_serving_s = None
            while time.monotonic() - term_at < 5:
                if await health_status(router.address, ROUTER) == "NOT_SERVING":
                    not_serving_s = time.monotonic() - term_at
                    break
                await asyncio.sleep(0.02)
            assert not_serving_s is not None, "health never said NOT_SERVING during the drain"
            refused = await generate(stub, timeout=5, prompt="too late")
            assert refused.code == grpc.StatusCode.UNAVAILABLE and not refused.events, (refused.code, refused.kinds)

            results = await asyncio.gather(*tasks)
            code = await asyncio.wait_for(router.process.wait(), grace_s + 10)
            exit_s = time.monotonic() - term_at
    finally:
        await stop_process(router.process)
    problems = [p for prompt, out in results
                if (p := truncation_problem(out, slow_fake.answer_for([("user", prompt)]))) is not None]
    done = sum(out.terminal == "done" and out.code == grpc.StatusCode.OK for _, out in results)
    rows, distinct = await wait_stored(database_url, streams, timeout=10)
    record(f"SIGTERM during {streams} streams", streams=streams, finished_whole=done, problems=len(problems),
           not_serving_after_s=round(not_serving_s, 3), exit_code=code, exit_after_s=round(exit_s, 2),
           grace_s=grace_s, outcomes_stored=rows, duplicates=rows - distinct)
    assert not problems, problems[:5]
    assert done == streams
    assert code == 0, router.text()[-3000:]
    assert exit_s < grace_s + 2
    assert (rows, distinct) == (streams, streams), "every stream's outcome stored exactly once"
    assert "Traceback" not in router.text(), router.text()[-3000:]


async def _router_status_at_monitor(stub: monitor_pb2_grpc.MonitorServiceStub) -> int:
    reply = await stub.GetStatus(monitor_pb2.GetStatusRequest(kinds=[monitor_pb2.TARGET_KIND_SERVICE]), timeout=2)
    return next((t.status for t in reply.targets if t.target.endswith("router")), monitor_pb2.TARGET_STATUS_UNSPECIFIED)


async def _until_monitor_says(stub: monitor_pb2_grpc.MonitorServiceStub, wanted: set[int], timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await _router_status_at_monitor(stub) in wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def test_sigstopped_router_never_hangs_callers_with_deadlines(tmp_path, slow_fake) -> None:
    """A frozen router: callers with deadlines get DEADLINE_EXCEEDED/UNAVAILABLE
    by their deadline; the monitor (its own process) detects it, and sees it
    healthy again after SIGCONT."""
    slow_fake.token_delay_s = 0.0
    env = router_env(tmp_path, slow_fake)
    router = await spawn("router", env, tmp_path / "logs")
    monitor = await spawn("monitor", {**env, "SWITCHBOARD_MONITOR_SERVICES": "router",
                                      "SWITCHBOARD_ROUTER_ADDRESS": router.address}, tmp_path / "logs")
    try:
        await wait_serving(router, ROUTER)
        await wait_serving(monitor)
        async with grpc.aio.insecure_channel(router.address) as channel, \
                grpc.aio.insecure_channel(monitor.address) as monitor_channel:
            watcher = monitor_pb2_grpc.MonitorServiceStub(monitor_channel)
            healthy = {monitor_pb2.TARGET_STATUS_HEALTHY}
            assert await _until_monitor_says(watcher, healthy, 15) is not None, monitor.text()[-2000:]
            stub = router_pb2_grpc.RouterServiceStub(channel)
            assert (await generate(stub, prompt="warm")).terminal == "done"
            router.process.send_signal(signal.SIGSTOP)
            stopped_at = time.monotonic()
            deadline_s = 1.0

            async def unary() -> tuple[str, float]:
                t0 = time.monotonic()
                try:
                    await stub.Complete(router_pb2.CompleteRequest(prompt="are you there"), timeout=deadline_s)
                    return "OK", time.monotonic() - t0
                except grpc.aio.AioRpcError as exc:
                    return exc.code().name, time.monotonic() - t0

            async def streamed() -> tuple[str, float]:
                out = await generate(stub, timeout=deadline_s, prompt="are you there")
                return out.code.name, out.elapsed_s

            async def fresh_connection() -> tuple[str, float]:
                t0 = time.monotonic()
                async with grpc.aio.insecure_channel(router.address) as other:
                    try:
                        await router_pb2_grpc.RouterServiceStub(other).ListBackends(
                            router_pb2.ListBackendsRequest(), timeout=deadline_s)
                        return "OK", time.monotonic() - t0
                    except grpc.aio.AioRpcError as exc:
                        return exc.code().name, time.monotonic() - t0

            calls = [unary() for _ in range(8)] + [streamed() for _ in range(8)] + [fresh_connection() for _ in range(4)]
            outcomes = await asyncio.wait_for(asyncio.gather(*calls), deadline_s + 10)
            health = await health_status(router.address, ROUTER, timeout=deadline_s)
            down = {monitor_pb2.TARGET_STATUS_UNREACHABLE, monitor_pb2.TARGET_STATUS_UNHEALTHY}
            remaining = 15 - (time.monotonic() - stopped_at)
            detected = await _until_monitor_says(watcher, down, remaining)
            detected_s = None if detected is None else time.monotonic() - stopped_at
            router.process.send_signal(signal.SIGCONT)
            resumed = time.monotonic()
            after = await generate(stub, timeout=10, prompt="back again")
            resumed_s = time.monotonic() - resumed
            healthy_again = await _until_monitor_says(watcher, healthy, 15)
            healthy_again_s = None if healthy_again is None else time.monotonic() - resumed  # from SIGCONT
    finally:
        await stop_process(router.process)
        await stop_process(monitor.process)
    codes = sorted({code for code, _ in outcomes})
    worst = max(elapsed for _, elapsed in outcomes)
    record("SIGSTOP router, callers with 1 s deadlines", callers=len(outcomes), codes=codes,
           worst_return_s=round(worst, 3), health_check=health, answers_after_sigcont=after.terminal,
           first_answer_after_sigcont_s=round(resumed_s, 3),
           monitor_detected_after_s=None if detected_s is None else round(detected_s, 2),
           monitor_healthy_again_after_s=None if healthy_again_s is None else round(healthy_again_s, 2))
    assert set(codes) <= {"DEADLINE_EXCEEDED", "UNAVAILABLE"}, outcomes
    assert worst < deadline_s + 1.0, outcomes  # by the deadline, give or take scheduling on a busy machine
    assert health == "DEADLINE_EXCEEDED"
    assert after.terminal == "done" and after.code == grpc.StatusCode.OK
    assert detected_s is not None, "the monitor never reported the frozen router"
    assert healthy_again_s is not None, "the monitor never saw the router healthy again"


async def test_sigstopped_peers_never_hold_up_the_routers_callers(tmp_path, slow_fake, database_url) -> None:
    """Cache and learning frozen while the router serves (each its own process):
    every answer still arrives whole within the caller's deadline; after
    SIGCONT the outcomes queued meanwhile reach learning, each stored once."""
    slow_fake.token_delay_s = 0.0
    env = clean_env(SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_DATABASE_URL=database_url,
                    SWITCHBOARD_SHUTDOWN_GRACE_S="3")
    cache = await spawn("cache", env, tmp_path / "logs")
    learning = await spawn("learning", env, tmp_path / "logs")
    router = None
    try:
        await wait_serving(cache)
        await wait_serving(learning)
        router = await spawn("router", router_env(
            tmp_path, slow_fake, learning=learning.address, cache=cache.address, grace_s=3,
            SWITCHBOARD_DATABASE_URL=database_url, SWITCHBOARD_ROUTER_OUTCOME_RETRY_MAX_S="1",
            SWITCHBOARD_ROUTER_OUTCOME_SEND_TIMEOUT_S="1"), tmp_path / "logs")
        await wait_serving(router, ROUTER)
        deadline_s = 2.0
        n = 0
        async with grpc.aio.insecure_channel(router.address) as channel:
            stub = router_pb2_grpc.RouterServiceStub(channel)

            async def burst(count: int) -> list[tuple[str, object]]:
                nonlocal n
                prompts = [f"frozen peers {n + i}" for i in range(count)]
                n += count
                outs = await asyncio.gather(*(
                    generate(stub, timeout=deadline_s, prompt=p, request_id=f"fp-{p.split()[-1]}",
                             cache_policy=router_pb2.CACHE_POLICY_PREFER) for p in prompts))
                return list(zip(prompts, outs, strict=True))

            before = await burst(10)
            for peer in (cache, learning):
                peer.process.send_signal(signal.SIGSTOP)
            frozen = []
            for _ in range(5):
                frozen += await burst(10)
                await asyncio.sleep(0.2)
            for peer in (cache, learning):
                peer.process.send_signal(signal.SIGCONT)
            after = await burst(10)
        everything = before + frozen + after
        rows, distinct = await wait_stored(database_url, len(everything), timeout=30)
    finally:
        for proc in (router, cache, learning):
            if proc is not None:
                await stop_process(proc.process)
    problems = [p for prompt, out in everything
                if (p := truncation_problem(out, slow_fake.answer_for([("user", prompt)]))) is not None
                or out.terminal != "done"]
    frozen_latencies = [out.elapsed_s for _, out in frozen]
    record("SIGSTOP cache + learning under a serving router", requests=len(everything),
           caller_errors=len(problems), deadline_s=deadline_s, outcomes_stored=rows, duplicates=rows - distinct,
           **{f"frozen_{k}": v for k, v in percentiles(frozen_latencies).items()},
           **{f"normal_{k}": v for k, v in percentiles([o.elapsed_s for _, o in before + after]).items()})
    assert not problems, problems[:5]
    assert max(frozen_latencies) < deadline_s
    assert (rows, distinct) == (len(everything), len(everything))
