"""GetUserProfile, GetInsights, GetTimeSaved and ForgetUser over gRPC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from learning_support import T0, count, durp, interaction, settings, stub, tsp, violations_of


@pytest.fixture
async def svc(serve, any_db_url: str, tmp_path: Path, clock: ManualClock):
    running = await serve("learning", settings=settings(tmp_path / "data", any_db_url), clock=clock)
    return stub(running)


def at(day: int, hour: int) -> datetime:
    """`day` days before T0, at `hour`:30 UTC."""
    return (T0 - timedelta(days=day)).replace(hour=hour, minute=30)


async def test_profile_of_a_user(svc, clock: ManualClock) -> None:
    batch = []
    for n in range(12):
        batch.append(
            interaction(
                f"p{n}", request_id=f"r{n}", attempt=1, topic="code" if n < 9 else "math", user="alice",
                at=at(n % 3 + 1, 8 if n % 4 else 13), prompt_chars=100 + n, prompt_tokens=20,
                completion_tokens=80, backend="alpha" if n % 2 else "beta", ok=n != 3,
            )
        )
    batch.append(interaction("p0-fallback", request_id="r0", attempt=2, fallback=True, user="alice", at=at(1, 8)))
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    for n in (1, 5, 7):
        await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id=f"p{n}", thumb=pb.THUMB_UP))
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="p2", stars=2))

    p = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice", time_zone="Europe/Paris"))
    assert p.user_id == "alice" and p.interaction_count == 12  # the fallback attempt is not a request
    assert [(t.topic, t.count) for t in p.topic_mix] == [("code", 9), ("math", 3)]
    assert p.topic_mix[0].share == pytest.approx(0.75)
    assert p.time_zone == "Europe/Paris" and len(p.hour_histogram) == 24
    assert p.hour_histogram[9] == 9 and p.hour_histogram[14] == 3  # 08:30 and 13:30 UTC in Paris (UTC+1)
    assert list(p.peak_hours) == [9, 14]
    assert p.style.mean_prompt_chars == pytest.approx(105.5)
    assert p.style.mean_completion_tokens == pytest.approx(80)
    assert p.style.preferred_answer_length == pb.ANSWER_LENGTH_SHORT
    assert p.style.preferred_completion_tokens == 80
    assert p.satisfaction.rated_count == 4 and p.satisfaction.thumbs_up == 3 and p.satisfaction.mean_stars == 2
    assert 0 < p.satisfaction.score < 1
    assert {b.backend for b in p.preferred_backends if not b.topic} == {"alpha", "beta"}
    assert p.preferred_backends[0].backend == "alpha"  # every try succeeded and was liked
    assert "concise" in p.personalisation_hint and "code" in p.personalisation_hint
    assert p.first_seen.ToDatetime(tzinfo=UTC) == at(3, 8) and p.last_seen.ToDatetime(tzinfo=UTC) == at(1, 13)
    # Reused while nothing changes; recomputed when the user has new data.
    assert await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice", time_zone="Europe/Paris")) == p
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("p99", user="alice", topic="math")))
    newer = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice", time_zone="Europe/Paris"))
    assert newer.interaction_count == 13


async def test_profile_of_an_unknown_user_and_bad_input(svc) -> None:
    p = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="ghost"))
    assert p.interaction_count == 0 and list(p.hour_histogram) == [0] * 24 and p.time_zone == "UTC"
    assert not p.HasField("first_seen") and p.satisfaction.score < 0 and p.personalisation_hint == ""
    code, v = await violations_of(svc.GetUserProfile(pb.GetUserProfileRequest(user_id="ghost", time_zone="Mars/Base")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "time_zone" in v
    code, v = await violations_of(svc.GetUserProfile(pb.GetUserProfileRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in v


async def test_insights_over_two_weeks(svc, clock: ManualClock) -> None:
    batch = []
    for day in range(1, 15):
        for n in range(10):
            # alpha: fine last week, then a regression this week; beta steady.
            alpha_ok = n < 9 if day > 7 else n % 2 == 0
            at_ = T0 - timedelta(days=day) + timedelta(minutes=n * 30)
            batch.append(interaction(f"a{day}-{n}", backend="alpha", ok=alpha_ok, at=at_, user=f"u{n}",
                                     prompt_tokens=10, completion_tokens=5, cost_usd=0.01))
            batch.append(interaction(f"b{day}-{n}", backend="beta", ok=n < 8, at=at_, topic="math", total_s=2.0))
    batch.append(interaction("cached", was_cached=True, at=T0 - timedelta(hours=1)))
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="a1-0", thumb=pb.THUMB_UP))

    r = await svc.GetInsights(pb.GetInsightsRequest())  # the last 7 days up to now
    assert r.window_end.ToDatetime(tzinfo=UTC) == T0 and r.window_start.ToDatetime(tzinfo=UTC) == T0 - timedelta(days=7)
    assert r.overall.attempt_count == 140  # the cached answer is not an attempt
    assert r.overall.success_count == 35 + 56
    assert r.overall.success_rate == pytest.approx(91 / 140)
    assert r.overall.prompt_tokens == 700 and r.overall.cost_usd == pytest.approx(0.7)
    assert r.overall.satisfaction.thumbs_up == 1
    assert r.overall.total_time.sample_count == 91
    assert [(o.outcome, o.count) for o in r.overall.outcomes] == [
        (pb.OUTCOME_SUCCESS, 91), (pb.OUTCOME_SERVER_ERROR, 49)
    ]
    cells = {(c.backend, c.topic): c for c in r.cells}
    assert cells[("alpha", "code")].stats.success_rate == pytest.approx(0.5)
    assert cells[("alpha", "code")].trend.direction == pb.TREND_DIRECTION_DEGRADING
    assert cells[("alpha", "code")].trend.success_rate_previous_week == pytest.approx(0.9)
    assert cells[("beta", "math")].trend.direction == pb.TREND_DIRECTION_STABLE
    assert cells[("beta", "math")].stats.total_time.p50.ToTimedelta().total_seconds() == pytest.approx(2.0)
    assert r.overall_trend.direction == pb.TREND_DIRECTION_DEGRADING
    assert sum(r.hour_histogram) == 141 and len(r.peak_hours) == 3
    assert [t.topic for t in r.topic_mix] == ["code", "math"]
    assert r.time_saved.ToTimedelta() > timedelta(0)
    drops = [a for a in r.anomalies if a.kind == pb.ANOMALY_KIND_SUCCESS_DROP]
    assert [(a.backend, a.topic) for a in drops] == [("alpha", "code")]
    assert "alpha code success" in drops[0].description
    assert drops[0].baseline_value > drops[0].observed_value

    only_beta = await svc.GetInsights(pb.GetInsightsRequest(backend="beta", window=durp(14 * 86400)))
    assert only_beta.overall.attempt_count == 140 and [c.backend for c in only_beta.cells] == ["beta"]
    code_only = await svc.GetInsights(
        pb.GetInsightsRequest(topic="CODE", since=tsp(T0 - timedelta(days=3)), until=tsp(T0 - timedelta(days=1)))
    )
    assert code_only.overall.attempt_count == 20
    tokyo = await svc.GetInsights(pb.GetInsightsRequest(time_zone="Asia/Tokyo"))
    assert tokyo.time_zone == "Asia/Tokyo" and tokyo.hour_histogram != r.hour_histogram


async def test_insights_bad_input(svc) -> None:
    code, v = await violations_of(svc.GetInsights(pb.GetInsightsRequest(since=tsp(T0), until=tsp(T0))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "since" in v
    code, v = await violations_of(svc.GetInsights(pb.GetInsightsRequest(window=durp(-5))))
    assert "window" in v
    code, v = await violations_of(svc.GetInsights(pb.GetInsightsRequest(time_zone="Nowhere/Land")))
    assert "time_zone" in v


async def test_time_saved(svc) -> None:
    t = T0 - timedelta(hours=2)
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(
            interactions=[
                # A code request that fell back once: 900 s of manual effort − 5 s of waiting.
                interaction("r1/1", request_id="r1", attempt=1, ok=False, total_s=2.0, at=t),
                interaction("r1/2", request_id="r1", attempt=2, fallback=True, total_s=3.0, at=t),
                # A quick question answered from the cache: 120 s.
                interaction("r2/1", request_id="r2", topic="quick_question", was_cached=True, total_s=None, at=t),
                # A failed request saves nothing.
                interaction("r3/1", request_id="r3", ok=False, total_s=1.0, at=t),
                # Someone else's, and one outside the window.
                interaction("x", user="bob", at=t),
                interaction("old", at=t - timedelta(days=2)),
            ]
        )
    )
    r = await svc.GetTimeSaved(pb.GetTimeSavedRequest(user_id="alice"))
    assert r.time_saved.ToTimedelta() == timedelta(seconds=895 + 120)
    assert (r.request_count, r.successful_requests) == (3, 2)
    assert r.time_waiting.ToTimedelta() == timedelta(seconds=6)
    assert [(b.topic, b.successful_requests, b.time_saved.seconds) for b in r.by_topic] == [
        ("code", 1, 895), ("quick_question", 1, 120)
    ]
    assert r.window_start.ToDatetime(tzinfo=UTC) == T0 - timedelta(days=1)
    code, v = await violations_of(svc.GetTimeSaved(pb.GetTimeSavedRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in v


async def test_forget_user(svc, any_db_url: str, clock: ManualClock) -> None:
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(
            interactions=[interaction(f"f{n}", user="alice", at=T0 - timedelta(hours=n + 1)) for n in range(4)]
            + [interaction("bob-1", user="bob")]
        )
    )
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="f0", thumb=pb.THUMB_UP))
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob-1", thumb=pb.THUMB_DOWN, user_id="alice"))
    await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))  # stores a computed profile
    fresh = await svc.Recommend(pb.RecommendRequest(user_id="carol", topic="code", candidate_backends=["alpha"], greedy=True))

    clock.advance(10)
    gone = await svc.ForgetUser(pb.ForgetUserRequest(user_id="alice"))
    assert (gone.interactions_deleted, gone.feedback_deleted, gone.profile_records_deleted) == (4, 2, 1)
    assert gone.model_cells_deleted > 0
    assert gone.forgotten_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=10)
    assert count(any_db_url, where="user_id = 'alice'") == 0 and count(any_db_url) == 1
    assert count(any_db_url, "learning_feedback") == 0
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))
    assert profile.interaction_count == 0
    # The model forgot her at once: she ranks like someone never seen.
    after = await svc.Recommend(pb.RecommendRequest(user_id="alice", topic="code", candidate_backends=["alpha"], greedy=True))
    assert after.ranked[0].expected_success == pytest.approx(fresh.ranked[0].expected_success)
    again = await svc.ForgetUser(pb.ForgetUserRequest(user_id="alice"))
    assert (again.interactions_deleted, again.feedback_deleted, again.model_cells_deleted) == (0, 0, 0)
    # Data recorded after the call is kept.
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("new", user="alice")))
    assert count(any_db_url, where="user_id = 'alice'") == 1
    code, v = await violations_of(svc.ForgetUser(pb.ForgetUserRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in v
