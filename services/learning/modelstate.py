"""Keeps the in-memory model: feeds it accepted interactions and ratings,
rebuilds it from stored history at start-up, and answers Recommend from it
(never from the database).

User cells are keyed by tenant and user, so two tenants' "alice" stay apart;
backend and topic evidence is shared by all tenants (the backends are the
mesh's, not a tenant's).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.learning.model import Draw, LearningModel, ModelConfig, Observation, Ranked
from services.learning.records import (
    FeedbackRecord,
    InteractionRecord,
    Outcome,
    RatedInteraction,
)
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.learning.model")


class ModelNotReady(Exception):
    """The model has not been rebuilt from the database yet."""


def user_key(tenant: str, user_id: str) -> str:
    """The model's user id: empty stays anonymous."""
    return f"{tenant}/{user_id}" if user_id else ""


@dataclass(frozen=True)
class ObserveEvent:
    record: InteractionRecord


@dataclass(frozen=True)
class RateEvent:
    interaction: RatedInteraction
    feedback: FeedbackRecord


@dataclass(frozen=True)
class RetractEvent:
    """Takes back a RateEvent with the same interaction and feedback."""

    interaction: RatedInteraction
    feedback: FeedbackRecord


Event = ObserveEvent | RateEvent | RetractEvent
EventKey = tuple[Any, ...]


def _event_key(event: Event) -> EventKey:
    """What identifies the evidence an event adds (a replaced rating has the
    same feedback key as its replacement, but not the same content)."""
    if isinstance(event, ObserveEvent):
        return ("observe", event.record.key)
    fb = event.feedback
    return ("rate", fb.key, fb.positive, fb.occurred_at)


def _apply(model: LearningModel, event: Event) -> None:
    if isinstance(event, ObserveEvent):
        r = event.record
        if r.outcome is Outcome.CANCELLED or r.was_cached:
            return  # not evidence about the backend
        model.observe(
            Observation(
                user_id=user_key(r.tenant, r.user_id),
                topic=r.topic,
                backend=r.backend,
                success=r.success,
                latency_s=r.total_time_s if r.success else None,
                at=r.occurred_at,
                time_to_first_token_s=r.ttft_s,
            )
        )
    elif isinstance(event, RateEvent):
        i, fb = event.interaction, event.feedback
        model.rate(user_key(i.tenant, i.user_id), i.topic, i.backend, fb.positive, fb.occurred_at)
    else:
        i, fb = event.interaction, event.feedback
        model.retract_rating(user_key(i.tenant, i.user_id), i.topic, i.backend, fb.positive, fb.occurred_at)


@dataclass(frozen=True)
class Recommendation:
    ranked: list[Ranked]
    topic: str
    updated_at: datetime | None
    draws: list[Draw] = field(default_factory=list)  # further independent rankings, when asked for

    @property
    def exploratory(self) -> bool:
        return bool(self.ranked) and self.ranked[0].exploratory


class ModelKeeper:
    def __init__(self, config: ModelConfig, clock: Clock, seed: int | None = None) -> None:
        self._config = config
        self._clock = clock
        self._seed = seed
        self._model = self._new_model()
        self._ready = False
        self._during_rebuild: list[Event] | None = None

    def _new_model(self) -> LearningModel:
        return LearningModel(self._config, self._clock, random.Random(self._seed))

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def model(self) -> LearningModel:
        return self._model

    def observe(self, record: InteractionRecord) -> None:
        self._record(ObserveEvent(record))

    def rate(self, interaction: RatedInteraction, feedback: FeedbackRecord) -> None:
        self._record(RateEvent(interaction, feedback))

    def retract(self, interaction: RatedInteraction, feedback: FeedbackRecord) -> None:
        """Takes back an earlier `rate(interaction, feedback)`."""
        self._record(RetractEvent(interaction, feedback))

    def _record(self, event: Event) -> None:
        if self._during_rebuild is not None:
            self._during_rebuild.append(event)
        _apply(self._model, event)

    def begin_rebuild(self) -> None:
        """From now on, live events are also remembered for the model `rebuild`
        will install (call it before reading the history)."""
        self._during_rebuild = []

    def cancel_rebuild(self) -> None:
        """Reading the history failed: the current model stays."""
        self._during_rebuild = None

    async def rebuild(self, events: Sequence[Event], *, yield_every: int = 5000) -> None:
        """Replaces the model with one built from `events` (stored history, in
        acceptance order), plus whatever was absorbed live since `begin_rebuild`
        and is not in `events`."""
        if self._during_rebuild is None:
            self._during_rebuild = []
        try:
            fresh = self._new_model()
            for n, event in enumerate(events, 1):
                _apply(fresh, event)
                if n % yield_every == 0:
                    await asyncio.sleep(0)  # keep health checks and writes flowing
            # Live events the history already holds are skipped; a retraction
            # only takes back a rating the new model has.
            held = {_event_key(e) for e in events}
            for event in self._during_rebuild:
                key = _event_key(event)
                if isinstance(event, RetractEvent):
                    if key in held:
                        held.discard(key)
                        _apply(fresh, event)
                elif key not in held:
                    held.add(key)
                    _apply(fresh, event)
        finally:
            self._during_rebuild = None
        self._model = fresh
        self._ready = True
        log.info("model rebuilt", extra={"events": len(events), "cells": fresh.cell_count()})

    def recommend(
        self, tenant: str, user_id: str, topic: str, candidates: Sequence[str], *, greedy: bool, draws: int = 0
    ) -> Recommendation:
        if not self._ready:
            raise ModelNotReady("the model is still being rebuilt from the database")
        names = list(candidates) or sorted(self._model.known_backends())
        user = user_key(tenant, user_id)
        if greedy or draws <= 0:  # every greedy draw would be the same
            return Recommendation(self._model.recommend(user, topic, names, greedy=greedy), topic,
                                  self._model.updated_at)
        ranked, more = self._model.recommend_and_draw(user, topic, names, draws)
        return Recommendation(ranked, topic, self._model.updated_at, more)

    def forget_user(self, tenant: str, user_id: str) -> int:
        return self._model.forget_user(user_key(tenant, user_id))

