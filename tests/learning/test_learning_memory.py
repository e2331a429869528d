"""What the learning service keeps in memory per interaction stays small and
bounded under steady load: the recent-interactions memory (repeats, feedback
without a database read) keeps a compact entry, not the record; the re-ask
detector lets go of answers that can no longer be re-asked."""

from __future__ import annotations

import gc
import hashlib
import random
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

from services.learning.feedback import ReaskDetector
from services.learning.ingest import RecentInteractions
from services.learning.model import ModelConfig
from services.learning.modelstate import ModelKeeper
from services.learning.records import (
    Durability,
    FeedbackKind,
    FeedbackRecord,
    InteractionRecord,
    Outcome,
)
from switchboard.runtime.clock import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def fresh(text: str) -> str:
    """An equal but new string object, as decoding a protobuf message makes."""
    return "".join(list(text))


def routed(
    n: int, *, user: str = "", tenant: str = "default", at: datetime = T0, prompt: str = "question"
) -> InteractionRecord:
    """An interaction shaped like the router's outcome records."""
    request_id = uuid.uuid4().hex
    return InteractionRecord(
        tenant=fresh(tenant),
        interaction_id=f"{request_id}:1",
        backend=fresh("fake"),
        outcome=Outcome.SUCCESS,
        occurred_at=at + timedelta(microseconds=n),
        request_id=request_id,
        user_id=fresh(user),
        topic=fresh("general"),
        model="fake-model-v1",
        error_detail="",
        attempt=1,
        ttft_s=0.01 + n * 1e-9,
        total_time_s=0.05 + n * 1e-9,
        prompt_tokens=12,
        completion_tokens=8,
        cost_usd=0.0001 * (n + 1),
        prompt_chars=20,
        prompt_fingerprint=hashlib.sha256(f"{prompt} {n}".encode()).hexdigest(),
    )


def test_a_remembered_interaction_costs_a_few_hundred_bytes_not_its_record() -> None:
    """The soak's learning memory grew ~1.1 kB per interaction while the whole
    record was kept; the compact entry is about a third of that."""
    n = 5000
    recent = RecentInteractions(capacity=n)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        stored_at = datetime.now(UTC)
        for i in range(n):
            recent.put(routed(i), stored_at, Durability.STORED)  # the record itself is dropped after
        gc.collect()
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(recent) == n
    assert per_entry < 450, per_entry


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    recent = RecentInteractions(capacity=3)
    records = [routed(i) for i in range(5)]
    for i, record in enumerate(records):
        recent.put(record, T0 + timedelta(seconds=i), Durability.STORED)
    assert len(recent) == 3
    assert [recent.get(r.key) is not None for r in records] == [False, False, True, True, True]
    known = recent.get(records[2].key)
    assert known is not None and known.stored_at == T0 + timedelta(seconds=2)


def test_an_entry_answers_repeats_and_feedback_and_is_marked_stored_after_replay() -> None:
    recent = RecentInteractions(capacity=10)
    record = routed(1, user="alice", tenant="acme")
    recent.put(record, T0, Durability.SPOOLED)
    known = recent.get(("acme", record.interaction_id))
    assert known is not None
    assert (known.stored_at, known.durability) == (T0, Durability.SPOOLED)
    assert (known.tenant, known.user_id, known.topic, known.backend) == ("acme", "alice", "general", "fake")
    recent.mark_stored(record.key)
    again = recent.get(record.key)
    assert again is not None and (again.stored_at, again.durability) == (T0, Durability.STORED)


def test_forgetting_a_user_drops_only_their_entries_in_their_tenant() -> None:
    recent = RecentInteractions(capacity=100)
    mine = [routed(i, user="alice", tenant="acme") for i in range(3)]
    others = [routed(10, user="bob", tenant="acme"), routed(11, user="alice", tenant="globex")]
    for record in mine + others:
        recent.put(record, T0, Durability.STORED)
    assert recent.forget_user("acme", "alice") == {r.interaction_id for r in mine}
    assert [recent.get(r.key) is None for r in mine + others] == [True, True, True, False, False]


def test_a_rating_through_the_compact_entry_moves_the_model_as_through_the_record() -> None:
    clock = ManualClock(start=T0 + timedelta(hours=1))
    record = routed(1, user="alice", tenant="acme")
    rating = FeedbackRecord(
        tenant="acme", feedback_id="f1", interaction_id=record.interaction_id, kind=FeedbackKind.THUMB,
        positive=0.0, occurred_at=T0 + timedelta(minutes=1), user_id="alice", thumb="down",
    )
    recent = RecentInteractions(capacity=10)
    recent.put(record, T0, Durability.STORED)
    known = recent.get(record.key)
    assert known is not None
    scores = []
    for about in (None, record, known):
        keeper = ModelKeeper(ModelConfig(), clock, seed=3)
        keeper.observe(record)
        if about is not None:
            keeper.rate(about, rating)
        scores.append(keeper.model.recommend("acme/alice", "general", ["fake"], greedy=True)[0].expected_success)
    unrated, through_record, through_entry = scores
    assert through_entry == through_record < unrated


def test_the_reask_memory_lets_go_of_answers_older_than_the_window() -> None:
    """Under steady load with users, the detector holds about rate × window
    answers, not its capacity."""
    window_s, late_s = 300.0, 60.0
    reask = ReaskDetector(window_s, capacity=100_000, late_s=late_s)
    rng = random.Random(5)
    for i in range(10 * 3600):  # ten hours at one distinct question a second
        reask.observe(routed(i, user=f"user{rng.randrange(50)}", at=T0 + timedelta(seconds=i)), float(i))
    assert len(reask) <= window_s + late_s + 1


def test_a_reask_is_still_seen_within_the_window_and_a_late_outcome_within_its_allowance() -> None:
    reask = ReaskDetector(300.0, late_s=60.0)

    def ask(at_s: float, prompt: str = "same") -> InteractionRecord:
        return routed(0, user="alice", at=T0 + timedelta(seconds=at_s), prompt=prompt)

    assert reask.observe(ask(0), 0.0) is None
    found = reask.observe(ask(250), 250.0)  # within the window: dissatisfied with the first answer
    assert found is not None and found.signal is not None and found.signal.value == "reask"
    assert reask.observe(ask(300, "other"), 300.0) is None
    # An outcome that reaches learning 60 s late still finds the answer it re-asks
    # (290 s after it occurred, 350 s after it was observed).
    assert reask.observe(ask(540), 600.0) is not None
    # Long after the window, in arrival time too, the answers are gone.
    assert reask.observe(ask(2600), 2600.0) is None
    assert len(reask) == 1  # only the latest answer is left
