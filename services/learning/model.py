"""The in-memory model that ranks backends for a (user, topic): it gets smarter
with every interaction. No gRPC, no SQL: the service feeds it and asks it.

What it estimates per backend: the chance that an attempt succeeds (explicit
ratings count too, so "success" is really success-and-satisfied) and the
attempt's expected latency; score = sampled success − λ·expected latency +
optimism bonus.

Levels and shrinkage. Beta counts per backend at the global level and per
(topic, backend); a topic cell's prior is its backend's global posterior mean
with `prior_pseudo_counts` pseudo-observations, and a global cell's prior is the
fleet's (every backend pooled), so a new backend starts as a typical one and a
new topic for a known backend starts from its record. Users get deviations, not
rates: per (user, topic, backend) and per (user, backend) the decayed residuals
of their outcomes and ratings against the topic's expectation, shrunk with the
user prior (`user_prior_pseudo_counts`, default the same 25). So a new user is
routed like everyone from the first request; a user who dislikes a backend is
steered away after a rating or two, on every topic; and when a backend itself
changes, every user's estimate moves with its topic cell at once.

Time. All evidence decays with wall-clock half-life `half_life_s` (latency with
its own, shorter one), applied lazily when a cell is read or written, using the
observation's time on writes and the injected clock on reads.

Exploration. Thompson sampling from the topic cell's Beta posterior (seeded
rng); the user's deviation is added as it is, because per-user sampling would
make every new user explore alone, which costs without teaching anyone. The
optimism bonus `optimism_bonus / (1 + recent tries)` (tries decaying with
`recent_half_life_s`) re-tries a neglected (topic, backend).

Change detection (changepoint.py), per topic cell:
- success: a two-sided Bernoulli CUSUM against the cell's own record. After a
  drop or rise, evidence older than the change is dropped from the cell and
  from its parents. A drop that ends in `outage_min_failures` failures in a row
  is an outage instead: the record is kept, an availability factor
  1 / (1 + recent failures) routes around the backend, the failures fade within
  hours (`outage_half_life_s`) so it is re-tried, and one success ends it.
- latency: a CUSUM on log-latency; after a change the old latency evidence is
  dropped and the new one stays provisional (fading fast) until confirmed, so a
  backend abandoned during a latency spike drifts back and is re-tried.

Everything is O(1) per observation and O(candidates) per recommendation: no
scans, no I/O. Not thread-safe: the service calls it from its event loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.learning.changepoint import BernoulliCusum, Change, LatencyCusum
from services.learning.decay import HalfLife
from switchboard.runtime.clock import Clock

# A change younger than this is worth naming in a reason.
_RECENT_CHANGE_S = 7 * 86400.0

LEVEL_PRIOR = "prior"
LEVEL_GLOBAL = "global"
LEVEL_TOPIC = "topic"
LEVEL_USER = "user"


@dataclass(frozen=True)
class ModelConfig:
    # Evidence loses half its weight every 21 days (~30-day relevance window).
    half_life_s: float = 21 * 86400.0
    # λ: utility lost per second of expected latency (score = success − λ·latency).
    latency_weight: float = 0.05
    # Shrinkage strength global → topic → user, in pseudo-observations.
    prior_pseudo_counts: float = 25.0
    # Shrinkage of user cells towards their topic; None: `prior_pseudo_counts`.
    user_prior_pseudo_counts: float | None = None
    # Weight of a technical outcome (success/failure) in the user's cells:
    # whether an attempt fails is mostly the backend's doing, not the user's,
    # so at the user level it is mostly noise next to the user's own ratings.
    user_outcome_weight: float = 0.25
    # An explicit rating weighs as this many observations in the user's cell...
    rating_weight: float = 10.0
    # ...and as this many in the shared topic/global cells, so that one vocal
    # user cannot swing everyone's routing.
    rating_population_weight: float = 1.0
    # Optimism bonus of a (topic, backend) with no recent tries; it shrinks as
    # 1 / (1 + recent tries), recent tries decaying with `recent_half_life_s`.
    optimism_bonus: float = 0.05
    recent_half_life_s: float = 86400.0
    # CUSUM: threshold h (log-likelihood units) and the size of change it looks
    # for, on the logit scale (1.0 ≈ 95% → 88%, 60% → 36%). h = 8 keeps false
    # alarms on a busy, steady cell to about one in 30,000 observations, while
    # a drop from 95% to 60% is caught within ~25.
    change_threshold: float = 8.0
    change_shift_logit: float = 1.0
    # A detected drop that ends in at least this many failures in a row is an
    # outage, not a regression: outages end, so the backend's record is kept
    # and only an availability factor 1 / (1 + recent failures) routes around
    # it; those failures fade with `outage_half_life_s`, after which it is
    # re-tried (like a breaker's half-open probe), and one success ends it.
    outage_min_failures: float = 5.0
    outage_half_life_s: float = 3600.0
    # Latency estimate: own half-life, and how many pseudo-observations of the
    # parent's (global's, or `prior_latency_s` for global) mean a cell starts with.
    latency_half_life_s: float = 2 * 86400.0
    latency_prior_weight: float = 3.0
    prior_latency_s: float = 2.0
    # Latency change detection (CUSUM on log-latency): alarm threshold, the
    # shift it looks for (ln 2: twice as slow or fast), the assumed spread of
    # log-latency. After a change the old latency evidence is dropped, and the
    # new evidence stays provisional (fading with `latency_change_half_life_s`)
    # until `latency_confirm` samples back it: a backend abandoned because of
    # a spike drifts back to its parent's latency and gets re-tried.
    latency_change_threshold: float = 5.0
    latency_change_shift: float = math.log(2.0)
    latency_log_sigma: float = 0.5
    latency_change_half_life_s: float = 6 * 3600.0
    latency_confirm: float = 10.0
    # A backend's global cell shrinks towards the fleet (every backend pooled)
    # with `prior_pseudo_counts`; the fleet itself starts from this prior (mean,
    # strength in pseudo-observations). So a new backend starts as a typical one
    # and one early failure cannot bury it.
    prior_success: float = 0.8
    global_prior_strength: float = 2.0

    def __post_init__(self) -> None:
        positive = (
            "half_life_s",
            "prior_pseudo_counts",
            "recent_half_life_s",
            "change_threshold",
            "change_shift_logit",
            "latency_half_life_s",
            "outage_half_life_s",
            "latency_change_threshold",
            "latency_change_shift",
            "latency_log_sigma",
            "latency_change_half_life_s",
            "latency_confirm",
            "latency_prior_weight",
            "prior_latency_s",
            "global_prior_strength",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ModelConfig.{name} must be positive")
        for name in (
            "latency_weight",
            "user_outcome_weight",
            "rating_weight",
            "rating_population_weight",
            "optimism_bonus",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"ModelConfig.{name} must not be negative")
        if self.user_prior_pseudo_counts is not None and not self.user_prior_pseudo_counts > 0:
            raise ValueError("ModelConfig.user_prior_pseudo_counts must be positive")
        if not self.outage_min_failures >= 1.0:
            raise ValueError("ModelConfig.outage_min_failures must be at least 1")
        if not 0.0 < self.prior_success < 1.0:
            raise ValueError("ModelConfig.prior_success must be in (0, 1)")


@dataclass(frozen=True)
class Observation:
    """One backend attempt as the model sees it (cancelled and cached attempts
    are not observations: the caller leaves them out)."""

    user_id: str  # "" = anonymous: updates global and topic cells only
    topic: str
    backend: str
    success: bool
    latency_s: float | None  # total time of the attempt; None if unknown
    at: datetime  # timezone-aware; decay uses it, so replays keep their timing
    time_to_first_token_s: float | None = None


@dataclass(frozen=True)
class Draw:
    """One Thompson draw: the candidates in the order it ranks them."""

    order: tuple[str, ...]
    exploratory: bool  # the first is not the best by expected value


@dataclass(frozen=True)
class Ranked:
    backend: str
    score: float
    expected_success: float
    expected_latency_s: float | None  # None: no latency ever observed for the backend
    confidence: float  # 0..1
    reason: str
    exploratory: bool  # ranked above its place by expected value alone
    evidence: float  # effective (decayed, shrinkage-weighted) observations
    level: str  # "prior" | "global" | "topic" | "user"
    expected_ttft_s: float | None = None


class _Cell:
    """Decayed evidence about one backend at the fleet, global or topic level."""

    __slots__ = (
        "t",  # epoch seconds the counts below are decayed to
        "s",  # decayed successes (plus positive rating weight)
        "f",  # decayed failures (plus negative rating weight)
        "recent",  # tries, decayed with the short `recent_half_life_s`
        "lat_w",
        "lat_sum",
        "lat_pw",  # provisional latency evidence since a latency change
        "lat_psum",
        "lat_cusum",
        "lat_changed_at",
        "lat_change_dir",
        "ttft_w",
        "ttft_sum",
        "rating_w",  # decayed ratings: the population's satisfaction baseline
        "rating_sum",
        "first_at",
        "last_at",
        "cusum",
        "changed_at",
        "change_dir",
        "streak",  # failures in a row (topic cells only)
        "down",  # in an outage (topic cells only)
        "f_down",  # failures during the outage, decayed with `outage_half_life_s`
    )

    def __init__(self, t: float, detect: bool) -> None:
        self.t = t
        self.s = self.f = self.recent = 0.0
        self.lat_w = self.lat_sum = self.ttft_w = self.ttft_sum = 0.0
        self.lat_pw = self.lat_psum = 0.0
        self.lat_cusum: LatencyCusum | None = LatencyCusum() if detect else None
        self.lat_changed_at: float | None = None
        self.lat_change_dir = 0
        self.rating_w = self.rating_sum = 0.0
        self.first_at = self.last_at = t
        self.cusum: BernoulliCusum | None = BernoulliCusum() if detect else None
        self.changed_at: float | None = None
        self.change_dir = 0
        self.streak = 0.0
        self.down = False
        self.f_down = 0.0


class _UserCell:
    """How one user's outcomes with a backend deviate from the topic's
    expectation: decayed weight and weighted sum of residuals (outcome − the
    topic cell's mean at the time). Storing the deviation, not the rate, means
    a change of the backend itself (caught at the topic level) reaches every
    user at once, while a user's own dislike stays with them.

    Each user has one per (topic, backend) and one per backend across topics:
    a user who dislikes a backend's answers tends to dislike them on every
    topic, and the cross-topic cell learns that from a few ratings instead of
    a few per topic."""

    __slots__ = ("t", "n", "dev", "first_at", "last_at")

    def __init__(self, t: float) -> None:
        self.t = t
        self.n = self.dev = 0.0
        self.first_at = self.last_at = t


class _Estimate:
    """Everything recommend() works out for one candidate."""

    __slots__ = (
        "backend",
        "mean",
        "sampled",
        "latency",
        "latency_known",
        "ttft",
        "bonus",
        "alpha",  # the Beta posterior a draw samples from (with avail and dev)
        "beta",
        "avail",
        "dev",
        "evidence",
        "level",
        "level_cell",
        "topic_cell",
    )


class LearningModel:
    def __init__(self, config: ModelConfig, clock: Clock, rng: random.Random) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._long = HalfLife(config.half_life_s)
        self._recent = HalfLife(config.recent_half_life_s)
        self._lat = HalfLife(config.latency_half_life_s)
        self._outage = HalfLife(config.outage_half_life_s)
        self._lat_change = HalfLife(config.latency_change_half_life_s)
        self._k = config.prior_pseudo_counts
        self._k_user = config.user_prior_pseudo_counts or config.prior_pseudo_counts
        self._g0 = config.global_prior_strength
        self._a0 = config.prior_success * config.global_prior_strength
        self._fleet = _Cell(-math.inf, detect=False)  # every backend pooled
        self._global: dict[str, _Cell] = {}
        self._topic: dict[tuple[str, str], _Cell] = {}
        # user -> {(topic, backend) | (None, backend): cell}
        self._users: dict[str, dict[tuple[str | None, str], _UserCell]] = {}
        self._user_cells = 0
        self._updated_at: datetime | None = None
        self._updated_ts = -math.inf
        self.changes_detected = 0  # diagnostics: CUSUM alarms so far

    @property
    def config(self) -> ModelConfig:
        return self._config

    # ------------------------------------------------------------------ writes

    def observe(self, obs: Observation) -> None:
        """Absorbs one attempt: O(1), touching at most four cells."""
        if obs.at.tzinfo is None:
            raise ValueError("Observation.at must be timezone-aware")
        if obs.latency_s is not None and not obs.latency_s >= 0:
            raise ValueError("Observation.latency_s must not be negative")
        ts = obs.at.timestamp()
        fleet, g, t = self._population_cells(obs.topic, obs.backend, ts)
        # Means before this observation: the detector's reference p0 and the
        # expectation the user's residual is measured against.
        w_f = self._bring(fleet, ts)
        w_g = self._bring(g, ts)
        w_t = self._bring(t, ts)
        if ts > self._updated_ts:
            self._updated_ts = ts
            self._updated_at = obs.at
        if t.down:
            if not obs.success:
                # Still down: only the outage evidence grows; the backend's
                # record, its users' cells and its latency stay as they were.
                t.f_down += self._outage.factor(t.t - ts)
                self._touch(t, ts)
                return
            # Back up: the outage is over, and the record it kept stands.
            t.down = False
            t.f_down = 0.0
            t.changed_at, t.change_dir = None, 0
            assert t.cusum is not None
            t.cusum.reset()
        m_t = self._topic_mean(fleet, g, t)
        outcome = 1.0 if obs.success else 0.0

        self._add(fleet, obs.success, w_f, ts)
        self._add(g, obs.success, w_g, ts)
        # The detector compares against the cell's own record (lightly
        # shrunk), not the prior-heavy mean: a neglected cell's prior says
        # little about the regime its few recent tries came from.
        p0 = (t.s + 2.0 * m_t) / (t.s + t.f + 2.0)
        self._detect_and_add(t, (fleet, g), obs.success, p0, w_t, ts)
        if obs.user_id:
            for u in self._user_cells_for(obs.user_id, obs.topic, obs.backend, ts):
                w_u = self._bring_user(u, ts) * self._config.user_outcome_weight
                u.n += w_u
                u.dev += w_u * (outcome - m_t)

        if obs.latency_s is not None:
            _, expected = self._latency_chain(fleet, g, t)
            for cell in (fleet, g):
                lw = self._lat.factor(cell.t - ts)
                cell.lat_w += lw
                cell.lat_sum += lw * obs.latency_s
            self._add_latency(t, obs.latency_s, expected, ts)
        ttft = obs.time_to_first_token_s
        if ttft is not None and ttft >= 0:
            for cell in (fleet, g, t):
                lw = self._lat.factor(cell.t - ts)
                cell.ttft_w += lw
                cell.ttft_sum += lw * ttft

    def rate(self, user_id: str, topic: str, backend: str, positive: float, at: datetime) -> None:
        """An explicit rating in [0, 1] (thumbs: 0/1; stars: (s-1)/4).

        In the user's cell it weighs `rating_weight` observations, measured
        against how satisfied everyone else is with this backend on this topic
        (so a user who rates everything well gains no bias); in the shared
        cells it weighs `rating_population_weight` observations, so one vocal
        user cannot swing everyone's routing. Ratings are about satisfaction,
        not availability, so they bypass change detection."""
        self._rate(user_id, topic, backend, positive, at, 1.0)

    def retract_rating(self, user_id: str, topic: str, backend: str, positive: float, at: datetime) -> None:
        """Takes back an earlier `rate` with the same arguments (a rating that was
        replaced, or counted twice): its weight, decayed as it has decayed since,
        comes off again. Exact for the shared counts; the user's deviation is
        taken back against today's baseline, which has moved a little since."""
        if (topic, backend) in self._topic:
            self._rate(user_id, topic, backend, positive, at, -1.0)

    def _rate(self, user_id: str, topic: str, backend: str, positive: float, at: datetime, sign: float) -> None:
        if not 0.0 <= positive <= 1.0:
            raise ValueError("a rating must be in [0, 1]")
        if at.tzinfo is None:
            raise ValueError("a rating's time must be timezone-aware")
        ts = at.timestamp()
        cfg = self._config
        fleet, g, t = self._population_cells(topic, backend, ts)
        weights = [self._bring(cell, ts) for cell in (fleet, g, t)]

        def baseline() -> float:
            m_t = self._topic_mean(fleet, g, t)
            return (2.0 * m_t + t.rating_sum) / (2.0 + t.rating_w)

        # The user's residual is against the baseline without this rating:
        # before adding it, after taking it back.
        before = baseline() if sign > 0 else 0.0
        for cell, w in zip((fleet, g, t), weights, strict=True):
            w *= cfg.rating_population_weight * sign
            cell.s = max(0.0, cell.s + w * positive)
            cell.f = max(0.0, cell.f + w * (1.0 - positive))
            if ts > cell.last_at:
                cell.last_at = ts
        t.rating_w = max(0.0, t.rating_w + sign * weights[2])
        t.rating_sum = max(0.0, t.rating_sum + sign * weights[2] * positive)
        if not user_id or (sign < 0 and user_id not in self._users):
            return
        if sign < 0:
            before = baseline()
        for u in self._user_cells_for(user_id, topic, backend, ts):
            w_u = self._bring_user(u, ts) * cfg.rating_weight * sign
            u.n += w_u
            u.dev += w_u * (positive - before)
            if u.n <= 1e-9:
                u.n = u.dev = 0.0

    def forget_user(self, user_id: str) -> int:
        """Drops every cell of the user; returns how many there were."""
        cells = self._users.pop(user_id, None)
        if not cells:
            return 0
        self._user_cells -= len(cells)
        return len(cells)

    # ------------------------------------------------------------------- reads

    def _estimates(
        self, user_id: str, topic: str, candidates: Sequence[str], greedy: bool, now: float
    ) -> list[_Estimate]:
        if len(set(candidates)) != len(candidates):
            raise ValueError("candidates must not repeat")
        user_cells = self._users.get(user_id) if user_id else None
        fleet = self._fleet
        self._bring(fleet, now)
        m_f = (self._a0 + fleet.s) / (self._g0 + fleet.s + fleet.f)
        return [self._estimate(user_cells, topic, b, now, greedy, m_f) for b in candidates]

    def recommend_and_draw(
        self, user_id: str, topic: str, candidates: Sequence[str], count: int
    ) -> tuple[list[Ranked], list[Draw]]:
        """recommend() (sampled) and `count` further independent draws, from
        estimates worked out once: only the sampling is repeated, so a caller can
        keep a few draws per call."""
        now = self._clock.now().timestamp()
        estimates = self._estimates(user_id, topic, candidates, False, now)
        return self._ranked(estimates, topic, False, now), self._draws(estimates, count)

    def recommend(
        self, user_id: str, topic: str, candidates: Sequence[str], *, greedy: bool = False
    ) -> list[Ranked]:
        """Ranks `candidates` for (user, topic), best first. Thompson sampling
        (from the injected rng) unless `greedy`, which ranks by expected value."""
        now = self._clock.now().timestamp()
        return self._ranked(self._estimates(user_id, topic, candidates, greedy, now), topic, greedy, now)

    def _draws(self, estimates: list[_Estimate], count: int) -> list[Draw]:
        if count <= 0:
            return []
        if not estimates:
            return [Draw((), False) for _ in range(count)]
        lam = self._config.latency_weight
        best = max(estimates, key=lambda e: e.mean - lam * e.latency)  # the first by value, as in _ranked()
        out: list[Draw] = []
        for _ in range(count):
            scores = {id(e): self._sample(e) - lam * e.latency + e.bonus for e in estimates}
            ranked = sorted(estimates, key=lambda e: scores[id(e)], reverse=True)
            out.append(Draw(tuple(e.backend for e in ranked), ranked[0] is not best))
        return out

    def _ranked(self, estimates: list[_Estimate], topic: str, greedy: bool, now: float) -> list[Ranked]:
        lam = self._config.latency_weight
        by_value = sorted(estimates, key=lambda e: e.mean - lam * e.latency, reverse=True)
        value_rank = {id(e): i for i, e in enumerate(by_value)}
        if greedy:
            ranked = by_value
        else:
            ranked = sorted(estimates, key=lambda e: e.sampled - lam * e.latency + e.bonus, reverse=True)
        out: list[Ranked] = []
        for rank, e in enumerate(ranked):
            exploratory = rank < value_rank[id(e)]
            score = (e.mean if greedy else e.sampled + e.bonus) - lam * e.latency
            out.append(
                Ranked(
                    backend=e.backend,
                    score=score,
                    expected_success=e.mean,
                    expected_latency_s=e.latency if e.latency_known else None,
                    confidence=e.evidence / (e.evidence + self._k),
                    reason=self._reason(e, topic, value_rank[id(e)], exploratory, now),
                    exploratory=exploratory,
                    evidence=e.evidence,
                    level=e.level,
                    expected_ttft_s=e.ttft,
                )
            )
        return out

    def topic_counts(self, topic: str, backend: str) -> tuple[float, float]:
        """Decayed (successes, failures) of a (topic, backend) cell as of the
        clock's now, ratings included; (0, 0) if unknown. For displays and tests."""
        t = self._topic.get((topic, backend))
        if t is None:
            return 0.0, 0.0
        self._bring(t, self._clock.now().timestamp())
        return t.s, t.f

    def known_backends(self) -> list[str]:
        """Every backend the model has evidence about (for "rank them all")."""
        return list(self._global)

    def cell_count(self) -> int:
        return len(self._global) + len(self._topic) + self._user_cells

    @property
    def updated_at(self) -> datetime | None:
        """Time of the newest observation absorbed, None before the first."""
        return self._updated_at

    # -------------------------------------------------------------- internals

    def _population_cells(self, topic: str, backend: str, ts: float) -> tuple[_Cell, _Cell, _Cell]:
        g = self._global.get(backend)
        if g is None:
            g = self._global[backend] = _Cell(ts, detect=False)
        key = (topic, backend)
        t = self._topic.get(key)
        if t is None:
            t = self._topic[key] = _Cell(ts, detect=True)
        return self._fleet, g, t

    def _user_cells_for(self, user_id: str, topic: str, backend: str, ts: float) -> tuple[_UserCell, _UserCell]:
        """The user's (topic, backend) and (any topic, backend) cells, created if new."""
        cells = self._users.get(user_id)
        if cells is None:
            cells = self._users[user_id] = {}
        out = []
        for key in ((topic, backend), (None, backend)):
            u = cells.get(key)
            if u is None:
                u = cells[key] = _UserCell(ts)
                self._user_cells += 1
            if ts > u.last_at:
                u.last_at = ts
            out.append(u)
        return out[0], out[1]

    def _latency_chain(self, fleet: _Cell, g: _Cell | None, t: _Cell | None) -> tuple[float, float]:
        """Expected latency at the global and topic level (each shrunk to its parent)."""
        cfg = self._config
        w0 = cfg.latency_prior_weight
        lat = (w0 * cfg.prior_latency_s + fleet.lat_sum) / (w0 + fleet.lat_w)
        if g is not None and g.lat_w > 0.0:
            lat = (w0 * lat + g.lat_sum) / (w0 + g.lat_w)
        lat_g = lat
        if t is not None and (t.lat_w > 0.0 or t.lat_pw > 0.0):
            lat = (w0 * lat + t.lat_sum + t.lat_psum) / (w0 + t.lat_w + t.lat_pw)
        return lat_g, lat

    def _add_latency(self, t: _Cell, latency_s: float, expected_s: float, ts: float) -> None:
        cfg = self._config
        assert t.lat_cusum is not None
        # A cell with almost no latency evidence has nothing stale to drop.
        watched = t.lat_w + t.lat_pw >= 3.0
        change = None if not watched else t.lat_cusum.update(
            latency_s,
            expected_s,
            self._lat.factor(t.t - ts),
            cfg.latency_change_shift,
            cfg.latency_log_sigma,
            cfg.latency_change_threshold,
            ts,
        )
        if change is not None:
            # Drop the old latency evidence; the run since the change starts
            # the provisional evidence.
            self.changes_detected += 1
            t.lat_w = t.lat_sum = 0.0
            t.lat_pw, t.lat_psum = change.weight, change.total_s
            t.lat_changed_at, t.lat_change_dir = change.since, change.direction
            return
        if t.lat_pw > 0.0:
            w = self._lat_change.factor(t.t - ts)
            t.lat_pw += w
            t.lat_psum += w * latency_s
            if t.lat_pw >= cfg.latency_confirm:  # confirmed: ordinary evidence from now on
                t.lat_w += t.lat_pw
                t.lat_sum += t.lat_psum
                t.lat_pw = t.lat_psum = 0.0
            return
        w = self._lat.factor(t.t - ts)
        t.lat_w += w
        t.lat_sum += w * latency_s

    def _topic_mean(self, fleet: _Cell, g: _Cell, t: _Cell) -> float:
        k = self._k
        m_f = (self._a0 + fleet.s) / (self._g0 + fleet.s + fleet.f)
        m_g = (k * m_f + g.s) / (k + g.s + g.f)
        return (k * m_g + t.s) / (k + t.s + t.f)

    def _bring(self, cell: _Cell, ts: float) -> float:
        """Decays `cell` up to `ts` and returns the weight a new observation made
        at `ts` gets (1, or less when it is older than the cell's clock)."""
        dt = ts - cell.t
        if dt < 0.0:
            return self._long.factor(-dt)
        if dt > 0.0:
            f = self._long.factor(dt)
            cell.s *= f
            cell.f *= f
            cell.rating_w *= f
            cell.rating_sum *= f
            if cell.cusum is not None:
                cell.cusum.decay(f)
            cell.recent *= self._recent.factor(dt)
            fl = self._lat.factor(dt)
            cell.lat_w *= fl
            cell.lat_sum *= fl
            cell.ttft_w *= fl
            cell.ttft_sum *= fl
            if cell.lat_cusum is not None:
                cell.lat_cusum.decay(fl)
                if cell.lat_pw:
                    fp = self._lat_change.factor(dt)
                    cell.lat_pw *= fp
                    cell.lat_psum *= fp
            if cell.f_down:
                cell.f_down *= self._outage.factor(dt)
            cell.t = ts
        return 1.0

    def _bring_user(self, u: _UserCell, ts: float) -> float:
        dt = ts - u.t
        if dt < 0.0:
            return self._long.factor(-dt)
        if dt > 0.0:
            f = self._long.factor(dt)
            u.n *= f
            u.dev *= f
            u.t = ts
        return 1.0

    def _add(self, cell: _Cell, success: bool, weight: float, ts: float) -> None:
        if success:
            cell.s += weight
        else:
            cell.f += weight
        self._touch(cell, ts)

    def _touch(self, cell: _Cell, ts: float) -> None:
        """Counts a try (for the optimism bonus) and its time."""
        cell.recent += self._recent.factor(cell.t - ts)
        if ts > cell.last_at:
            cell.last_at = ts

    def _detect_and_add(
        self, cell: _Cell, parents: tuple[_Cell, _Cell], success: bool, p0: float, weight: float, ts: float
    ) -> None:
        """Feeds the topic cell's detector, then adds the observation; on a
        change, drops the stale evidence here and from the parents (a
        backend's global record is the sum of its topic records, and the same
        stale evidence must not come back as this cell's prior)."""
        assert cell.cusum is not None
        change: Change | None = cell.cusum.update(
            success,
            p0,
            weight,
            self._config.change_shift_logit,
            self._config.change_threshold,
            ts,
        )
        if change is None:
            self._add(cell, success, weight, ts)
            cell.streak = 0.0 if success else cell.streak + weight
            return
        self.changes_detected += 1
        cell.changed_at = change.since
        cell.change_dir = change.direction
        if change.direction < 0 and cell.streak + weight >= self._config.outage_min_failures and not success:
            # An outage: keep the record from before it, and hold the failures
            # in a row (this one included) as outage evidence instead.
            cell.down = True
            cell.f = max(0.0, cell.f - cell.streak)
            for parent in parents:
                parent.f = max(0.0, parent.f - cell.streak - weight)
            cell.f_down = cell.streak + weight
            cell.streak = 0.0
            self._touch(cell, ts)
            return
        # Keep only the evidence since the change began (it already includes
        # this observation); everything older described the old regime.
        stale_s = max(0.0, cell.s - (change.successes - (weight if success else 0.0)))
        stale_f = max(0.0, cell.f - (change.failures - (0.0 if success else weight)))
        for parent in parents:
            parent.s = max(0.0, parent.s - stale_s)
            parent.f = max(0.0, parent.f - stale_f)
        cell.s = change.successes
        cell.f = change.failures
        cell.streak = 0.0 if success else cell.streak + weight
        cell.rating_w = cell.rating_sum = 0.0
        self._touch(cell, ts)

    def _estimate(
        self,
        user_cells: dict[tuple[str | None, str], _UserCell] | None,
        topic: str,
        backend: str,
        now: float,
        greedy: bool,
        m_f: float,
    ) -> _Estimate:
        cfg = self._config
        k, k_user = self._k, self._k_user
        key = (topic, backend)

        g = self._global.get(backend)
        gs = gn = 0.0
        ttft_g: float | None = None
        latency_known = False
        if g is not None:
            self._bring(g, now)
            gs, gn = g.s, g.s + g.f
            latency_known = g.lat_w > 0.0
            if g.ttft_w > 0.0:
                ttft_g = g.ttft_sum / g.ttft_w
        m_g = (k * m_f + gs) / (k + gn)

        t = self._topic.get(key)
        ts_ = tf = 0.0
        ttft = ttft_g
        recent = 0.0
        if t is not None:
            self._bring(t, now)
            ts_, tf = t.s, t.f
            recent = t.recent
            if t.ttft_w > 0.0:
                base = ttft_g if ttft_g is not None else t.ttft_sum / t.ttft_w
                ttft = (cfg.latency_prior_weight * base + t.ttft_sum) / (cfg.latency_prior_weight + t.ttft_w)
        _, latency = self._latency_chain(self._fleet, g, t)
        tn = ts_ + tf
        m_t = (k * m_g + ts_) / (k + tn)
        lam_t = k / (k + tn)
        # Chance it is up: 1 unless in an outage, then falling with each recent failure.
        avail = 1.0 / (1.0 + t.f_down) if t is not None and t.down else 1.0

        # The user's shrunk deviation from the topic: a cross-topic part for
        # the backend, plus what this topic adds to it.
        user_cell: _UserCell | None = None
        un = dev = 0.0
        if user_cells is not None:
            ub = user_cells.get((None, backend))
            if ub is not None:
                self._bring_user(ub, now)
                dev = ub.dev / (k_user + ub.n)
                un, user_cell = ub.n, ub
            u = user_cells.get(key)
            if u is not None:
                self._bring_user(u, now)
                dev += (u.dev - u.n * dev) / (k_user + u.n)
                if u.n >= un:
                    un, user_cell = u.n, u
        lam_u = k_user / (k_user + un)

        e = _Estimate()
        e.backend = backend
        e.mean = avail * _clamp(m_t + dev)
        e.latency = latency
        e.latency_known = latency_known
        e.ttft = ttft
        e.topic_cell = t
        e.alpha, e.beta, e.avail, e.dev = k * m_g + ts_, k * (1.0 - m_g) + tf, avail, dev
        if greedy:
            e.sampled = e.mean
            e.bonus = 0.0
        else:
            e.sampled = self._sample(e)
            e.bonus = cfg.optimism_bonus / (1.0 + recent)
        # Evidence: own observations plus the parents', as far as the estimate
        # still leans on them (the shrinkage weights).
        e.evidence = un + lam_u * (tn + lam_t * gn)
        if gn == 0.0 and tn == 0.0 and un == 0.0:
            e.level, e.level_cell = LEVEL_PRIOR, None
        else:
            w_user = 1.0 - lam_u
            w_topic = lam_u * (1.0 - lam_t)
            w_global = lam_u * lam_t
            if w_user >= w_topic and w_user >= w_global:
                e.level, e.level_cell = LEVEL_USER, user_cell
            elif w_topic >= w_global:
                e.level, e.level_cell = LEVEL_TOPIC, t
            else:
                e.level, e.level_cell = LEVEL_GLOBAL, g
        return e

    def _sample(self, e: _Estimate) -> float:
        return e.avail * _clamp(self._rng.betavariate(e.alpha, e.beta) + e.dev)

    def _reason(self, e: _Estimate, topic: str, value_rank: int, exploratory: bool, now: float) -> str:
        if e.level == LEVEL_PRIOR:
            return f"no history yet for {e.backend}: ranked on the prior"
        facts = f"{_pct(e.mean)} success, {_secs(e.latency)}"
        if exploratory:
            return (
                f"exploring: {_ordinal(value_rank + 1)} on expected value for {topic} ({facts}), "
                "re-tried to keep its estimate fresh"
            )
        standing = "best" if value_rank == 0 else _ordinal(value_rank + 1)
        t = e.topic_cell
        if t is not None and t.down and t.changed_at is not None:
            ago = _ago(now - t.changed_at)
            return f"down for {topic} since {ago}: recent attempts all failed, re-tried now and then"
        if t is not None and t.lat_changed_at is not None and now - t.lat_changed_at < _RECENT_CHANGE_S:
            facts += f" ({'slower' if t.lat_change_dir > 0 else 'faster'} since {_ago(now - t.lat_changed_at)})"
        if t is not None and t.changed_at is not None and now - t.changed_at < _RECENT_CHANGE_S:
            what = "dropped" if t.change_dir < 0 else "rose"
            return f"{standing} for {topic} since its success {what} {_ago(now - t.changed_at)}: {facts}"
        if e.level == LEVEL_GLOBAL:
            return f"{standing} for {topic} on its record across all topics: {facts}"
        cell = e.level_cell
        assert cell is not None
        since = cell.first_at
        if e.level == LEVEL_TOPIC and t is not None and t.changed_at is not None:
            since = max(since, t.changed_at)  # older evidence was dropped then
        window = _days(min(self._long.mean_lifetime_s(), now - since))
        who = f"for you on {topic}" if e.level == LEVEL_USER else f"for {topic}"
        return f"{standing} {who} over the last {window}: {facts}"


def _clamp(p: float) -> float:
    return 0.0 if p < 0.0 else 1.0 if p > 1.0 else p


def _pct(p: float) -> str:
    return f"{round(p * 100)}%"


def _secs(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{round(s)} s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _days(seconds: float) -> str:
    days = max(1, math.ceil(seconds / 86400.0 - 1e-9))
    return "day" if days == 1 else f"{days} days"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"
