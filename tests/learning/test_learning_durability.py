"""No accepted write is lost, none is stored twice: the database goes away
(a TCP proxy in front of the real PostgreSQL is cut), writes are spooled and
replayed exactly once when it returns — also across a crash in the middle of
the replay — and the model rebuilt at start-up ranks as before the restart."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.learning.app import LearningApp
from services.learning.service import interaction_from_pb
from services.learning.settings import LearningSettings
from services.learning.spool import QUARANTINE
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import Runtime
from switchboard.testing.tcp_proxy import TcpProxy
from learning_support import ago, count, eventually, interaction, query, settings, stub, tsp, via_proxy


def ids(database_url: str) -> list[str]:
    return sorted(r[0] for r in query(database_url, "SELECT interaction_id FROM learning_interactions"))


@contextlib.asynccontextmanager
async def started(config: LearningSettings, clock: ManualClock, **kwargs: Any) -> AsyncIterator[LearningApp]:
    """A LearningApp without a gRPC server, stopped however the block ends."""
    app = LearningApp(Runtime(config, clock=clock), **kwargs)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_outage_spools_then_replays_exactly_once(
    serve, database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    running = await serve(
        "learning", settings=settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port)), clock=clock
    )
    svc = stub(running)
    stored = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("before")))
    assert stored.ack.durability == pb.DURABILITY_STORED

    await pg_proxy.down()
    acks = []
    for n in range(5):
        reply = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction(f"during-{n}")))
        acks.append(reply.ack)
    assert [a.durability for a in acks] == [pb.DURABILITY_SPOOLED] * 5
    assert not any(a.duplicate for a in acks)
    batch = await svc.RecordInteractions(
        pb.RecordInteractionsRequest(interactions=[interaction("during-0"), interaction("before"), interaction("batch-1")])
    )
    # A repeat of a spooled id is a duplicate; so is one stored before the outage.
    assert [(a.duplicate, a.durability) for a in batch.acks] == [
        (True, pb.DURABILITY_SPOOLED),
        (True, pb.DURABILITY_STORED),
        (False, pb.DURABILITY_SPOOLED),
    ]
    assert (batch.counts.spooled, batch.counts.duplicates) == (1, 2)
    # The model learned from the spooled writes at once.
    rec = await svc.Recommend(pb.RecommendRequest(user_id="alice", topic="code", candidate_backends=["alpha"], greedy=True))
    assert rec.ranked[0].evidence > 6
    # Deletions are never spooled.
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await svc.ForgetUser(pb.ForgetUserRequest(user_id="nobody"))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert count(database_url) == 1

    await pg_proxy.up()
    await eventually(lambda: count(database_url) == 7, clock)
    assert ids(database_url) == sorted(["before", "batch-1", *(f"during-{n}" for n in range(5))])
    app: LearningApp = running.app
    await eventually(lambda: len(app.spool) == 0 and app.state.up, clock)
    # Once replayed, a repeat is acknowledged as stored, with the original time.
    again = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("during-3")))
    assert again.ack.duplicate and again.ack.durability == pb.DURABILITY_STORED
    assert again.ack.stored_at == acks[3].stored_at
    # New writes go straight to the database again.
    after = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("after")))
    assert after.ack.durability == pb.DURABILITY_STORED
    assert count(database_url) == 8
    assert sorted(p.name for p in app.spool.directory.iterdir()) == ["current.jsonl", "lock"]


async def test_a_repeat_spooled_during_an_outage_is_not_counted_twice(
    serve, database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    """While the database is down, a repeat of an interaction accepted long ago
    (no longer in memory) or of a stored rating cannot be recognised: it is
    spooled and counted. Replay finds it in the database and the model drops
    it again."""
    config = settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port), learning_recent_ids=100)
    running = await serve("learning", settings=config, clock=clock)
    svc, app = stub(running), running.app
    at = clock.now() - timedelta(hours=1)
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(interactions=[interaction(f"i{n}", at=at) for n in range(150)])
    )
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="i149", thumb=pb.THUMB_UP, occurred_at=tsp(at)))

    def counted() -> float:
        return sum(app.keeper.model.topic_counts("code", "alpha"))

    before = counted()
    rebuilds = app.sync.rebuilds

    # A rating repeated: taken back out of the model when replay finds it stored.
    await pg_proxy.down()
    rating = await svc.RecordFeedback(
        pb.RecordFeedbackRequest(interaction_id="i149", thumb=pb.THUMB_UP, occurred_at=tsp(at))
    )
    assert rating.durability == pb.DURABILITY_SPOOLED and not rating.duplicate  # it cannot know
    assert counted() == pytest.approx(before + 1, rel=1e-4)
    await pg_proxy.up()
    await eventually(lambda: len(app.spool) == 0, clock)
    assert counted() == pytest.approx(before, rel=1e-4)
    assert app.sync.rebuilds == rebuilds

    # An interaction repeated (no longer in memory): the model is rebuilt.
    await pg_proxy.down()
    again = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("i0", at=at)))
    assert again.ack.durability == pb.DURABILITY_SPOOLED and not again.ack.duplicate
    assert counted() == pytest.approx(before + 1, rel=1e-4)
    await pg_proxy.up()
    await eventually(lambda: len(app.spool) == 0 and app.sync.rebuilds > rebuilds, clock)
    assert counted() == pytest.approx(before, rel=1e-4)
    assert count(database_url) == 150 and count(database_url, "learning_feedback") == 1


async def test_feedback_is_spooled_too(
    serve, database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    running = await serve(
        "learning", settings=settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port)), clock=clock
    )
    svc = stub(running)
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("i1")))
    await pg_proxy.down()
    first = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="i1", thumb=pb.THUMB_DOWN))
    assert first.durability == pb.DURABILITY_SPOOLED and first.interaction_known
    repeat = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="i1", thumb=pb.THUMB_DOWN))
    assert repeat.duplicate
    changed = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="i1", stars=5))
    assert changed.replaced_previous and not changed.duplicate
    await pg_proxy.up()
    await eventually(lambda: len(running.app.spool) == 0, clock)
    assert query(database_url, "SELECT kind, stars FROM learning_feedback") == [("stars", 5)]


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


async def test_a_crash_in_the_middle_of_a_replay_loses_nothing_and_stores_nothing_twice(
    database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    config = settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port), learning_replay_batch=4)
    chunks = 0

    async def die_after_first_chunk(_size: int) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 1:
            raise Crash()

    async with started(config, clock, replay_after_chunk=die_after_first_chunk) as first:
        await pg_proxy.down()
        records = [interaction(f"c{n}", at=ago(hours=n)) for n in range(10)]
        domain = [interaction_from_pb(r, None, clock.now(), 86400)[0] for r in records]
        acks = await first.ingestor.record(domain)  # type: ignore[arg-type]
        assert {a.durability.value for a in acks} == {"spooled"}
        await pg_proxy.up()
        with pytest.raises(Crash):
            await first.replayer.replay_once()
        assert count(database_url) == 4  # the first chunk was committed, then the process "died"
    # Abrupt: the spool still holds all ten, committed ones included.

    async with started(config, clock) as second:  # replays the spool before serving
        assert count(database_url) == 10
        assert ids(database_url) == sorted(f"c{n}" for n in range(10))
        assert len(second.spool) == 0
        assert not (second.spool.directory / QUARANTINE).exists()  # the repeats were no errors
        # The model rebuilt from the database has every one of them, once.
        ranked = second.keeper.recommend("default", "alice", "code", ["alpha"], greedy=True).ranked
        assert ranked[0].evidence == pytest.approx(
            first.keeper.recommend("default", "alice", "code", ["alpha"], greedy=True).ranked[0].evidence
        )


async def test_spooled_writes_of_a_stopped_process_are_replayed_by_the_next(
    database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    config = settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port))
    async with started(config, clock) as first:
        await pg_proxy.down()
        record = interaction_from_pb(interaction("lonely"), None, clock.now(), 86400)[0]
        (ack,) = await first.ingestor.record([record])  # type: ignore[list-item]
        assert ack.durability.value == "spooled"
    await pg_proxy.up()
    async with started(config, clock):
        assert ids(database_url) == ["lonely"]


async def test_database_down_at_start_up_serves_degraded_then_recovers(
    serve, database_url: str, pg_proxy: TcpProxy, tmp_path: Path, clock: ManualClock
) -> None:
    await pg_proxy.down()
    running = await serve(
        "learning",
        settings=settings(tmp_path / "data", via_proxy(database_url, pg_proxy.port), learning_startup_db_timeout_s=3),
        clock=clock,
    )
    svc = stub(running)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha"]))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # callers use their static order
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    reply = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("early")))
    assert reply.ack.durability == pb.DURABILITY_SPOOLED

    await pg_proxy.up()
    await eventually(lambda: running.app.bootstrapped.is_set(), clock)
    assert ids(database_url) == ["early"]
    ready = await svc.Recommend(pb.RecommendRequest(user_id="alice", topic="code", candidate_backends=["alpha"], greedy=True))
    # The spooled write is in the rebuilt model.
    assert ready.ranked[0].basis != pb.ESTIMATE_BASIS_PRIOR and ready.HasField("model_updated_at")


async def test_the_model_rebuilt_at_start_up_ranks_as_before(
    serve, any_db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    config = settings(tmp_path / "data", any_db_url)
    first = await serve("learning", settings=config, clock=clock)
    svc = stub(first)
    backends = {"alpha": 0.9, "beta": 0.7, "gamma": 0.5}
    n = 0
    for day in range(20):
        batch = []
        for user in ("alice", "bob", ""):
            for topic in ("code", "math"):
                for backend, rate in backends.items():
                    n += 1
                    ok = (n * 7919 % 100) < rate * 100 if not (user == "bob" and backend == "alpha") else False
                    batch.append(interaction(f"r{n}", backend=backend, ok=ok, user=user, topic=topic,
                                             total_s=1 + (n % 5) / 2, at=ago(days=20 - day)))
        await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
        clock.advance(1)
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="r5", thumb=pb.THUMB_DOWN))
    clock.advance(1)
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="r7", stars=5))
    clock.advance(1)

    async def rankings(s) -> list[list[tuple[str, float]]]:
        out = []
        for user in ("alice", "bob", "", "carol"):
            for topic in ("code", "math", "creative"):
                reply = await s.Recommend(
                    pb.RecommendRequest(user_id=user, topic=topic, candidate_backends=list(backends), greedy=True)
                )
                out.append([(r.backend, r.expected_success) for r in reply.ranked])
        return out

    before = await rankings(svc)
    assert before[3][0][0] != "alpha"  # bob has learned to avoid alpha
    await first.stop()

    second = await serve("learning", settings=config, clock=clock)
    after = await rankings(stub(second))
    assert [[b for b, _ in r] for r in after] == [[b for b, _ in r] for r in before]
    assert after == [[(b, pytest.approx(p, abs=1e-9)) for b, p in r] for r in before]
