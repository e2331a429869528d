"""Feedback: what a rating or a behaviour means, idempotency keys, implicit
re-ask detection, and feedback held until its interaction arrives."""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.learning.records import (
    MAX_COMMENT,
    MAX_ID,
    MAX_USER,
    FeedbackKind,
    FeedbackRecord,
    InteractionRecord,
    Key,
    Signal,
    check_text,
)
from switchboard.runtime.status import FieldViolation

# Satisfaction each implicit signal stands for (a star rating of 1 is 0.0).
SIGNAL_POSITIVE: dict[Signal, float] = {
    Signal.REASK: 0.0,
    Signal.REGENERATE: 0.0,
    Signal.ABANDONED: 0.25,  # mild: the user may simply have had enough
    Signal.COPIED: 1.0,
}


def thumb_positive(up: bool) -> float:
    return 1.0 if up else 0.0


def stars_positive(stars: int) -> float:
    """1 star → 0.0, 3 → 0.5, 5 → 1.0."""
    return (stars - 1) / 4.0


def derived_feedback_id(kind: FeedbackKind, interaction_id: str, user_id: str, signal: Signal | None) -> str:
    """The key of feedback sent without one: one rating per (interaction, user),
    one implicit signal of each kind per interaction."""
    if kind is FeedbackKind.IMPLICIT:
        assert signal is not None
        return f"implicit/{signal.value}/{interaction_id}"
    return f"rating/{interaction_id}/{user_id}"


def feedback_violations(
    interaction_id: str, feedback_id: str, user_id: str, comment: str, related_interaction_id: str
) -> list[FieldViolation]:
    v: list[FieldViolation] = []
    check_text(v, "interaction_id", interaction_id, MAX_ID, required=True)
    check_text(v, "feedback_id", feedback_id, MAX_ID)
    check_text(v, "user_id", user_id, MAX_USER)
    check_text(v, "comment", comment, MAX_COMMENT)
    check_text(v, "implicit.related_interaction_id", related_interaction_id, MAX_ID)
    return v


@dataclass(frozen=True, slots=True)
class _Asked:
    interaction_id: str
    request_key: str
    occurred_at: datetime
    arrived_s: float  # monotonic seconds it was observed: entries leave in this order


class ReaskDetector:
    """Notices a user asking the same thing again soon after a successful answer:
    implicit dissatisfaction with that answer. Keeps, per (tenant, user,
    prompt fingerprint), the latest successful answer, for as long as a re-ask
    of it can still come: entries observed more than the window plus `late_s`
    (outcomes reach learning late: the router's retries, a short outage) ago
    are dropped, oldest first. So memory follows the rate of answers times the
    window, and `capacity` caps it in any case."""

    def __init__(self, window_s: float, capacity: int = 100_000, late_s: float = 60.0) -> None:
        self._window = timedelta(seconds=window_s)
        self._keep_s = window_s + late_s
        self._capacity = capacity
        self._last: OrderedDict[tuple[str, str, str], _Asked] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def observe(self, record: InteractionRecord, arrived_s: float) -> FeedbackRecord | None:
        """Feeds one newly accepted interaction, observed at monotonic time
        `arrived_s`; returns the implicit feedback it reveals about an earlier
        answer, if any."""
        if not self._window or not record.user_id or not record.prompt_fingerprint:
            return None
        self._expire(arrived_s)
        # Interned: a user's entries share one copy of the tenant and user id.
        key = (sys.intern(record.tenant), sys.intern(record.user_id), record.prompt_fingerprint)
        found: FeedbackRecord | None = None
        earlier = self._last.get(key)
        if (
            earlier is not None
            and earlier.request_key != record.request_key  # fallbacks of one request share the prompt
            and timedelta(0) <= record.occurred_at - earlier.occurred_at <= self._window
        ):
            found = FeedbackRecord(
                tenant=record.tenant,
                feedback_id=derived_feedback_id(FeedbackKind.IMPLICIT, earlier.interaction_id, "", Signal.REASK),
                interaction_id=earlier.interaction_id,
                kind=FeedbackKind.IMPLICIT,
                positive=SIGNAL_POSITIVE[Signal.REASK],
                occurred_at=record.occurred_at,
                user_id=record.user_id,
                signal=Signal.REASK,
                related_interaction_id=record.interaction_id,
            )
        latest = earlier is None or record.occurred_at >= earlier.occurred_at
        if (record.success or record.was_cached) and latest:
            self._last[key] = _Asked(record.interaction_id, record.request_key, record.occurred_at, arrived_s)
            self._last.move_to_end(key)
            while len(self._last) > self._capacity:
                self._last.popitem(last=False)
        return found

    def _expire(self, now_s: float) -> None:
        while self._last:
            oldest = next(iter(self._last.values()))
            if now_s - oldest.arrived_s <= self._keep_s:
                return
            self._last.popitem(last=False)

    def forget_user(self, tenant: str, user_id: str) -> None:
        for key in [k for k in self._last if k[0] == tenant and k[1] == user_id]:
            del self._last[key]


@dataclass
class _Held:
    record: FeedbackRecord
    claimed: bool = False


class HeldFeedback:
    """Feedback whose interaction has not arrived yet (the router records
    outcomes asynchronously), waiting to be applied to the model. Whoever
    claims an entry first applies it, so it is applied once."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._by_interaction: OrderedDict[Key, list[_Held]] = OrderedDict()

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_interaction.values())

    def hold(self, record: FeedbackRecord) -> _Held:
        held = _Held(record)
        self._by_interaction.setdefault(record.interaction_key, []).append(held)
        while len(self._by_interaction) > self._capacity:
            self._by_interaction.popitem(last=False)  # the oldest: rebuild at start-up still applies them
        return held

    def hold_once(self, record: FeedbackRecord) -> None:
        """Holds `record` unless the same feedback already waits (a model rebuild
        re-reads feedback that may be held already)."""
        waiting = self._by_interaction.get(record.interaction_key, [])
        if not any(h.record.key == record.key and h.record.same_content(record) for h in waiting):
            self.hold(record)

    def drop_others(self, held: _Held) -> None:
        """Drops what waits under `held`'s feedback key, but `held` (it replaced them)."""
        self._drop(held.record.interaction_key, held.record.key, keep=held)

    def drop_key(self, record: FeedbackRecord) -> None:
        """Drops what waits under `record`'s feedback key (a replacement arrived)."""
        self._drop(record.interaction_key, record.key, keep=None)

    def _drop(self, interaction_key: Key, feedback_key: Key, keep: _Held | None) -> None:
        waiting = self._by_interaction.get(interaction_key)
        if not waiting:
            return
        kept = [h for h in waiting if h is keep or h.record.key != feedback_key]
        for h in waiting:
            if not any(h is k for k in kept):
                h.claimed = True  # a pending claim by its writer now finds it taken
        if kept:
            self._by_interaction[interaction_key] = kept
        else:
            del self._by_interaction[interaction_key]

    def claim(self, held: _Held) -> bool:
        """True for the first claimant of `held` (which then applies it)."""
        if held.claimed:
            return False
        held.claimed = True
        waiting = self._by_interaction.get(held.record.interaction_key, [])
        if held in waiting:
            waiting.remove(held)
            if not waiting:
                del self._by_interaction[held.record.interaction_key]
        return True

    def release(self, key: Key) -> list[FeedbackRecord]:
        """Claims everything waiting for interaction `key` (it has just arrived)."""
        waiting = self._by_interaction.pop(key, [])
        out = []
        for held in waiting:
            if not held.claimed:
                held.claimed = True
                out.append(held.record)
        return out

    def forget_user(self, tenant: str, interaction_ids: set[str], user_id: str) -> None:
        for key in list(self._by_interaction):
            if key[0] != tenant:
                continue
            kept = [h for h in self._by_interaction[key] if key[1] not in interaction_ids and h.record.user_id != user_id]
            if kept:
                self._by_interaction[key] = kept
            else:
                del self._by_interaction[key]
