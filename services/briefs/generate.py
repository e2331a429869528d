"""Making one brief: load the owner's data, compose the content, render the
text, ask the peers (learning for time saved, the router for the narrative).
Used by GenerateBrief (previews) and by the scheduler (stored briefs)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.briefs import compose
from services.briefs.model import (
    Brief,
    BriefContent,
    BriefKind,
    Delivery,
    NarrativeStatus,
    OwnerSettings,
    Scope,
)
from services.briefs.narrative import Narrator
from services.briefs.ranking import OutreachRates, RatePriors
from services.briefs.render import render
from services.briefs.store import BriefStore
from services.briefs.timesaved import TimeSavedSource
from switchboard.runtime.clock import Clock

# Outcomes older than this many half-lives weigh < 0.1% and are not loaded.
_HALF_LIVES_KEPT = 10


class BriefMaker:
    def __init__(
        self,
        store: BriefStore,
        clock: Clock,
        time_saved: TimeSavedSource,
        narrator: Narrator,
        *,
        half_life_days: float,
        priors: RatePriors = RatePriors(),
    ) -> None:
        self._store = store
        self._clock = clock
        self._time_saved = time_saved
        self._narrator = narrator
        self._half_life_days = half_life_days
        self._priors = priors

    async def make(
        self,
        scope: Scope,
        kind: BriefKind,
        at: datetime,
        *,
        with_narrative: bool | None = None,
        settings: OwnerSettings | None = None,
    ) -> Brief:
        """The brief as of `at` (not stored; deliveries list the owner's sinks)."""
        settings = settings or await self._store.get_settings(scope)
        tz = ZoneInfo(settings.time_zone)
        day = compose.day_of(at, tz)
        through = compose.local_day(day.date + timedelta(days=2), tz).start  # today and tomorrow
        outreach_since = min(day.start, at - timedelta(days=self._half_life_days * _HALF_LIVES_KEPT))
        snap = await self._store.snapshot(scope, day.start, through, outreach_since)
        content: BriefContent
        if kind == BriefKind.MORNING:
            rates = OutreachRates(snap.outreach, at, self._half_life_days, self._priors)
            content = compose.morning(snap, at, tz, rates)
        elif kind == BriefKind.AFTERNOON:
            content = compose.afternoon(snap, at, tz, settings)
        else:
            interactions = await self._time_saved.time_saved(scope, day.start, min(at, day.end))
            content = compose.evening(snap, at, tz, interactions)
        text = render(kind, content, day.date, settings.time_zone)
        wanted = settings.narrative_enabled if with_narrative is None else with_narrative
        narrative, status = "", NarrativeStatus.SKIPPED_DISABLED
        if wanted:
            narrative, status = await self._narrator.write(scope, text)
        return Brief(
            id="",
            owner_id=scope.owner_id,
            kind=kind,
            date=day.date,
            as_of=at,
            generated_at=self._clock.now(),
            time_zone=settings.time_zone,
            content=content,
            text=text,
            narrative=narrative,
            narrative_status=status,
            deliveries=[Delivery(sink=sink) for sink in settings.sinks],
        )
