"""The repository on SQLite and real PostgreSQL: migrations, idempotent
inserts, feedback semantics, forgetting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from services.learning.app import MIGRATIONS, VERSION_TABLE
from services.learning.records import FeedbackKind, FeedbackRecord, InteractionRecord, Outcome, Signal
from services.learning.store import Accepted, Store
from services.learning.tables import Base
from switchboard.db import create_engine_for, run_migrations, sync_url
from learning_support import T0, count, query


@pytest.fixture
async def store(any_db_url: str):
    run_migrations(any_db_url, MIGRATIONS, VERSION_TABLE)
    engine = create_engine_for(any_db_url)
    yield Store(engine)
    await engine.dispose()


def rec(iid: str, tenant: str = "default", user: str = "alice", ok: bool = True, **kw) -> InteractionRecord:
    return InteractionRecord(
        tenant=tenant, interaction_id=iid, backend="alpha", user_id=user,
        outcome=Outcome.SUCCESS if ok else Outcome.TIMEOUT, occurred_at=T0, total_time_s=1.0, **kw,
    )


def test_migrations_are_repeatable_and_match_the_models(any_db_url: str) -> None:
    run_migrations(any_db_url, MIGRATIONS, VERSION_TABLE)
    run_migrations(any_db_url, MIGRATIONS, VERSION_TABLE)  # a second start-up changes nothing
    assert query(any_db_url, f"SELECT version_num FROM {VERSION_TABLE}") == [("0002_replicas",)]
    engine = create_engine(sync_url(any_db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    # Only differences the dialects cannot express are tolerated (none expected).
    assert [d for d in diff if d[0] != "remove_table" or not str(d[1].name).startswith("alembic_version")] == []


async def test_insert_is_idempotent_by_tenant_and_id(store: Store, any_db_url: str) -> None:
    first = await store.insert_interactions([Accepted(rec("i1"), T0), Accepted(rec("i2"), T0)])
    assert first.inserted == {("default", "i1"), ("default", "i2")}
    later = T0 + timedelta(hours=1)
    again = await store.insert_interactions(
        [Accepted(rec("i1", user="mallory"), later), Accepted(rec("i3"), later), Accepted(rec("i1", tenant="acme"), later)]
    )
    assert again.inserted == {("default", "i3"), ("acme", "i1")}
    assert again.existing == {("default", "i1"): T0}  # the original acceptance time
    assert count(any_db_url) == 4
    assert count(any_db_url, where="interaction_id = 'i1' AND tenant = 'default'") == 1
    # First write wins: the repeat with other content changed nothing.
    assert query(any_db_url, "SELECT user_id FROM learning_interactions WHERE interaction_id='i1' AND tenant='default'") == [("alice",)]


async def test_large_batch_in_chunks(store: Store, any_db_url: str) -> None:
    batch = [Accepted(rec(f"b{n}"), T0) for n in range(1200)]
    result = await store.insert_interactions(batch + batch[:10])
    assert len(result.inserted) == 1200
    assert count(any_db_url) == 1200


async def test_round_trip_keeps_every_field(store: Store) -> None:
    original = rec(
        "full", request_id="r1", topic="math", model="m", error_detail="", attempt=2, ttft_s=0.25,
        prompt_tokens=10, completion_tokens=4_000_000_000, cost_usd=0.5, prompt_chars=99, fallback=True,
        was_cached=False, prompt_fingerprint="a" * 64,
    )
    await store.insert_interactions([Accepted(original, T0)])
    found = await store.find_interaction(("default", "full"))
    assert found is not None
    assert found[0] == original
    assert found[1] == T0 and found[1].tzinfo is not None


def fb(
    feedback_id: str, *, on: str = "i1", positive: float = 1.0, caller: bool = False, kind=FeedbackKind.THUMB, **kw
) -> FeedbackRecord:
    return FeedbackRecord(
        tenant="default", feedback_id=feedback_id, interaction_id=on, kind=kind, positive=positive,
        occurred_at=T0, caller_id=caller, thumb="up" if positive else "down", **kw,
    )


async def test_feedback_duplicate_replace_and_first_wins(store: Store, any_db_url: str) -> None:
    (w,) = await store.write_feedback([(fb("rating/i1/"), T0)])
    assert not w.duplicate and not w.replaced_previous
    (w,) = await store.write_feedback([(fb("rating/i1/"), T0 + timedelta(seconds=5))])
    assert w.duplicate and w.stored_at == T0
    (w,) = await store.write_feedback([(fb("rating/i1/", positive=0.0), T0 + timedelta(seconds=9))])
    assert w.replaced_previous and not w.duplicate  # a new rating by the same user replaces the old one
    assert query(any_db_url, "SELECT positive FROM learning_feedback") == [(0.0,)]
    # Under the caller's own key the first write wins.
    await store.write_feedback([(fb("mine", caller=True), T0)])
    (w,) = await store.write_feedback([(fb("mine", caller=True, positive=0.0), T0)])
    assert w.duplicate and not w.replaced_previous
    # Implicit signals are recorded once per (interaction, signal).
    implicit = fb("implicit/reask/i1", kind=FeedbackKind.IMPLICIT, positive=0.0, signal=Signal.REASK)
    await store.write_feedback([(implicit, T0)])
    (w,) = await store.write_feedback([(implicit, T0)])
    assert w.duplicate
    assert count(any_db_url, "learning_feedback") == 3


async def test_a_burst_of_implicit_signals_is_one_write_with_repeats_told_apart(store: Store, any_db_url: str) -> None:
    def reask(on: str, tenant: str = "default") -> FeedbackRecord:
        return FeedbackRecord(tenant=tenant, feedback_id=f"implicit/reask/{on}", interaction_id=on,
                              kind=FeedbackKind.IMPLICIT, positive=0.0, occurred_at=T0, signal=Signal.REASK)

    (first,) = await store.write_feedback([(reask("i1"), T0)])
    later = T0 + timedelta(seconds=3)
    writes = await store.write_feedback([
        (reask("i1"), later),  # stored before: a repeat, with the first acceptance time
        (reask("i2"), later),
        (reask("i2"), later + timedelta(seconds=1)),  # the same signal twice in one burst: the first wins
        (reask("i2", tenant="acme"), later),  # the same id in another tenant is another signal
    ])
    assert [(w.duplicate, w.stored_at) for w in writes] == [
        (True, T0), (False, later), (True, later), (False, later),
    ]
    assert not first.duplicate and not any(w.replaced_previous for w in writes)
    assert count(any_db_url, "learning_feedback") == 3
    assert query(any_db_url, "SELECT tenant, interaction_id, signal, kind FROM learning_feedback "
                             "ORDER BY tenant, interaction_id") == [
        ("acme", "i2", "reask", "implicit"), ("default", "i1", "reask", "implicit"),
        ("default", "i2", "reask", "implicit")]


async def test_forget_user_counts_what_it_deleted(store: Store, any_db_url: str) -> None:
    await store.insert_interactions(
        [Accepted(rec("a1"), T0), Accepted(rec("a2"), T0), Accepted(rec("b1", user="bob"), T0),
         Accepted(rec("a3", tenant="acme"), T0)]
    )
    await store.write_feedback(
        [
            (fb("on-alice", on="a1"), T0),  # on her interaction
            (fb("by-alice", on="b1", caller=True, user_id="alice"), T0),  # given by her
            (fb("by-carol", on="b1", caller=True, user_id="carol"), T0),  # neither: kept
        ]
    )
    counts = await store.forget_user("default", "alice", T0)
    assert (counts.interactions, counts.feedback, counts.profiles) == (2, 2, 0)
    assert count(any_db_url) == 2  # bob's, and alice's in another tenant
    assert query(any_db_url, "SELECT feedback_id FROM learning_feedback") == [("by-carol",)]
    again = await store.forget_user("default", "alice", T0)
    assert (again.interactions, again.feedback, again.profiles) == (0, 0, 0)
