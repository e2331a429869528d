"""kill -9 the learning service under load, and PostgreSQL unreachable (down,
or stalled) behind the TCP proxy, while the router keeps answering: no caller
sees an error, and afterwards every interaction is stored exactly once
(counted in the database).

Two kinds of caller: the router's callers (the router queues outcomes and
resends them), and a direct writer of RecordInteraction that retries with the
same interaction id until acknowledged — what it has been told is accepted
(STORED or SPOOLED) must survive the crash and the outage, once."""

from __future__ import annotations

import asyncio
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
    Proc,
    backend_table,
    clean_env,
    free_port,
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
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.learning.v1 import learning_pb2_grpc
from switchboard.router.v1 import router_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.tcp_proxy import TcpProxy, Toxic


def count_rows(database_url: str, prefix: str) -> tuple[int, int]:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (tenant, interaction_id)) FROM learning_interactions "
            "WHERE interaction_id LIKE %s", (prefix + "%",)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    fb = await FakeBackend(tokens=8).start()
    yield fb
    await fb.stop()


@pytest.fixture
async def pg_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    parsed = make_url(database_url)
    async with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        yield proxy


@pytest.mark.parametrize(
    ("outage", "form"),
    [pytest.param("down", "short", marks=pytest.mark.timeout(300)),
     pytest.param("stall", "short", marks=pytest.mark.timeout(300)),
     pytest.param("down", "long", marks=[pytest.mark.slow, pytest.mark.timeout(600)])],
)
async def test_learning_killed_and_postgres_unreachable_under_load_nothing_lost_nothing_doubled(
    tmp_path: Path, fake, database_url, pg_proxy, outage, form
) -> None:
    outage_s = 4.0 if form == "short" else 30.0
    proxied = make_url(database_url).set(host="127.0.0.1", port=pg_proxy.port).render_as_string(hide_password=False)
    learning_port = free_port()
    learning_env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_DATABASE_URL=proxied,
        SWITCHBOARD_SHUTDOWN_GRACE_S="3", SWITCHBOARD_LEARNING_DB_TIMEOUT_S="1",
        SWITCHBOARD_LEARNING_STARTUP_DB_TIMEOUT_S="3", SWITCHBOARD_LEARNING_REPLAY_BACKOFF_MAX_S="2",
    )
    logs = tmp_path / "logs"
    learning: Proc = await spawn("learning", learning_env, logs, port=learning_port)
    config = write_backends(tmp_path / "backends.toml", [backend_table("only", fake.url)])
    router = await spawn("router", clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_CONFIG=str(config),
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", SWITCHBOARD_LEARNING_ADDRESS=learning.address,
        SWITCHBOARD_CACHE_ADDRESS=CLOSED, SWITCHBOARD_MONITOR_ADDRESS=CLOSED, SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        SWITCHBOARD_ROUTER_OUTCOME_RETRY_MAX_S="1", SWITCHBOARD_ROUTER_OUTCOME_SEND_TIMEOUT_S="2",
    ), logs)
    timeline: list[tuple[float, str]] = []
    direct_acks: dict[str, int] = {}
    direct_retries = 0
    spooled_acks = 0
    restarts_s: list[float] = []
    try:
        await wait_serving(learning)
        await wait_serving(router, ROUTER)
        begin = time.monotonic()

        def mark(what: str) -> None:
            timeline.append((round(time.monotonic() - begin, 2), what))

        async def restart_learning() -> None:
            nonlocal learning
            learning.process.kill()  # kill -9
            await learning.process.wait()
            mark("learning killed (-9)")
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            learning = await spawn("learning", learning_env, logs, port=learning_port)
            await wait_serving(learning)
            restarts_s.append(time.monotonic() - t0)
            mark("learning SERVING again")

        async def faults() -> None:
            await asyncio.sleep(2.0)
            await restart_learning()
            await asyncio.sleep(1.5)
            if outage == "down":
                await pg_proxy.down()
            else:
                pg_proxy.add_toxic(Toxic.timeout(0, name="stall"))
            mark(f"PostgreSQL {outage}")
            await asyncio.sleep(min(1.0, outage_s / 3))
            await restart_learning()  # a second crash, while the database is unreachable
            remaining = outage_s - (time.monotonic() - begin - timeline[-3][0])
            await asyncio.sleep(max(0.0, remaining))
            if outage == "down":
                await pg_proxy.up()
            else:
                pg_proxy.remove_toxic("stall")
            mark("PostgreSQL back")

        async with grpc.aio.insecure_channel(router.address) as router_channel:
            stub = router_pb2_grpc.RouterServiceStub(router_channel)

            async def via_router(i: int) -> str | None:
                prompt = f"learning outage {i}"
                out = await generate(stub, timeout=10, prompt=prompt, request_id=f"R{i}")
                problem = truncation_problem(out, fake.answer_for([("user", prompt)]))
                if problem is None and out.terminal != "done":
                    problem = f"not answered: {out.terminal}"
                return problem

            async def direct(i: int) -> str | None:
                """A caller of learning itself: retries with the same id until acknowledged."""
                nonlocal direct_retries, spooled_acks
                interaction_id = f"D{i}"
                request = pb.RecordInteractionRequest(interaction=pb.Interaction(
                    interaction_id=interaction_id, backend="only", outcome=pb.OUTCOME_SUCCESS, user_id=f"u{i % 5}"))
                give_up = time.monotonic() + 60
                while True:
                    async with grpc.aio.insecure_channel(f"127.0.0.1:{learning_port}") as channel:
                        try:
                            reply = await learning_pb2_grpc.LearningServiceStub(channel).RecordInteraction(request, timeout=3)
                        except grpc.aio.AioRpcError as exc:
                            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                                    or time.monotonic() > give_up:
                                return f"{exc.code().name}: {exc.details()}"
                            direct_retries += 1
                            await asyncio.sleep(0.2)
                            continue
                    direct_acks[interaction_id] = reply.ack.durability
                    spooled_acks += reply.ack.durability == pb.DURABILITY_SPOOLED
                    return None

            duration = 2.0 + 3.0 + outage_s + 3.0
            fault_task = asyncio.create_task(faults())
            routed, written = await asyncio.gather(
                steady_load(via_router, rate_per_s=15, duration_s=duration, concurrency=16),
                steady_load(direct, rate_per_s=5, duration_s=duration, concurrency=16),
            )
            await fault_task
        mark("load over")
        expected_router = routed.ok
        expected_direct = len(direct_acks)
        # Everything reaches the database: router queue → learning → spool → Postgres.
        # (A connection opened while PostgreSQL was stalled lost its start-up packet and
        # waits for the server's authentication_timeout, 60 s by default: hence 150 s.)
        end = time.monotonic() + 150
        while True:
            r_rows = await asyncio.to_thread(count_rows, database_url, "R")
            d_rows = await asyncio.to_thread(count_rows, database_url, "D")
            if (r_rows[0] >= expected_router and d_rows[0] >= expected_direct) or time.monotonic() > end:
                break
            await asyncio.sleep(0.5)
        mark("all stored")
        back_at = next(t for t, what in timeline if what == "PostgreSQL back")
        stored_after_back_s = timeline[-1][0] - back_at
        # Resending what was acknowledged changes nothing (idempotency after recovery).
        async with grpc.aio.insecure_channel(learning.address) as channel:
            again = await learning_pb2_grpc.LearningServiceStub(channel).RecordInteraction(
                pb.RecordInteractionRequest(interaction=pb.Interaction(
                    interaction_id="D0", backend="only", outcome=pb.OUTCOME_SUCCESS, user_id="u0")), timeout=5)
        final_direct = await asyncio.to_thread(count_rows, database_url, "D")
    finally:
        await stop_process(router.process)
        await stop_process(learning.process)
    record(
        f"kill -9 learning x2 + PostgreSQL {outage} {outage_s:g} s under load ({form})",
        router_requests=routed.total, router_caller_errors=len(routed.errors),
        direct_writes=written.total, direct_caller_errors=len(written.errors), direct_retries=direct_retries,
        acked_spooled=spooled_acks, rows_router=r_rows[0], expected_router=expected_router,
        duplicates_router=r_rows[0] - r_rows[1], rows_direct=d_rows[0], expected_direct=expected_direct,
        duplicates_direct=d_rows[0] - d_rows[1], learning_restart_to_serving_s=[round(x, 2) for x in restarts_s],
        all_stored_after_db_back_s=round(stored_after_back_s, 1), timeline=timeline, **percentiles(routed.latencies),
    )
    assert not routed.errors, routed.errors[:5]
    assert not written.errors, written.errors[:5]
    assert spooled_acks > 0  # the outage was real: writes were accepted into the spool
    assert r_rows == (expected_router, expected_router), (r_rows, expected_router)
    assert d_rows == (expected_direct, expected_direct), (d_rows, expected_direct)
    assert again.ack.duplicate and final_direct == d_rows
