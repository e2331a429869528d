"""Several learning replicas on one PostgreSQL (design.md: any service can run
as N replicas): each one's model learns from the rows the others write
(interactions, ratings and their replacements, ForgetUser), late commits are
not missed, and replicas never share a spool directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from services.learning.app import LearningApp
from services.learning.spool import SpoolLocked
from services.learning.store import Marks
from services.learning.sync import TailCursor
from services.learning.tables import InteractionRow
from switchboard.db import sync_url
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import Runtime
from learning_support import T0, count, eventually, interaction, query, settings, stub

BACKENDS = ["alpha", "beta"]


async def expected(svc, user: str, topic: str = "code") -> dict[str, float]:
    reply = await svc.Recommend(
        pb.RecommendRequest(user_id=user, topic=topic, candidate_backends=BACKENDS, greedy=True)
    )
    return {r.backend: r.expected_success for r in reply.ranked}


def close(a: dict[str, float], b: dict[str, float], tol: float = 0.01) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol for k in a)


async def test_replicas_learn_from_each_others_writes(
    serve, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    # Same data directory: each replica takes its own spool directory.
    config = settings(tmp_path / "data", database_url, learning_sync_interval_s=2.0)
    a = await serve("learning", settings=config, clock=clock)
    b = await serve("learning", settings=config, clock=clock)
    assert a.app.spool.directory != b.app.spool.directory
    sa, sb = stub(a), stub(b)

    at = T0 - timedelta(hours=2)
    await sa.RecordInteractions(pb.RecordInteractionsRequest(interactions=[
        interaction(f"a{n}", backend="alpha", ok=n % 10 != 0, user=f"u{n % 3}", at=at) for n in range(40)
    ]))
    await sb.RecordInteractions(pb.RecordInteractionsRequest(interactions=[
        interaction(f"b{n}", backend="beta", ok=n % 2 == 0, user="bob", at=at) for n in range(40)
    ]))
    # Before a sync round, each knows only what it took.
    assert (await sb.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha"], greedy=True))).ranked[
        0
    ].basis == pb.ESTIMATE_BASIS_PRIOR

    # The shared (topic, backend) evidence converges exactly; a user's own
    # deviations depend a little on the order the evidence came in.
    async def agree() -> bool:
        return close(await expected(sa, ""), await expected(sb, ""), 1e-9)

    await eventually(agree, clock, step_s=1.0)
    everyone = await expected(sa, "")
    assert everyone["alpha"] > 0.8 and everyone["beta"] < 0.6  # both replicas' evidence, on either replica
    assert close(await expected(sa, "bob"), await expected(sb, "bob"), 0.05)
    tailed = b.app.sync.tailed

    # A rating taken by A on an interaction B stored reaches B's model; its
    # replacement, taken by B, reaches A's (the old rating is taken out).
    before_a, before_b = await expected(sa, "bob"), await expected(sb, "bob")
    await sa.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="b0", thumb=pb.THUMB_DOWN))
    await eventually(lambda: b.app.sync.tailed > tailed, clock, step_s=1.0)
    assert (await expected(sb, "bob"))["beta"] < before_b["beta"] - 0.05
    assert close(await expected(sa, ""), await expected(sb, ""), 1e-9)
    tailed = a.app.sync.tailed
    await sb.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="b0", stars=5))
    await eventually(lambda: a.app.sync.tailed > tailed, clock, step_s=1.0)
    assert (await expected(sa, "bob"))["beta"] > before_a["beta"] + 0.05  # not: down and 5 stars both counted
    assert close(await expected(sa, ""), await expected(sb, ""), 1e-9)

    # A third replica started now, from the database alone, has the same model.
    c = await serve("learning", settings=config, clock=clock)
    sc = stub(c)
    assert len({a.app.spool.directory, b.app.spool.directory, c.app.spool.directory}) == 3
    assert close(await expected(sc, ""), await expected(sb, ""), 1e-9)
    assert close(await expected(sc, "bob"), await expected(sa, "bob"), 0.05)

    # ForgetUser on one replica: the others drop the user from their models too.
    gone = await sa.ForgetUser(pb.ForgetUserRequest(user_id="bob"))
    assert gone.interactions_deleted == 40 and gone.feedback_deleted == 1

    async def forgotten_everywhere() -> bool:
        return all([await expected(s, "bob") == await expected(s, "nobody-yet") for s in (sb, sc)])

    assert not await forgotten_everywhere()
    await eventually(forgotten_everywhere, clock, step_s=1.0)


async def test_a_row_committed_late_by_another_replica_is_not_missed(
    serve, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """Row ids are taken at insert and become visible at commit: a slow
    transaction's row appears below ids the tail has already passed."""
    running = await serve("learning", settings=settings(tmp_path / "data", database_url), clock=clock)
    app: LearningApp = running.app
    engine = create_engine(sync_url(database_url), poolclass=NullPool)

    def row(iid: str) -> dict[str, object]:
        return {
            "tenant": "default", "interaction_id": iid, "backend": "alpha", "topic": "code", "outcome": "success",
            "occurred_at": T0 - timedelta(minutes=5), "stored_at": T0, "origin": "another-replica",
            "total_time_s": 1.0, "user_id": "zoe",
        }

    try:
        with engine.connect() as slow:
            slow.execute(insert(InteractionRow).values(row("slow")))  # id N, not committed yet
            with engine.begin() as fast:
                fast.execute(insert(InteractionRow).values(row("fast")))  # id N+1, committed
            await eventually(lambda: app.sync.tailed >= 1, clock, step_s=2.0)
            assert app.sync.tailed == 1
            slow.commit()
        await eventually(lambda: app.sync.tailed >= 2, clock, step_s=2.0)
    finally:
        engine.dispose()
    s, f = app.keeper.model.topic_counts("code", "alpha")
    assert s + f == pytest.approx(2.0, rel=1e-3)


def test_tail_cursor_remembers_gaps_until_they_settle() -> None:
    cursor = TailCursor(Marks(10, (7,)), now=0.0, settle_s=30.0, max_gaps=5)
    assert (cursor.high, cursor.gaps) == (10, [7])
    cursor.saw([13, 11], now=1.0)
    assert cursor.high == 13 and sorted(cursor.gaps) == [7, 12]
    cursor.saw([12], now=2.0)  # the late commit
    assert cursor.gaps == [7]
    cursor.saw([], now=31.0)  # 7 never came: burnt by ON CONFLICT, or rolled back
    assert cursor.gaps == []
    cursor.saw([100], now=32.0)  # a big jump keeps only the newest gaps
    assert sorted(cursor.gaps) == [95, 96, 97, 98, 99]
    cursor.saw([50], now=33.0)  # below the mark and not a gap: already given up
    assert cursor.high == 100


async def test_two_processes_never_share_a_spool_directory(tmp_path: Path, clock: ManualClock) -> None:
    shared = tmp_path / "spool"
    first = LearningApp(Runtime(settings(tmp_path / "a", None, learning_spool_dir=shared), clock=clock))
    second = LearningApp(Runtime(settings(tmp_path / "b", None, learning_spool_dir=shared), clock=clock))
    await first.start()
    try:
        with pytest.raises(SpoolLocked, match="SWITCHBOARD_LEARNING_SPOOL_DIR"):
            await second.start()
    finally:
        await first.stop()
    await second.start()  # free again
    await second.stop()


async def test_a_reask_on_another_replica_is_noticed(
    serve, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    config = settings(tmp_path / "data", database_url)
    a, b = await serve("learning", settings=config, clock=clock), await serve("learning", settings=config, clock=clock)
    prompt = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    asked = clock.now() - timedelta(minutes=2)
    await stub(a).RecordInteraction(pb.RecordInteractionRequest(
        interaction=interaction("q1", request_id="r1", prompt_fingerprint=prompt, at=asked)
    ))
    # The same question a minute later, to the other replica (which has not seen the first yet).
    await stub(b).RecordInteraction(pb.RecordInteractionRequest(
        interaction=interaction("q2", request_id="r2", prompt_fingerprint=prompt, at=asked + timedelta(minutes=1))
    ))
    await eventually(lambda: count(database_url, "learning_feedback") == 1, clock, step_s=1.0)
    assert query(database_url, "SELECT interaction_id, signal FROM learning_feedback") == [("q1", "reask")]
