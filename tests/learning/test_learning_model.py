"""The learning model (services/learning/model.py), driven directly with a
ManualClock and seeded randomness: decay, shrinkage, ratings, change detection,
determinism, ordering, forgetting, reasons."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.learning.changepoint import BernoulliCusum
from services.learning.model import LearningModel, ModelConfig, Observation
from switchboard.runtime.clock import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = 86400.0


def make(config: ModelConfig | None = None, seed: int = 7) -> tuple[LearningModel, ManualClock]:
    clock = ManualClock(start=T0)
    return LearningModel(config or ModelConfig(), clock, random.Random(seed)), clock


def feed(
    model: LearningModel,
    clock: ManualClock,
    *,
    topic: str,
    backend: str,
    pattern: str,
    latency: float = 1.0,
    users: tuple[str, ...] = ("u1", "u2", "u3"),
    every_s: float = 60.0,
) -> None:
    """Feeds one observation per character of `pattern` ("1" success, "0"
    failure), `every_s` apart, rotating over `users`, moving the clock along."""
    for i, ch in enumerate(pattern):
        clock.advance(every_s)
        model.observe(Observation(users[i % len(users)], topic, backend, ch == "1", latency, clock.now()))


def ranked(model: LearningModel, user: str, topic: str, candidates: list[str]) -> dict[str, object]:
    return {r.backend: r for r in model.recommend(user, topic, candidates, greedy=True)}


# ----------------------------------------------------------------------------- decay


def test_decay_halves_evidence_after_one_half_life() -> None:
    model, clock = make(ModelConfig(half_life_s=7 * DAY))
    feed(model, clock, topic="code", backend="a", pattern="1110" * 10, every_s=1.0)
    s0, f0 = model.topic_counts("code", "a")
    assert (s0, f0) == (pytest.approx(30.0, rel=1e-3), pytest.approx(10.0, rel=1e-3))

    clock.advance(7 * DAY)
    s1, f1 = model.topic_counts("code", "a")
    assert s1 == pytest.approx(s0 / 2, rel=1e-6)
    assert f1 == pytest.approx(f0 / 2, rel=1e-6)

    clock.advance(7 * DAY)
    s2, _ = model.topic_counts("code", "a")
    assert s2 == pytest.approx(s0 / 4, rel=1e-6)


def test_decay_is_lazy_and_an_old_observation_counts_less() -> None:
    model, clock = make(ModelConfig(half_life_s=DAY))
    clock.advance(10 * DAY)
    model.observe(Observation("", "code", "a", True, 1.0, clock.now()))
    # A replayed observation from one half-life ago weighs half as much.
    model.observe(Observation("", "code", "a", False, 1.0, clock.now() - timedelta(days=1)))
    s, f = model.topic_counts("code", "a")
    assert s == pytest.approx(1.0)
    assert f == pytest.approx(0.5)


def test_confidence_falls_as_evidence_ages() -> None:
    model, clock = make(ModelConfig(half_life_s=2 * DAY))
    feed(model, clock, topic="code", backend="a", pattern="1" * 200, users=("",))
    fresh = ranked(model, "", "code", ["a"])["a"]
    clock.advance(10 * DAY)
    old = ranked(model, "", "code", ["a"])["a"]
    assert old.evidence < fresh.evidence / 10
    assert old.confidence < fresh.confidence


# ------------------------------------------------------------------------- shrinkage


def test_new_user_inherits_the_topics_ranking() -> None:
    model, clock = make()
    # Everyone else: "good" succeeds 95% on code, "bad" 60%, same latency.
    feed(model, clock, topic="code", backend="good", pattern="1111111111111111111" + "0", users=("x", "y"))
    feed(model, clock, topic="code", backend="bad", pattern="110" * 7, users=("x", "y"))
    for _ in range(9):
        feed(model, clock, topic="code", backend="good", pattern="1111111111111111111" + "0", users=("x", "y"))
        feed(model, clock, topic="code", backend="bad", pattern="110" * 7, users=("x", "y"))

    first = model.recommend("newcomer", "code", ["bad", "good"], greedy=True)
    assert [r.backend for r in first] == ["good", "bad"]
    assert first[0].level == "topic"
    assert first[0].expected_success == pytest.approx(0.95, abs=0.03)
    assert first[1].expected_success == pytest.approx(0.667, abs=0.05)
    # The newcomer's estimate is exactly the anonymous (topic-level) one.
    anonymous = ranked(model, "", "code", ["bad", "good"])
    assert first[0].expected_success == pytest.approx(anonymous["good"].expected_success)


def test_a_topic_never_seen_for_a_backend_starts_from_its_global_record() -> None:
    model, clock = make()
    feed(model, clock, topic="code", backend="solid", pattern="1" * 60)
    feed(model, clock, topic="code", backend="flaky", pattern="10" * 30)
    r = ranked(model, "someone", "math", ["flaky", "solid", "unknown"])
    assert r["solid"].level == "global"
    assert r["solid"].expected_success > r["flaky"].expected_success
    assert r["unknown"].level == "prior"
    assert r["unknown"].expected_latency_s is None
    assert r["unknown"].confidence == 0.0


# --------------------------------------------------------------------------- ratings


def _rated_models(rating_weight: float) -> tuple[float, float]:
    """(rater's, other user's) expected success for "a" after one thumbs-down."""
    config = ModelConfig(rating_weight=rating_weight, rating_population_weight=0.0)
    model, clock = make(config)
    feed(model, clock, topic="code", backend="a", pattern="1111111110" * 10, users=("rater", "other"))
    before = ranked(model, "rater", "code", ["a"])["a"].expected_success
    other_before = ranked(model, "other", "code", ["a"])["a"].expected_success
    model.rate("rater", "code", "a", 0.0, clock.now())
    after = ranked(model, "rater", "code", ["a"])["a"].expected_success
    other = ranked(model, "other", "code", ["a"])["a"].expected_success
    assert other == pytest.approx(other_before, abs=1e-9)  # nobody else is affected
    return before - after, other


def test_a_rating_weighs_rating_weight_observations_for_the_rater_only() -> None:
    drop_0, _ = _rated_models(0.0)
    drop_10, _ = _rated_models(10.0)
    drop_20, _ = _rated_models(20.0)
    assert drop_0 == pytest.approx(0.0, abs=1e-9)
    assert drop_10 > 0.2  # one thumbs-down counts like ~10 failures for this user
    assert drop_20 > drop_10


def test_a_thumbs_down_steers_that_user_away_on_every_topic() -> None:
    model, clock = make()
    for topic in ("code", "math"):
        feed(model, clock, topic=topic, backend="a", pattern="1111111110" * 6, latency=1.0)
        feed(model, clock, topic=topic, backend="b", pattern="1111111100" * 6, latency=1.0)
    assert model.recommend("picky", "math", ["a", "b"], greedy=True)[0].backend == "a"
    model.rate("picky", "code", "a", 0.0, clock.now())  # rated on code only
    assert model.recommend("picky", "math", ["a", "b"], greedy=True)[0].backend == "b"
    assert model.recommend("someone-else", "math", ["a", "b"], greedy=True)[0].backend == "a"


def test_stars_map_to_a_fraction_and_bad_ratings_are_refused() -> None:
    model, clock = make()
    model.rate("u", "code", "a", (4 - 1) / 4, clock.now())
    with pytest.raises(ValueError):
        model.rate("u", "code", "a", 1.5, clock.now())
    with pytest.raises(ValueError):
        model.rate("u", "code", "a", 1.0, datetime(2026, 1, 1))  # naive


# ------------------------------------------------------------------ change detection


def test_change_detection_drops_stale_evidence_after_a_regression() -> None:
    model, clock = make()
    feed(model, clock, topic="code", backend="a", pattern="1111111111111111111" + "0" * 1 * 1, every_s=300)
    for _ in range(14):
        feed(model, clock, topic="code", backend="a", pattern="1111111111111111111" + "0", every_s=300)
    before = sum(model.topic_counts("code", "a"))
    assert ranked(model, "", "code", ["a"])["a"].expected_success > 0.9
    alarms = model.changes_detected

    feed(model, clock, topic="code", backend="a", pattern="10110" * 12, every_s=300)  # 60% now
    after = ranked(model, "", "code", ["a"])["a"]
    assert model.changes_detected > alarms
    assert sum(model.topic_counts("code", "a")) < before / 3  # the old regime's evidence is gone
    assert after.expected_success < 0.8
    assert "dropped" in after.reason


def test_without_a_change_the_evidence_is_kept() -> None:
    model, clock = make()
    for _ in range(15):
        feed(model, clock, topic="code", backend="a", pattern="1111111111111111111" + "0", every_s=300)
    assert model.changes_detected == 0
    assert sum(model.topic_counts("code", "a")) == pytest.approx(300, rel=0.03)  # ~1 day of decay


def test_an_outage_routes_around_a_backend_and_one_success_ends_it() -> None:
    model, clock = make()
    for backend in ("a", "b"):
        feed(model, clock, topic="code", backend=backend, pattern="1111111111111111111" + "0" * 1)
    for _ in range(10):
        feed(model, clock, topic="code", backend="a", pattern="1111111111111111111" + "0")
        feed(model, clock, topic="code", backend="b", pattern="1111111110")
    assert model.recommend("", "code", ["a", "b"], greedy=True)[0].backend == "a"
    record = model.topic_counts("code", "a")

    feed(model, clock, topic="code", backend="a", pattern="0" * 10)  # hard down
    down = ranked(model, "", "code", ["a", "b"])
    assert down["a"].expected_success < 0.2
    assert down["a"].reason.startswith("down for code")
    assert model.recommend("", "code", ["a", "b"], greedy=True)[0].backend == "b"
    # The record from before the outage is kept, not overwritten by it.
    assert model.topic_counts("code", "a")[0] == pytest.approx(record[0], rel=0.01)

    clock.advance(6 * 3600)  # outage evidence fades: "a" becomes worth a retry
    assert ranked(model, "", "code", ["a"])["a"].expected_success > 0.5
    feed(model, clock, topic="code", backend="a", pattern="1")
    assert model.recommend("", "code", ["a", "b"], greedy=True)[0].backend == "a"


def test_a_latency_spike_is_noticed_within_a_few_samples() -> None:
    model, clock = make()
    feed(model, clock, topic="chat", backend="a", pattern="1" * 300, latency=2.0)
    assert ranked(model, "", "chat", ["a"])["a"].expected_latency_s == pytest.approx(2.0, rel=0.05)
    feed(model, clock, topic="chat", backend="a", pattern="1" * 5, latency=8.0)
    spiked = ranked(model, "", "chat", ["a"])["a"]
    assert spiked.expected_latency_s is not None and spiked.expected_latency_s > 5.0
    assert "slower since" in spiked.reason


def test_cusum_fires_on_a_drop_and_stays_quiet_on_a_stable_stream() -> None:
    rng = random.Random(3)
    stable = BernoulliCusum()
    assert not any(stable.update(rng.random() < 0.9, 0.9, 1.0, 1.0, 8.0, float(i)) for i in range(3000))
    dropping = BernoulliCusum()
    changes = [dropping.update(rng.random() < 0.5, 0.9, 1.0, 1.0, 8.0, float(i)) for i in range(200)]
    fired = next(c for c in changes if c is not None)
    assert fired.direction == -1
    assert fired.failures > 0


# -------------------------------------------------------- sampling, ordering, reasons


def _trained(seed: int) -> tuple[LearningModel, ManualClock]:
    model, clock = make(seed=seed)
    feed(model, clock, topic="code", backend="a", pattern="1110" * 8, latency=1.0)
    feed(model, clock, topic="code", backend="b", pattern="1101" * 8, latency=1.2)
    feed(model, clock, topic="code", backend="c", pattern="10" * 10, latency=0.5)
    return model, clock


def test_seeded_models_rank_identically() -> None:
    first, _ = _trained(seed=11)
    second, _ = _trained(seed=11)
    other, _ = _trained(seed=12)
    runs = [[first.recommend("u1", "code", ["a", "b", "c"]) for _ in range(50)]]
    runs.append([second.recommend("u1", "code", ["a", "b", "c"]) for _ in range(50)])
    runs.append([other.recommend("u1", "code", ["a", "b", "c"]) for _ in range(50)])
    same = [[(r.backend, r.score) for r in rs] for rs in runs[0]]
    assert same == [[(r.backend, r.score) for r in rs] for rs in runs[1]]
    assert same != [[(r.backend, r.score) for r in rs] for rs in runs[2]]
    # Sampling explores: over 50 calls the order is not always the same.
    assert len({tuple(b for b, _ in order) for order in same}) > 1


def test_greedy_ranks_by_expected_value_without_sampling() -> None:
    model, _ = _trained(seed=5)
    rng_state = model._rng.getstate()  # noqa: SLF001 - greedy must not draw
    out = model.recommend("u1", "code", ["c", "b", "a"], greedy=True)
    assert model._rng.getstate() == rng_state  # noqa: SLF001
    lam = model.config.latency_weight
    values = [r.expected_success - lam * (r.expected_latency_s or 0.0) for r in out]
    assert values == sorted(values, reverse=True)
    assert [r.score for r in out] == pytest.approx(values)
    assert not any(r.exploratory for r in out)
    assert out == model.recommend("u1", "code", ["c", "b", "a"], greedy=True)


def test_draws_are_thompson_samples_like_recommend() -> None:
    """A batch of draws is what as many recommend() calls would give: the same
    share of first places per backend, each draw its own sample, and
    `exploratory` exactly when the first is not the best by expected value."""
    drawn, _ = _trained(seed=21)
    asked, _ = _trained(seed=22)
    candidates = ["a", "b", "c"]
    draws = drawn.recommend_and_draw("u1", "code", candidates, 3000)[1]
    calls = [asked.recommend("u1", "code", candidates) for _ in range(3000)]
    assert all(sorted(d.order) == candidates for d in draws)
    for backend in candidates:
        share_drawn = sum(d.order[0] == backend for d in draws) / len(draws)
        share_asked = sum(r[0].backend == backend for r in calls) / len(calls)
        assert share_drawn == pytest.approx(share_asked, abs=0.04), backend
    assert len({d.order for d in draws}) > 1
    best = drawn.recommend("u1", "code", candidates, greedy=True)[0].backend
    assert all(d.exploratory == (d.order[0] != best) for d in draws)
    assert any(d.exploratory for d in draws) and not all(d.exploratory for d in draws)
    assert drawn.recommend_and_draw("u1", "code", candidates, 0)[1] == []
    with pytest.raises(ValueError):
        drawn.recommend_and_draw("u1", "code", ["a", "a"], 2)


def test_every_candidate_is_ranked_once_and_repeats_are_refused() -> None:
    model, _ = _trained(seed=5)
    out = model.recommend("u1", "code", ["a", "new", "b", "c"])
    assert sorted(r.backend for r in out) == ["a", "b", "c", "new"]
    assert all(0.0 <= r.confidence <= 1.0 and 0.0 <= r.expected_success <= 1.0 for r in out)
    with pytest.raises(ValueError):
        model.recommend("u1", "code", ["a", "a"])
    assert model.recommend("u1", "code", []) == []


def test_reasons_read_as_one_line() -> None:
    model, clock = make()
    feed(model, clock, topic="code", backend="a", pattern="1111111111111111110" * 3, latency=1.2, users=("",))
    feed(model, clock, topic="code", backend="b", pattern="1100" * 10, latency=3.0, users=("",))
    clock.advance(2 * DAY)
    out = model.recommend("", "code", ["a", "b", "z"], greedy=True)
    assert out[0].backend == "a"
    best, second, unknown = out[0], *(r for r in out if r.backend == "b"), *(r for r in out if r.backend == "z")
    assert re.fullmatch(r"best for code over the last 3 days: 9\d% success, 1\.2 s", best.reason), best.reason
    assert re.fullmatch(r"(2nd|3rd) for code over the last 3 days: \d+% success, 3\.0 s", second.reason), second.reason
    assert unknown.reason == "no history yet for z: ranked on the prior"
    assert all("\n" not in r.reason for r in out)

    # A user with enough history of their own gets a personal reason.
    for _ in range(6):
        model.rate("fan", "code", "b", 1.0, clock.now())
    mine = ranked(model, "fan", "code", ["a", "b"])
    assert mine["b"].level == "user"
    assert mine["b"].reason.startswith(("best for you on code", "2nd for you on code"))


# ----------------------------------------------------------------- users and sizes


def test_forget_user_drops_their_cells_and_their_preferences() -> None:
    model, clock = make()
    feed(model, clock, topic="code", backend="a", pattern="1" * 30, users=("others",))
    feed(model, clock, topic="code", backend="b", pattern="1" * 30, users=("others",))
    model.observe(Observation("gone", "code", "a", True, 1.0, clock.now()))
    model.observe(Observation("gone", "math", "a", True, 1.0, clock.now()))
    model.rate("gone", "code", "b", 0.0, clock.now())
    before = model.cell_count()
    # (code,a) (math,a) (any,a) (code,b) (any,b)
    assert model.forget_user("gone") == 5
    assert model.cell_count() == before - 5
    assert model.forget_user("gone") == 0
    assert model.forget_user("never-seen") == 0
    assert ranked(model, "gone", "code", ["a", "b"])["b"].level != "user"
    fresh = ranked(model, "fresh", "code", ["a", "b"])
    again = ranked(model, "gone", "code", ["a", "b"])
    assert again["b"].expected_success == pytest.approx(fresh["b"].expected_success)


def test_cell_count_and_anonymous_observations() -> None:
    model, clock = make()
    assert model.cell_count() == 0 and model.updated_at is None
    model.observe(Observation("", "code", "a", True, None, clock.now()))
    assert model.cell_count() == 2  # global + topic, no user cells
    model.observe(Observation("u", "code", "a", True, None, clock.now()))
    assert model.cell_count() == 4  # + (u, code, a) and (u, any topic, a)
    assert model.updated_at == clock.now()
    assert model.known_backends() == ["a"]
    with pytest.raises(ValueError):
        model.observe(Observation("u", "code", "a", True, None, datetime(2026, 1, 1)))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        ModelConfig(half_life_s=0)
    with pytest.raises(ValueError):
        ModelConfig(latency_weight=-1)
    with pytest.raises(ValueError):
        ModelConfig(prior_success=1.0)


def test_a_neglected_backend_gets_an_optimism_bonus() -> None:
    """The bonus optimism_bonus / (1 + recent tries) lifts a backend nobody has
    tried lately, so that one which improved meanwhile gets re-tried."""
    scores = {}
    for bonus in (0.0, 0.05):
        model, clock = make(ModelConfig(optimism_bonus=bonus), seed=3)
        feed(model, clock, topic="code", backend="b", pattern="1" * 20)
        clock.advance(10 * DAY)  # b neglected since: its recent tries have faded
        feed(model, clock, topic="code", backend="a", pattern="1" * 20)
        scores[bonus] = {r.backend: r.score for r in model.recommend("", "code", ["a", "b"])}
    extra = {b: scores[0.05][b] - scores[0.0][b] for b in ("a", "b")}  # same seed: same samples
    assert extra["b"] == pytest.approx(0.05, abs=0.002)
    assert extra["a"] == pytest.approx(0.05 / 21, abs=0.001)
