"""Outcomes waiting for learning when the router shuts down: sent within the
flush budget when learning is back, else counted in a warning (never silently
lost). Also: a sink that fails with a bug (not a transport error) keeps the
outcomes and says so with a traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from router_harness import MemoryLearning, eventually, fake_table, generate, serve_learning, start_router
from services.router.outcomes import Outcome, OutcomeQueue, OutcomeRecord
from switchboard.runtime.clock import ManualClock
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.tcp_proxy import TcpProxy

LOST = "outcomes not delivered to learning at shutdown"


def lost_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.lost_outcomes for r in caplog.records if r.getMessage() == LOST]  # type: ignore[attr-defined]


async def test_shutdown_flushes_outcomes_queued_while_learning_was_down(serve, mesh_settings, tmp_path, caplog) -> None:
    memory = MemoryLearning()
    learning = await serve_learning(serve, memory)
    async with TcpProxy("127.0.0.1", learning.port) as proxy, FakeBackend(tokens=3) as fake:
        await proxy.down()
        # A resend pause far beyond the test: only the shutdown flush can deliver.
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", fake)],
                                    learning=proxy.address, router_outcome_retry_initial_s=600,
                                    router_outcome_retry_max_s=600, router_outcome_flush_timeout_s=5)
        for n in range(3):
            await generate(router.stub, prompt=f"question {n}", request_id=f"s{n}")
        queue = router.app.outcomes
        await eventually(lambda: queue.figures().failures >= 1 and queue.figures().pending == 3, what="queued")
        await proxy.up()
        caplog.set_level(logging.INFO)
        await router.running.stop()
        assert sorted(memory.interactions) == ["s0:1", "s1:1", "s2:1"]
        assert lost_counts(caplog) == []


async def test_shutdown_with_learning_still_down_logs_how_many_were_lost(serve, mesh_settings, tmp_path, caplog) -> None:
    async with FakeBackend(tokens=3) as fake:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", fake)],
                                    router_outcome_flush_timeout_s=1)  # learning at a closed port
        for n in range(4):
            await generate(router.stub, prompt=f"question {n}")
        await eventually(lambda: router.app.outcomes.figures().pending == 4, what="queued")
        loop = asyncio.get_running_loop()
        began = loop.time()
        await router.running.stop()
        assert loop.time() - began < 5  # bounded by the flush budget, not a hang
        assert lost_counts(caplog) == [4]


class Buggy:
    """A sink that fails with a programming error the first time only."""

    def __init__(self) -> None:
        self.calls = 0
        self.received: list[str] = []

    async def send(self, batch: Sequence[OutcomeRecord], *, patient: bool = False) -> None:
        self.calls += 1
        if self.calls == 1:
            raise TypeError("bad field")
        self.received.extend(r.interaction_id for r in batch)


async def test_a_sink_bug_is_logged_with_its_traceback_and_nothing_is_lost(caplog) -> None:
    sink, clock = Buggy(), ManualClock()
    queue = OutcomeQueue(sink, clock, retry_initial_s=1)
    queue.start()
    queue.submit(OutcomeRecord(interaction_id="b:1", request_id="b", user_id="u", topic="general", backend="x",
                               model="m", outcome=Outcome.SUCCESS, attempt=1, total_time_s=0.1,
                               occurred_at=datetime(2026, 1, 1, tzinfo=UTC)))
    await eventually(lambda: sink.calls == 1, what="the first send")
    await asyncio.sleep(0)
    [bug] = [r for r in caplog.records if r.getMessage() == "sending outcomes failed unexpectedly"]
    assert bug.exc_info is not None and "learning unreachable" not in caplog.text
    clock.advance(1)
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.received == ["b:1"] and queue.figures().failures == 1
    await queue.stop(0)
