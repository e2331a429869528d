"""Group commit (services/learning/groupcommit.py) on SQLite and real
PostgreSQL: concurrent writers share a transaction, each is answered only
after it committed, with its own share of the result; a failure of the shared
transaction reaches every member, or only the one whose rows caused it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from services.learning.app import MIGRATIONS, VERSION_TABLE
from services.learning.groupcommit import GroupCommit
from services.learning.records import InteractionRecord, Outcome
from services.learning.store import Accepted, InsertResult, Store, is_unavailable
from switchboard.db import create_engine_for, run_migrations
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from switchboard.testing.tcp_proxy import TcpProxy
from learning_support import T0, count, interaction, settings, stub, via_proxy


def rec(iid: str, tenant: str = "default") -> InteractionRecord:
    return InteractionRecord(
        tenant=tenant, interaction_id=iid, backend="alpha", user_id="alice",
        outcome=Outcome.SUCCESS, occurred_at=T0, total_time_s=1.0,
    )


def batch(*ids: str, at=T0) -> list[Accepted]:
    return [Accepted(rec(i), at) for i in ids]


class GatedStore:
    """The real store, whose transactions the test can hold at the start."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.transactions: list[list[str]] = []  # interaction ids of each transaction

    async def insert_interactions(self, accepted: Sequence[Accepted]) -> InsertResult:
        self.transactions.append([a.record.interaction_id for a in accepted])
        self.started.set()
        await self.gate.wait()
        return await self._store.insert_interactions(accepted)

    def hold(self) -> None:
        self.gate.clear()
        self.started.clear()


async def _store(url: str, connect_to: str | None = None) -> AsyncIterator[Store]:
    run_migrations(url, MIGRATIONS, VERSION_TABLE)  # blocking: never through the in-process proxy
    engine = create_engine_for(connect_to or url)
    try:
        yield Store(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    async for s in _store(any_db_url):
        yield s


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_callers_during_a_commit_share_the_next_one_and_are_answered_after_it(
    store: Store, any_db_url: str
) -> None:
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=10)
    gated.hold()
    first = asyncio.create_task(commits.insert_interactions(batch("a1", "a2")))
    await gated.started.wait()

    async def caller(*ids: str) -> tuple[InsertResult, int]:
        result = await commits.insert_interactions(batch(*ids))
        # Another connection sees the caller's rows the moment it is answered.
        return result, count(any_db_url, where=f"interaction_id IN ({', '.join(repr(i) for i in ids)})")

    others = [asyncio.create_task(caller(f"b{n}", f"c{n}")) for n in range(3)]
    await settle()
    assert not any(t.done() for t in [first, *others])  # nobody answered before its commit
    assert gated.transactions == [["a1", "a2"]]
    gated.gate.set()

    assert (await first).inserted == {("default", "a1"), ("default", "a2")}
    for n, task in enumerate(others):
        result, visible = await task
        assert result.inserted == {("default", f"b{n}"), ("default", f"c{n}")}
        assert result.existing == {}
        assert visible == 2
    # The three that arrived meanwhile formed one transaction.
    assert gated.transactions == [["a1", "a2"], ["b0", "c0", "b1", "c1", "b2", "c2"]]
    assert count(any_db_url) == 8


async def test_a_key_two_members_send_counts_for_the_first_only(store: Store, any_db_url: str) -> None:
    await store.insert_interactions(batch("old"))
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=10)
    gated.hold()
    blocker = asyncio.create_task(commits.insert_interactions(batch("x")))
    await gated.started.wait()
    later = T0 + timedelta(minutes=5)
    one = asyncio.create_task(commits.insert_interactions(batch("dup", "dup", "mine-1", at=T0 + timedelta(minutes=1))))
    two = asyncio.create_task(commits.insert_interactions(batch("dup", "old", "mine-2", at=later)))
    await settle()
    gated.gate.set()
    await blocker
    first, second = await one, await two
    assert len(gated.transactions) == 2  # one and two shared the second transaction
    assert first.inserted == {("default", "dup"), ("default", "mine-1")}
    assert first.existing == {}
    assert second.inserted == {("default", "mine-2")}
    # Already there: stored when the first member sent it, or long before.
    assert second.existing == {("default", "dup"): T0 + timedelta(minutes=1), ("default", "old"): T0}
    assert count(any_db_url, where="interaction_id = 'dup'") == 1
    assert count(any_db_url) == 5


async def test_rows_the_database_refuses_fail_only_their_caller(database_url: str) -> None:
    async for store in _store(database_url):
        gated = GatedStore(store)
        commits = GroupCommit(gated.insert_interactions, timeout_s=10)
        gated.hold()
        blocker = asyncio.create_task(commits.insert_interactions(batch("x")))
        await gated.started.wait()
        good = asyncio.create_task(commits.insert_interactions(batch("good-1")))
        bad = asyncio.create_task(commits.insert_interactions(batch("ok-but-with", "z" * 200)))  # > 128 chars
        also_good = asyncio.create_task(commits.insert_interactions(batch("good-2")))
        await settle()
        gated.gate.set()
        await blocker
        assert (await good).inserted == {("default", "good-1")}
        assert (await also_good).inserted == {("default", "good-2")}
        with pytest.raises(DBAPIError) as refused:
            await bad
        assert not is_unavailable(refused.value)
        # The shared attempt failed as a whole, then each member was tried alone.
        assert gated.transactions[1:] == [
            ["good-1", "ok-but-with", "z" * 200, "good-2"], ["good-1"], ["ok-but-with", "z" * 200], ["good-2"],
        ]
        assert count(database_url, where="interaction_id LIKE 'good-%' OR interaction_id = 'ok-but-with'") == 2


async def test_an_outage_fails_every_member_of_the_group(database_url: str, pg_proxy: TcpProxy) -> None:
    async for store in _store(database_url, via_proxy(database_url, pg_proxy.port)):
        gated = GatedStore(store)
        commits = GroupCommit(gated.insert_interactions, timeout_s=5)
        await commits.insert_interactions(batch("warm"))  # a pooled connection through the proxy
        gated.hold()
        blocker = asyncio.create_task(commits.insert_interactions(batch("x")))
        await gated.started.wait()
        members = [asyncio.create_task(commits.insert_interactions(batch(f"m{n}"))) for n in range(3)]
        await settle()
        await pg_proxy.down()
        gated.gate.set()
        for task in [blocker, *members]:
            with pytest.raises(Exception) as failed:  # which one depends on where the cut lands
                await task
            assert is_unavailable(failed.value)
        assert gated.transactions == [["warm"], ["x"], ["m0", "m1", "m2"]]  # not retried one by one: it is an outage
        await pg_proxy.up()
        assert count(database_url) == 1  # only "warm"


async def test_a_caller_that_gives_up_while_queued_is_not_written(store: Store, any_db_url: str) -> None:
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=10)
    gated.hold()
    blocker = asyncio.create_task(commits.insert_interactions(batch("x")))
    await gated.started.wait()
    quitter = asyncio.create_task(commits.insert_interactions(batch("quit")))
    stayer = asyncio.create_task(commits.insert_interactions(batch("stay")))
    await settle()
    quitter.cancel()
    await settle()
    gated.gate.set()
    await blocker
    assert (await stayer).inserted == {("default", "stay")}
    assert quitter.cancelled()
    assert gated.transactions == [["x"], ["stay"]]
    assert count(any_db_url, where="interaction_id = 'quit'") == 0


async def test_a_caller_that_gives_up_mid_commit_does_not_stop_the_others(store: Store, any_db_url: str) -> None:
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=10)
    gated.hold()
    quitter = asyncio.create_task(commits.insert_interactions(batch("q1")))
    await gated.started.wait()
    quitter.cancel()
    await settle()
    stayer = asyncio.create_task(commits.insert_interactions(batch("s1")))
    gated.gate.set()
    assert (await stayer).inserted == {("default", "s1")}
    assert quitter.cancelled()
    assert count(any_db_url) == 2  # its transaction had started: it committed anyway


async def test_after_commit_work_runs_even_for_a_caller_that_gave_up(store: Store, any_db_url: str) -> None:
    # The model must count what was committed, whoever is still waiting for it.
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=10)
    seen: list[tuple[list[str], set[tuple[str, str]]]] = []

    def committed(accepted: Sequence[Accepted], result: InsertResult) -> None:
        seen.append(([a.record.interaction_id for a in accepted], result.inserted))

    gated.hold()
    quitter = asyncio.create_task(commits.insert_interactions(batch("q1", "q2"), on_commit=committed))
    await gated.started.wait()
    quitter.cancel()
    await settle()
    gated.gate.set()
    stayer = await commits.insert_interactions(batch("s1"), on_commit=committed)
    assert stayer.inserted == {("default", "s1")}
    assert seen == [(["q1", "q2"], {("default", "q1"), ("default", "q2")}), (["s1"], {("default", "s1")})]


async def test_time_runs_out_only_while_queued_not_during_the_transaction(store: Store, any_db_url: str) -> None:
    gated = GatedStore(store)
    commits = GroupCommit(gated.insert_interactions, timeout_s=0.3)
    gated.hold()
    first = asyncio.create_task(commits.insert_interactions(batch("slow")))
    await gated.started.wait()
    # Queued behind a transaction that outlasts the timeout: withdrawn, not written.
    with pytest.raises(TimeoutError):
        await commits.insert_interactions(batch("queued"))
    with pytest.raises(TimeoutError):  # the held transaction hits its own bound
        await first
    gated.gate.set()
    assert await commits.insert_interactions(batch("later")) == InsertResult(inserted={("default", "later")})
    assert gated.transactions == [["slow"], ["later"]]
    assert count(any_db_url, where="interaction_id = 'queued'") == 0


async def test_concurrent_unary_calls_with_repeats_are_stored_and_counted_once(
    serve, any_db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    running = await serve("learning", settings=settings(tmp_path / "data", any_db_url), clock=clock)
    svc = stub(running)
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("warm-up")))
    ids = [f"u-{n % 30}" for n in range(60)]  # each sent twice, concurrently
    replies = await asyncio.gather(
        *(svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction(i))) for i in ids)
    )
    fresh = [r.ack.interaction_id for r in replies if not r.ack.duplicate]
    assert sorted(fresh) == sorted(set(ids))  # each id new exactly once
    assert all(r.ack.durability == pb.DURABILITY_STORED for r in replies)
    for r in replies:  # both copies report the one acceptance time
        twin = next(x for x in replies if x.ack.interaction_id == r.ack.interaction_id and x is not r)
        assert twin.ack.stored_at == r.ack.stored_at
    assert count(any_db_url) == 31
    model = running.app.keeper.model
    assert model.topic_counts("code", "alpha")[0] == pytest.approx(31)  # counted once each


async def test_a_fast_stream_is_written_in_order_with_repeats_counted_once(
    serve, any_db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    running = await serve("learning", settings=settings(tmp_path / "data", any_db_url), clock=clock)
    svc = stub(running)
    ids = [f"s-{n % 200}" for n in range(300)] + ["s-last"]  # s-0 … s-99 come twice, in later batches

    async def messages():
        for i in ids:
            yield pb.StreamInteractionsRequest(interaction=interaction(i))

    reply = await svc.StreamInteractions(messages())
    c = reply.counts
    assert (c.received, c.stored, c.duplicates, c.rejected) == (301, 201, 100, 0)
    assert reply.last_interaction_id == "s-last"
    assert count(any_db_url) == 201
    assert running.app.keeper.model.topic_counts("code", "alpha")[0] == pytest.approx(201)
