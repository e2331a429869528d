"""Outreach opportunity ranking and the revenue loop.

score = expected value (major units) × staleness boost × close-date boost × rate factor

- staleness boost: 1 + min(days since last contact, 30) / 30 (never contacted: 2.0);
- close-date boost: 1 + 0.5 × (30 − days to close) / 30 inside 30 days, 1.5 when the
  expected close has passed, 1.0 without a close date;
- rate factor: what outreach outcomes taught us. Every logged outcome weighs
  0.5^(age / half-life); rates are Beta-smoothed toward a prior
  (response, channel×stage ← channel ← prior; advance, stage ← prior), and
  factor = (0.5 + best channel's response rate) / (0.5 + prior response rate)
         × (0.5 + stage's advance rate) / (0.5 + prior advance rate),
  which is exactly 1 without history. The best channel for the deal's stage is
  the suggestion.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from services.briefs.model import (
    Contact,
    Deal,
    DealStage,
    OutreachChannel,
    OutreachEntry,
    OutreachOpportunity,
    OutreachOutcome,
)
from services.briefs.money import expected_value, to_major

# Channels a suggestion may name (OTHER says nothing actionable).
SUGGESTABLE = (OutreachChannel.EMAIL, OutreachChannel.PHONE, OutreachChannel.LINKEDIN, OutreachChannel.MEETING)
STALE_CAP_DAYS = 30
CLOSE_HORIZON_DAYS = 30

_NEXT_STEP = {
    DealStage.LEAD: "qualify the need and budget",
    DealStage.QUALIFIED: "send a proposal",
    DealStage.PROPOSAL: "follow up on the proposal",
    DealStage.NEGOTIATION: "agree the final terms and close",
}
_CHANNEL_ACTION = {
    OutreachChannel.EMAIL: "Email {who}",
    OutreachChannel.PHONE: "Call {who}",
    OutreachChannel.LINKEDIN: "Message {who} on LinkedIn",
    OutreachChannel.MEETING: "Meet {who}",
    OutreachChannel.OTHER: "Reach out to {who}",
}


@dataclass(frozen=True)
class RatePriors:
    response: float = 0.3
    advance: float = 0.1
    weight: float = 2.0  # pseudo-observations behind each prior


class OutreachRates:
    """Decayed response and advance rates per channel, channel×stage and stage."""

    def __init__(
        self,
        entries: Iterable[OutreachEntry],
        at: datetime,
        half_life_days: float,
        priors: RatePriors = RatePriors(),
    ) -> None:
        self.priors = priors
        self._ch_w: dict[OutreachChannel, float] = defaultdict(float)
        self._ch_resp: dict[OutreachChannel, float] = defaultdict(float)
        self._cs_w: dict[tuple[OutreachChannel, DealStage], float] = defaultdict(float)
        self._cs_resp: dict[tuple[OutreachChannel, DealStage], float] = defaultdict(float)
        self._st_w: dict[DealStage, float] = defaultdict(float)
        self._st_adv: dict[DealStage, float] = defaultdict(float)
        for entry in entries:
            if entry.at > at:
                continue  # not known yet as of `at`
            age_days = (at - entry.at).total_seconds() / 86400
            w = 0.5 ** (age_days / half_life_days)
            responded = w if entry.outcome.is_response else 0.0
            self._ch_w[entry.channel] += w
            self._ch_resp[entry.channel] += responded
            if entry.deal_stage is not None:
                self._cs_w[(entry.channel, entry.deal_stage)] += w
                self._cs_resp[(entry.channel, entry.deal_stage)] += responded
                self._st_w[entry.deal_stage] += w
                self._st_adv[entry.deal_stage] += w if entry.outcome == OutreachOutcome.ADVANCED else 0.0

    def _smooth(self, prior: float, hits: float, weight: float) -> float:
        k = self.priors.weight
        return (prior * k + hits) / (k + weight)

    def channel_response(self, channel: OutreachChannel) -> float:
        return self._smooth(self.priors.response, self._ch_resp[channel], self._ch_w[channel])

    def response(self, channel: OutreachChannel, stage: DealStage) -> float:
        """Response rate of `channel` at `stage`, shrunk toward the channel's overall rate."""
        key = (channel, stage)
        return self._smooth(self.channel_response(channel), self._cs_resp[key], self._cs_w[key])

    def advance(self, stage: DealStage) -> float:
        return self._smooth(self.priors.advance, self._st_adv[stage], self._st_w[stage])

    def best_channel(self, stage: DealStage) -> tuple[OutreachChannel, float]:
        """Highest response rate at `stage`; ties go to the earlier channel in SUGGESTABLE."""
        best = max(SUGGESTABLE, key=lambda ch: (self.response(ch, stage), -SUGGESTABLE.index(ch)))
        return best, self.response(best, stage)

    def factor(self, stage: DealStage) -> float:
        _, rate = self.best_channel(stage)
        p = self.priors
        return ((0.5 + rate) / (0.5 + p.response)) * ((0.5 + self.advance(stage)) / (0.5 + p.advance))


def days_since(earlier: datetime | None, at: datetime) -> int:
    """Whole days from `earlier` to `at` (never negative); -1 if `earlier` is None."""
    if earlier is None:
        return -1
    return max(0, math.floor((at - earlier).total_seconds() / 86400))


def stale_boost(days_since_contact: int) -> float:
    if days_since_contact < 0:
        return 1.0 + 1.0  # never contacted: as stale as it gets
    return 1.0 + min(days_since_contact, STALE_CAP_DAYS) / STALE_CAP_DAYS


def close_boost(expected_close: date | None, today: date) -> float:
    if expected_close is None:
        return 1.0
    days = (expected_close - today).days
    if days < 0:
        return 1.5
    if days > CLOSE_HORIZON_DAYS:
        return 1.0
    return 1.0 + 0.5 * (CLOSE_HORIZON_DAYS - days) / CLOSE_HORIZON_DAYS


def _reason(days_contact: int, expected_close: date | None, today: date) -> str:
    parts = ["never contacted" if days_contact < 0 else f"no contact for {days_contact} days"]
    if expected_close is not None:
        days = (expected_close - today).days
        if days < 0:
            parts.append(f"expected close passed {-days} days ago")
        elif days == 0:
            parts.append("closes today")
        elif days <= CLOSE_HORIZON_DAYS:
            parts.append(f"closes in {days} days")
    return ", ".join(parts)


def rank_opportunities(
    deals: Iterable[Deal],
    contacts: Mapping[str, Contact],
    rates: OutreachRates,
    at: datetime,
    today: date,
    limit: int = 3,
) -> list[OutreachOpportunity]:
    """Open deals ranked by adjusted expected value, best first (ties: higher
    expected value, then deal id)."""
    found: list[OutreachOpportunity] = []
    for deal in deals:
        if not deal.stage.is_open:
            continue
        ev = expected_value(deal.value, deal.probability) if deal.value else None
        days_contact = days_since(deal.last_contact_at, at)
        channel, rate = rates.best_channel(deal.stage)
        score = (to_major(ev) if ev else 0.0) * stale_boost(days_contact) * close_boost(deal.expected_close, today)
        score *= rates.factor(deal.stage)
        contact = contacts.get(deal.contact_id)
        step = deal.next_step.strip() or _NEXT_STEP.get(deal.stage, "check in")
        who = contact.name if contact else "the contact"
        found.append(
            OutreachOpportunity(
                deal=deal,
                contact=contact,
                expected_value=ev,
                score=score,
                reason=_reason(days_contact, deal.expected_close, today),
                suggested_next_step=f"{_CHANNEL_ACTION[channel].format(who=who)}: {step}",
                suggested_channel=channel,
                suggested_channel_response_rate=rate,
                days_since_contact=days_contact,
            )
        )
    found.sort(key=lambda o: (-o.score, -(o.expected_value.minor_units if o.expected_value else 0), o.deal.id))
    return found[:limit]
