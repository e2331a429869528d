"""Does the learning model get smarter? A simulated month of traffic.

    python -m bench.learning_sim [--days 30] [--seed 1] [--requests-per-day 2000]
                                 [--out bench/results/learning_sim.json]
                                 [--grpc HOST:PORT | --grpc inprocess]

The world (fixed here, never tuned to flatter the model): 5 backends x 6 topics
with different success rates and lognormal latencies; users with their own topic
mix, a quarter of whom dislike one backend (a successful answer from it satisfies
them only 40% of the time; 15% of successful answers get a thumbs up/down); and
drift on a 30-day timeline (scaled to --days):
  day  6.5-7.5  outage: fast-mini fails every attempt in 0.2 s
  day 10.4      silent regression: code-special on code 95% -> 60% success
  day 15        improvement: local-llama's new version, math 55% -> 90%, code 65% -> 85%
  day 20-22     latency spike: claude-mid 3x slower

Utility of one attempt = satisfied success (0/1) - λ·latency in seconds, with the
model's λ (0.05/s). Regret (expected-utility units) = the oracle's expected
utility (it knows every true rate, the user's dislike and the current latency)
minus the expected utility of the backend the policy chose, summed over requests.
Expected rather than realised utilities are used so that luck cancels out; every
policy also sees the same requests and the same random draws. One attempt per
request (no fallback chain): the first choice is what is measured.

Days to recover after the regression: the regressed topic's traffic is cut into
6-hour bins from the regression on; recovery is the end of the last bin in which
more than 10% of that topic's requests went to the regressed backend, in days
after the regression ("never" if the final bin is still above 10%; "n/a" if the
policy sent at most 10% there in the day before the regression, i.e. it was not
exposed). Adoption of the improved backend is measured the same way (>= 50%).

Policies: the learning model (in-process, fed as the service feeds it: outcomes,
latency of successful attempts, ratings; or a real LearningService over gRPC:
Recommend before each request, RecordInteraction and RecordFeedback after it),
the static fallback order (its first backend: the best single backend by day-0
expected utility, what an informed operator would configure), random,
round-robin, lowest-latency (LiteLLM's strategy) and ε-greedy (ε = 0.1, per topic).
With --grpc HOST:PORT the service decays with its own wall clock, so the
simulated month is laid out to end now; --grpc inprocess starts the real service
here (embedded storage in a temporary directory) on a clock the simulation moves.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from services.learning.model import LearningModel, ModelConfig, Observation
from switchboard.runtime.clock import ManualClock

DAY = 86400.0

BACKENDS: tuple[str, ...] = ("gpt-large", "claude-mid", "code-special", "fast-mini", "local-llama")
TOPICS: tuple[str, ...] = ("code", "general", "quick_question", "creative", "math", "long_context")
TOPIC_MIX: dict[str, float] = {
    "code": 0.25,
    "general": 0.20,
    "quick_question": 0.20,
    "creative": 0.10,
    "math": 0.10,
    "long_context": 0.15,
}
# True technical success rates at day 0 (topic -> backend -> p).
SUCCESS: dict[str, dict[str, float]] = {
    "code": {"gpt-large": 0.90, "claude-mid": 0.88, "code-special": 0.95, "fast-mini": 0.70, "local-llama": 0.65},
    "general": {"gpt-large": 0.93, "claude-mid": 0.93, "code-special": 0.80, "fast-mini": 0.88, "local-llama": 0.85},
    "quick_question": {
        "gpt-large": 0.97,
        "claude-mid": 0.96,
        "code-special": 0.85,
        "fast-mini": 0.95,
        "local-llama": 0.88,
    },
    "creative": {"gpt-large": 0.88, "claude-mid": 0.92, "code-special": 0.70, "fast-mini": 0.75, "local-llama": 0.80},
    "math": {"gpt-large": 0.90, "claude-mid": 0.85, "code-special": 0.85, "fast-mini": 0.60, "local-llama": 0.55},
    "long_context": {
        "gpt-large": 0.92,
        "claude-mid": 0.90,
        "code-special": 0.60,
        "fast-mini": 0.40,
        "local-llama": 0.50,
    },
}
# Median total time (s) per backend, times a per-topic factor; lognormal spread.
LATENCY_MEDIAN_S: dict[str, float] = {
    "gpt-large": 4.0,
    "claude-mid": 2.5,
    "code-special": 2.0,
    "fast-mini": 0.7,
    "local-llama": 1.2,
}
TOPIC_LATENCY_FACTOR: dict[str, float] = {
    "code": 1.3,
    "general": 1.0,
    "quick_question": 0.5,
    "creative": 1.0,
    "math": 1.0,
    "long_context": 2.0,
}
LATENCY_SIGMA = 0.35
OUTAGE_LATENCY_S = 0.2  # connection refused: failures are fast
DISLIKE_SHARE = 0.25  # users who dislike one backend
DISLIKE_SATISFACTION = 0.4  # chance a successful answer from it satisfies them
RATING_PROBABILITY = 0.15  # share of successful answers the user rates (thumbs)
DIURNAL_PEAK_HOUR = 14.0
RECOVERY_BIN_S = 6 * 3600.0
RECOVERY_SHARE = 0.10


@dataclass(frozen=True)
class Event:
    """A change of the world, on the 30-day timeline (scaled to the run's length)."""

    kind: str  # "outage" | "regression" | "improvement" | "latency_spike"
    backend: str
    start_day: float
    end_day: float | None = None  # None: permanent
    success: dict[str, float] = field(default_factory=dict)  # topic -> new rate
    latency_factor: float = 1.0


EVENTS: tuple[Event, ...] = (
    Event("outage", "fast-mini", 6.5, 7.5),
    Event("regression", "code-special", 10.4, success={"code": 0.60}),
    Event("improvement", "local-llama", 15.0, success={"math": 0.90, "code": 0.85}),
    Event("latency_spike", "claude-mid", 20.0, 22.0, latency_factor=3.0),
)


@dataclass(frozen=True)
class User:
    user_id: str
    weight: float
    topic_cdf: tuple[float, ...]
    dislikes: str | None


@dataclass(frozen=True)
class Request:
    index: int
    at_s: float  # seconds since the simulation's start
    user: int
    topic: str
    u_success: float  # common random numbers: the same draws for every policy
    z_latency: float
    u_satisfied: float
    u_rating: float


class World:
    def __init__(self, days: float, seed: int, requests_per_day: int, users: int | None = None) -> None:
        self.days = days
        self.scale = days / 30.0
        self.events = [
            Event(
                e.kind,
                e.backend,
                e.start_day * self.scale,
                None if e.end_day is None else e.end_day * self.scale,
                e.success,
                e.latency_factor,
            )
            for e in EVENTS
        ]
        rng = random.Random(f"world-{seed}")
        n_users = users or max(50, requests_per_day // 10)
        self.users = [self._make_user(rng, i) for i in range(n_users)]
        user_cdf = list(_cumulative([u.weight for u in self.users]))
        self.requests: list[Request] = []
        total = int(round(days * requests_per_day))
        for i in range(total):
            day = i // requests_per_day
            at = day * DAY + _diurnal_second(rng)
            if at >= days * DAY:
                at = days * DAY - 1.0
            user = bisect.bisect_left(user_cdf, rng.random() * user_cdf[-1])
            user = min(user, n_users - 1)
            cdf = self.users[user].topic_cdf
            topic = TOPICS[min(bisect.bisect_left(cdf, rng.random() * cdf[-1]), len(TOPICS) - 1)]
            self.requests.append(
                Request(i, at, user, topic, rng.random(), rng.gauss(0.0, 1.0), rng.random(), rng.random())
            )
        self.requests.sort(key=lambda r: r.at_s)
        self.requests = [
            Request(i, r.at_s, r.user, r.topic, r.u_success, r.z_latency, r.u_satisfied, r.u_rating)
            for i, r in enumerate(self.requests)
        ]
        self.static_order = sorted(BACKENDS, key=lambda b: -self._mix_utility(b))
        self.regression = next(e for e in self.events if e.kind == "regression")
        self.improvement = next(e for e in self.events if e.kind == "improvement")
        self.outage = next(e for e in self.events if e.kind == "outage")

    @staticmethod
    def _make_user(rng: random.Random, i: int) -> User:
        weight = rng.lognormvariate(0.0, 1.0)
        mix = [rng.gammavariate(5.0 * TOPIC_MIX[t], 1.0) for t in TOPICS]
        dislikes = rng.choice(BACKENDS) if rng.random() < DISLIKE_SHARE else None
        return User(f"user-{i:04d}", weight, tuple(_cumulative(mix)), dislikes)

    def _mix_utility(self, backend: str, lam: float = 0.05) -> float:
        return sum(
            TOPIC_MIX[t] * (SUCCESS[t][backend] - lam * self.latency_mean(t, backend, 0.0)) for t in TOPICS
        )

    def _active(self, kind: str, backend: str, day: float) -> Event | None:
        for e in self.events:
            if e.kind != kind or e.backend != backend:
                continue
            if e.start_day <= day and (e.end_day is None or day < e.end_day):
                return e
        return None

    def success_p(self, topic: str, backend: str, day: float) -> float:
        if self._active("outage", backend, day) is not None:
            return 0.0
        p = SUCCESS[topic][backend]
        for kind in ("regression", "improvement"):
            e = self._active(kind, backend, day)
            if e is not None and topic in e.success:
                p = e.success[topic]
        return p

    def satisfaction(self, user: int, backend: str) -> float:
        return DISLIKE_SATISFACTION if self.users[user].dislikes == backend else 1.0

    def latency_median(self, topic: str, backend: str, day: float) -> float:
        m = LATENCY_MEDIAN_S[backend] * TOPIC_LATENCY_FACTOR[topic]
        spike = self._active("latency_spike", backend, day)
        return m * spike.latency_factor if spike is not None else m

    def latency_mean(self, topic: str, backend: str, day: float) -> float:
        if self._active("outage", backend, day) is not None:
            return OUTAGE_LATENCY_S
        return self.latency_median(topic, backend, day) * math.exp(LATENCY_SIGMA**2 / 2.0)

    def expected_utility(self, req: Request, backend: str, lam: float) -> float:
        day = req.at_s / DAY
        p = self.success_p(req.topic, backend, day) * self.satisfaction(req.user, backend)
        return p - lam * self.latency_mean(req.topic, backend, day)

    def outcome(self, req: Request, backend: str) -> tuple[bool, bool, float, float | None]:
        """(technical success, user satisfied, latency s, rating or None) of
        sending `req` to `backend`."""
        day = req.at_s / DAY
        success = req.u_success < self.success_p(req.topic, backend, day)
        if self._active("outage", backend, day) is not None:
            latency = OUTAGE_LATENCY_S
        else:
            latency = self.latency_median(req.topic, backend, day) * math.exp(LATENCY_SIGMA * req.z_latency)
        satisfied = success and req.u_satisfied < self.satisfaction(req.user, backend)
        rating = None
        if success and req.u_rating < RATING_PROBABILITY:
            rating = 1.0 if satisfied else 0.0
        return success, satisfied, latency, rating


def _cumulative(values: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for v in values:
        acc += v
        out.append(acc)
    return out


def _diurnal_second(rng: random.Random) -> float:
    """A second of the day, busier in the afternoon (rejection sampling)."""
    while True:
        s = rng.random() * DAY
        hour = s / 3600.0
        density = 0.35 + 0.65 * (0.5 + 0.5 * math.cos((hour - DIURNAL_PEAK_HOUR) / 24.0 * 2 * math.pi))
        if rng.random() < density:
            return s


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class Attempt:
    """What a policy learns after routing one request."""

    request: Request
    user_id: str
    topic: str
    backend: str
    success: bool
    latency_s: float
    rating: float | None  # thumbs up (1.0) / down (0.0), if the user rated it
    at: datetime


class Policy(Protocol):
    name: str

    def choose(self, user_id: str, topic: str, now: datetime) -> str: ...

    def feedback(self, attempt: Attempt) -> None: ...


class ModelPolicy:
    """The learning model, in-process, on a simulated clock."""

    name = "model"

    def __init__(self, config: ModelConfig, clock: ManualClock, seed: int) -> None:
        self.clock = clock
        self.model = LearningModel(config, clock, random.Random(f"model-{seed}"))
        self.timings_ns: list[int] = []  # wall time of recommend()
        self.cpu_ns: list[int] = []  # its CPU time: what other processes on the machine cannot inflate

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        delta = (now - self.clock.now()).total_seconds()
        if delta > 0:
            self.clock.advance(delta)
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        ranked = self.model.recommend(user_id, topic, BACKENDS)
        self.timings_ns.append(time.perf_counter_ns() - start)
        self.cpu_ns.append(time.thread_time_ns() - cpu)
        return ranked[0].backend

    def feedback(self, attempt: Attempt) -> None:
        a = attempt
        # As the service feeds it: latency of successful attempts only.
        latency = a.latency_s if a.success else None
        self.model.observe(Observation(a.user_id, a.topic, a.backend, a.success, latency, a.at))
        if a.rating is not None:
            self.model.rate(a.user_id, a.topic, a.backend, a.rating, a.at)


class StaticPolicy:
    name = "static"

    def __init__(self, order: Sequence[str]) -> None:
        self.first = order[0]

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        return self.first

    def feedback(self, attempt: Attempt) -> None:
        pass


class RandomPolicy:
    name = "random"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"random-{seed}")

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        return self.rng.choice(BACKENDS)

    def feedback(self, attempt: Attempt) -> None:
        pass


class RoundRobinPolicy:
    name = "round-robin"

    def __init__(self) -> None:
        self.i = 0

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        b = BACKENDS[self.i % len(BACKENDS)]
        self.i += 1
        return b

    def feedback(self, attempt: Attempt) -> None:
        pass


class LowestLatencyPolicy:
    """LiteLLM's lowest-latency strategy (router_strategy/lowest_latency.py):
    per deployment (topic-blind) the mean of its last 10 successful latencies;
    the lowest wins and a deployment with nothing recorded counts as 0 s, so it
    gets tried. Only successes (and timeouts, as 1000 s; this world's failures
    are errors, not timeouts) are recorded; the map expires an hour after the
    last write. LiteLLM's router also cools a deployment down for 60 s after 3
    failures within a minute; at this simulation's request rate that rarely
    triggers, as it would not in a small deployment."""

    name = "lowest-latency"
    WINDOW = 10
    TTL_S = 3600.0
    ALLOWED_FAILS = 3
    COOLDOWN_S = 60.0

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"latency-{seed}")
        self.history: dict[str, deque[float]] = {b: deque(maxlen=self.WINDOW) for b in BACKENDS}
        self.last_write = -math.inf
        self.failures: dict[str, deque[float]] = {b: deque() for b in BACKENDS}
        self.cooldown_until: dict[str, float] = {b: -math.inf for b in BACKENDS}

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        ts = now.timestamp()
        if ts - self.last_write > self.TTL_S:
            for h in self.history.values():
                h.clear()
        usable = [b for b in BACKENDS if self.cooldown_until[b] <= ts] or list(BACKENDS)
        best: list[str] = []
        best_v = math.inf
        for b in usable:
            h = self.history[b]
            v = statistics.fmean(h) if h else 0.0
            if v < best_v:
                best, best_v = [b], v
            elif v == best_v:
                best.append(b)
        return self.rng.choice(best)

    def feedback(self, attempt: Attempt) -> None:
        ts = attempt.at.timestamp()
        if attempt.success:
            self.history[attempt.backend].append(attempt.latency_s)
            self.last_write = ts
            return
        backend = attempt.backend
        fails = self.failures[backend]
        fails.append(ts)
        while fails and ts - fails[0] > 60.0:
            fails.popleft()
        if len(fails) >= self.ALLOWED_FAILS:
            self.cooldown_until[backend] = ts + self.COOLDOWN_S
            fails.clear()


class EpsilonGreedyPolicy:
    """ε-greedy per topic on the mean observed utility (success − λ·latency),
    sample averages (no forgetting), untried backends first."""

    name = "epsilon-greedy"

    def __init__(self, seed: int, lam: float, epsilon: float = 0.1) -> None:
        self.rng = random.Random(f"egreedy-{seed}")
        self.lam = lam
        self.epsilon = epsilon
        self.n: dict[tuple[str, str], int] = {}
        self.mean: dict[tuple[str, str], float] = {}

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        if self.rng.random() < self.epsilon:
            return self.rng.choice(BACKENDS)
        untried = [b for b in BACKENDS if (topic, b) not in self.n]
        if untried:
            return untried[0]
        return max(BACKENDS, key=lambda b: self.mean[(topic, b)])

    def feedback(self, attempt: Attempt) -> None:
        key = (attempt.topic, attempt.backend)
        n = self.n.get(key, 0) + 1
        self.n[key] = n
        reward = (1.0 if attempt.success else 0.0) - self.lam * attempt.latency_s
        self.mean[key] = self.mean.get(key, 0.0) + (reward - self.mean.get(key, 0.0)) / n


# --------------------------------------------------------------------------- running


@dataclass
class PolicyResult:
    name: str
    regret: float = 0.0
    requests: int = 0
    successes: int = 0
    satisfied: int = 0
    latencies: list[float] = field(default_factory=list)
    daily_regret: list[float] = field(default_factory=list)
    regression_bins: list[list[int]] = field(default_factory=list)  # [topic requests, to regressed]
    pre_regression: list[int] = field(default_factory=lambda: [0, 0])
    improvement_bins: list[list[int]] = field(default_factory=list)
    outage: list[int] = field(default_factory=lambda: [0, 0])  # [requests, sent to the down backend]
    dislikers: list[int] = field(default_factory=lambda: [0, 0, 0])  # [requests, satisfied, to disliked]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, static_regret: float | None) -> dict[str, Any]:
        lat = sorted(self.latencies)
        recovery = _recovery_days(self.regression_bins, self.pre_regression)
        out: dict[str, Any] = {
            "policy": self.name,
            "regret": round(self.regret, 2),
            "regret_per_request": round(self.regret / max(1, self.requests), 5),
            "regret_reduction_vs_static": (
                None if not static_regret else round(1.0 - self.regret / static_regret, 4)
            ),
            "success_rate": round(self.successes / max(1, self.requests), 4),
            "satisfied_rate": round(self.satisfied / max(1, self.requests), 4),
            "latency_mean_s": round(statistics.fmean(lat), 3) if lat else None,
            "latency_p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
            "recovery_days": recovery,
            "improvement_adoption_days": _adoption_days(self.improvement_bins),
            "outage_share_to_down_backend": round(self.outage[1] / max(1, self.outage[0]), 4),
            "dislikers_satisfied_rate": round(self.dislikers[1] / max(1, self.dislikers[0]), 4),
            "dislikers_share_to_disliked": round(self.dislikers[2] / max(1, self.dislikers[0]), 4),
            "daily_regret": [round(x, 2) for x in self.daily_regret],
        }
        out.update(self.extra)
        return out


def _recovery_days(bins: list[list[int]], pre: list[int]) -> float | str:
    if pre[0] == 0 or pre[1] / pre[0] <= RECOVERY_SHARE:
        return "n/a"
    shares = [b[1] / b[0] if b[0] else 0.0 for b in bins]
    if not shares or shares[-1] > RECOVERY_SHARE:
        return "never"
    last_bad = max((i for i, s in enumerate(shares) if s > RECOVERY_SHARE), default=-1)
    return round((last_bad + 1) * RECOVERY_BIN_S / DAY, 2)


def _adoption_days(bins: list[list[int]]) -> float | str:
    """Days after the improvement until the improved backend carries at least
    half of the improved topics' traffic in every later 6-hour bin."""
    shares = [b[1] / b[0] if b[0] else 0.0 for b in bins]
    if not shares or shares[-1] < 0.5:
        return "never"
    last_bad = max((i for i, s in enumerate(shares) if s < 0.5), default=-1)
    return round((last_bad + 1) * RECOVERY_BIN_S / DAY, 2)


def run_policy(
    world: World, policy: Policy, start: datetime, lam: float, before: Callable[[datetime], None] | None = None
) -> PolicyResult:
    """Routes every request of `world` with `policy` (on simulated time from
    `start`); `before(now)` runs ahead of each request (e.g. to move a clock)."""
    res = PolicyResult(policy.name)
    days = int(math.ceil(world.days))
    res.daily_regret = [0.0] * days
    reg, imp, out = world.regression, world.improvement, world.outage
    reg_at, imp_at = reg.start_day * DAY, imp.start_day * DAY
    n_reg_bins = int(math.ceil((world.days * DAY - reg_at) / RECOVERY_BIN_S))
    n_imp_bins = int(math.ceil((world.days * DAY - imp_at) / RECOVERY_BIN_S))
    res.regression_bins = [[0, 0] for _ in range(max(0, n_reg_bins))]
    res.improvement_bins = [[0, 0] for _ in range(max(0, n_imp_bins))]
    reg_topic = next(iter(reg.success))
    imp_topics = set(imp.success)
    for req in world.requests:
        now = start + timedelta(seconds=req.at_s)
        if before is not None:
            before(now)
        user = world.users[req.user]
        backend = policy.choose(user.user_id, req.topic, now)
        success, satisfied, latency, rating = world.outcome(req, backend)
        policy.feedback(Attempt(req, user.user_id, req.topic, backend, success, latency, rating, now))

        utilities = [world.expected_utility(req, b, lam) for b in BACKENDS]
        regret = max(utilities) - utilities[BACKENDS.index(backend)]
        res.regret += regret
        res.daily_regret[min(days - 1, int(req.at_s // DAY))] += regret
        res.requests += 1
        res.successes += success
        res.satisfied += satisfied
        res.latencies.append(latency)
        day = req.at_s / DAY
        if req.topic == reg_topic:
            if reg_at - DAY <= req.at_s < reg_at:
                res.pre_regression[0] += 1
                res.pre_regression[1] += backend == reg.backend
            elif req.at_s >= reg_at:
                b = res.regression_bins[min(len(res.regression_bins) - 1, int((req.at_s - reg_at) // RECOVERY_BIN_S))]
                b[0] += 1
                b[1] += backend == reg.backend
        if req.topic in imp_topics and req.at_s >= imp_at:
            b = res.improvement_bins[min(len(res.improvement_bins) - 1, int((req.at_s - imp_at) // RECOVERY_BIN_S))]
            b[0] += 1
            b[1] += backend == imp.backend
        if out.start_day <= day < (out.end_day or math.inf):
            res.outage[0] += 1
            res.outage[1] += backend == out.backend
        if user.dislikes is not None:
            res.dislikers[0] += 1
            res.dislikers[1] += satisfied
            res.dislikers[2] += backend == user.dislikes
    return res


ALL_POLICIES = ("model", "static", "random", "round-robin", "lowest-latency", "epsilon-greedy")


def run_simulation(
    days: float = 30,
    seed: int = 1,
    requests_per_day: int = 2000,
    users: int | None = None,
    policies: Sequence[str] = ALL_POLICIES,
    config: ModelConfig | None = None,
    grpc_target: str | None = None,
) -> dict[str, Any]:
    config = config or ModelConfig()
    lam = config.latency_weight
    world = World(days, seed, requests_per_day, users)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    results: list[PolicyResult] = []
    for name in policies:
        t0 = time.perf_counter()
        if name == "model" and grpc_target is not None:
            res = _run_grpc(world, grpc_target, seed, lam, days)
        elif name == "model":
            clock = ManualClock(start=start)
            pol = ModelPolicy(config, clock, seed)
            res = run_policy(world, pol, start, lam)
            res.extra = {
                "recommend_p50_us": _percentile_us(pol.timings_ns, 0.50),
                "recommend_p99_us": _percentile_us(pol.timings_ns, 0.99),
                "recommend_cpu_p50_us": _percentile_us(pol.cpu_ns, 0.50),
                "recommend_cpu_p99_us": _percentile_us(pol.cpu_ns, 0.99),
                "changes_detected": pol.model.changes_detected,
                "cells": pol.model.cell_count(),
            }
        else:
            res = run_policy(world, _baseline(name, world, seed, lam), start, lam)
        res.extra["wall_s"] = round(time.perf_counter() - t0, 2)
        results.append(res)
    static = next((r for r in results if r.name == "static"), None)
    static_regret = static.regret if static is not None else None
    summaries = [r.summary(static_regret) for r in results]
    model = next((s for s in summaries if s["policy"] == "model"), None)
    goals: dict[str, Any] = {}
    if model is not None and static_regret:
        rec = model["recovery_days"]
        goals = {
            "regret_reduction_vs_static": model["regret_reduction_vs_static"],
            "regret_goal_met": model["regret_reduction_vs_static"] >= 0.70,
            "recovery_days": rec,
            "recovery_goal_met": isinstance(rec, float | int) and rec <= 3.0,
        }
    return {
        "world": {
            "days": days,
            "seed": seed,
            "requests_per_day": requests_per_day,
            "requests": len(world.requests),
            "users": len(world.users),
            "dislikers": sum(1 for u in world.users if u.dislikes),
            "backends": list(BACKENDS),
            "topics": list(TOPICS),
            "static_order": world.static_order,
            "latency_weight_per_s": lam,
            "events": [
                {"kind": e.kind, "backend": e.backend, "start_day": round(e.start_day, 2),
                 "end_day": None if e.end_day is None else round(e.end_day, 2),
                 "success": e.success, "latency_factor": e.latency_factor}
                for e in world.events
            ],
        },
        "model_config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "grpc": grpc_target,
        "policies": summaries,
        "goals": goals,
    }


def _percentile_us(samples_ns: list[int], q: float) -> float:
    ordered = sorted(samples_ns)
    return round(ordered[int(q * (len(ordered) - 1))] / 1000, 1)


def _baseline(name: str, world: World, seed: int, lam: float) -> Policy:
    if name == "static":
        return StaticPolicy(world.static_order)
    if name == "random":
        return RandomPolicy(seed)
    if name == "round-robin":
        return RoundRobinPolicy()
    if name == "lowest-latency":
        return LowestLatencyPolicy(seed)
    if name == "epsilon-greedy":
        return EpsilonGreedyPolicy(seed, lam)
    raise ValueError(f"unknown policy {name!r}")


# --------------------------------------------------------------------------- gRPC


class GrpcModelPolicy:
    """Drives a real LearningService: Recommend before each request,
    RecordInteraction (and RecordFeedback for ratings) after it."""

    name = "model"

    def __init__(self, channel: Any, seed: int) -> None:
        from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc

        self.pb = learning_pb2
        self.stub = learning_pb2_grpc.LearningServiceStub(channel)
        self.seed = seed
        self.timings_ns: list[int] = []

    def choose(self, user_id: str, topic: str, now: datetime) -> str:
        start = time.perf_counter_ns()
        resp = self.stub.Recommend(
            self.pb.RecommendRequest(user_id=user_id, topic=topic, candidate_backends=list(BACKENDS)), timeout=5.0
        )
        self.timings_ns.append(time.perf_counter_ns() - start)
        return resp.ranked[0].backend

    def feedback(self, attempt: Attempt) -> None:
        from google.protobuf.duration_pb2 import Duration
        from google.protobuf.timestamp_pb2 import Timestamp

        pb = self.pb
        occurred = Timestamp()
        occurred.FromDatetime(attempt.at)
        total = Duration()
        total.FromTimedelta(timedelta(seconds=attempt.latency_s))
        if attempt.success:
            outcome = pb.OUTCOME_SUCCESS
        elif attempt.latency_s <= OUTAGE_LATENCY_S:
            outcome = pb.OUTCOME_CONNECTION_ERROR
        else:
            outcome = pb.OUTCOME_SERVER_ERROR
        # Idempotency key: replaying a run against the same service stores nothing twice.
        interaction_id = f"sim-{self.seed}-{attempt.request.index}"
        interaction = pb.Interaction(
            interaction_id=interaction_id,
            request_id=interaction_id,
            user_id=attempt.user_id,
            topic=attempt.topic,
            backend=attempt.backend,
            outcome=outcome,
            attempt=1,
            total_time=total,
            occurred_at=occurred,
        )
        self.stub.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction), timeout=5.0)
        if attempt.rating is not None:
            thumb = pb.THUMB_UP if attempt.rating >= 0.5 else pb.THUMB_DOWN
            feedback = pb.RecordFeedbackRequest(interaction_id=interaction_id, thumb=thumb, occurred_at=occurred)
            self.stub.RecordFeedback(feedback, timeout=5.0)


def _run_grpc(world: World, target: str, seed: int, lam: float, days: float) -> PolicyResult:
    """`target` is host:port of a running LearningService (it decays with its own
    wall clock, so the simulated month is laid out to end now), or "inprocess":
    a real LearningService started here on a port, on a simulated clock."""
    import grpc

    if target != "inprocess":
        start = datetime.now(UTC) - timedelta(days=days)
        with grpc.insecure_channel(target) as channel:
            pol = GrpcModelPolicy(channel, seed)
            res = run_policy(world, pol, start, lam)
    else:
        start = datetime(2026, 3, 2, tzinfo=UTC)
        with _InProcessService(start) as (address, advance_to):
            with grpc.insecure_channel(address) as channel:
                pol = GrpcModelPolicy(channel, seed)
                res = run_policy(world, pol, start, lam, before=advance_to)
    res.extra = {
        "recommend_rpc_p50_us": _percentile_us(pol.timings_ns, 0.50),
        "recommend_rpc_p99_us": _percentile_us(pol.timings_ns, 0.99),
    }
    return res


class _InProcessService:
    """Runs the real learning service (embedded storage in a temporary
    directory) on its own event loop thread, with a ManualClock the simulation
    moves forward."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def __enter__(self) -> tuple[str, Callable[[datetime], None]]:
        import asyncio
        import tempfile
        import threading

        from switchboard.runtime.server import Runtime
        from switchboard.runtime.settings import MeshSettings
        from switchboard.testing.services import start_service

        self._tmp = tempfile.TemporaryDirectory(prefix="learning-sim-")
        self.clock = ManualClock(start=self.start)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        settings = MeshSettings(data_dir=Path(self._tmp.name), log_format="text")
        runtime = Runtime(settings, clock=self.clock)
        self.service = asyncio.run_coroutine_threadsafe(start_service("learning", runtime), self.loop).result(60)

        async def advance(seconds: float) -> None:
            self.clock.advance(seconds)

        def advance_to(now: datetime) -> None:
            delta = (now - self.clock.now()).total_seconds()
            if delta > 0:
                asyncio.run_coroutine_threadsafe(advance(delta), self.loop).result(10)

        return self.service.address, advance_to

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._tmp.cleanup()


# --------------------------------------------------------------------------- report


def format_table(report: dict[str, Any]) -> str:
    head = (
        f"{'policy':<15} {'regret':>8} {'vs static':>9} {'success':>8} {'mean lat':>8} {'p95 lat':>8} "
        f"{'recover':>8} {'adopt':>7} {'disl. ok':>8} {'->disl.':>7}"
    )
    lines = [head, "-" * len(head)]
    for s in report["policies"]:
        red = s["regret_reduction_vs_static"]
        lines.append(
            f"{s['policy']:<15} {s['regret']:>8.1f} {('' if red is None else f'{red:+.0%}'):>9} "
            f"{s['success_rate']:>8.1%} {s['latency_mean_s']:>7.2f}s {s['latency_p95_s']:>7.2f}s "
            f"{_fmt_days(s['recovery_days']):>8} {_fmt_days(s['improvement_adoption_days']):>7} "
            f"{s['dislikers_satisfied_rate']:>8.1%} {s['dislikers_share_to_disliked']:>7.1%}"
        )
    w = report["world"]
    lines.append("")
    lines.append(
        f"{w['requests']} requests over {w['days']} days, {w['users']} users ({w['dislikers']} dislike a backend), "
        f"static order {w['static_order'][0]} first, λ={w['latency_weight_per_s']}/s"
    )
    lines.append(
        "regret: expected-utility regret vs the oracle, summed; vs static: regret reduction; recover: days until "
        f"≤{RECOVERY_SHARE:.0%} of the regressed topic goes to the regressed backend; adopt: days until the improved "
        "backend carries ≥50% of its topics; disl. ok: satisfied-success rate of users who dislike a backend; "
        "->disl.: their share sent to it"
    )
    g = report.get("goals")
    if g:
        lines.append(
            f"goals: regret reduction {g['regret_reduction_vs_static']:.0%} (≥70%: "
            f"{'met' if g['regret_goal_met'] else 'NOT met'}), recovery {_fmt_days(g['recovery_days'])} days "
            f"(≤3: {'met' if g['recovery_goal_met'] else 'NOT met'})"
        )
    m = next((s for s in report["policies"] if s["policy"] == "model"), None)
    if m is not None and "recommend_p99_us" in m:
        lines.append(
            f"model: recommend (5 candidates) p50 {m['recommend_p50_us']} µs, p99 {m['recommend_p99_us']} µs wall, "
            f"p99 {m['recommend_cpu_p99_us']} µs CPU; "
            f"{m['changes_detected']} change alarms; {m['cells']} cells"
        )
    return "\n".join(lines)


def _fmt_days(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float | int) else str(v)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.learning_sim", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests-per-day", type=int, default=2000)
    parser.add_argument("--users", type=int, default=None, help="default: requests-per-day / 10, at least 50")
    parser.add_argument("--out", type=Path, default=Path("bench/results/learning_sim.json"))
    parser.add_argument("--policies", default=",".join(ALL_POLICIES))
    parser.add_argument(
        "--grpc",
        metavar="ADDRESS",
        default=None,
        help="drive a real LearningService at host:port (or 'inprocess': start one here on a simulated clock) "
        "instead of the in-process model",
    )
    args = parser.parse_args(argv)
    report = run_simulation(
        days=args.days,
        seed=args.seed,
        requests_per_day=args.requests_per_day,
        users=args.users,
        policies=[p.strip() for p in args.policies.split(",") if p.strip()],
        grpc_target=args.grpc,
    )
    print(format_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
