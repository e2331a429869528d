"""LearningService over real gRPC, on SQLite and on real PostgreSQL: recording
(idempotency, batches, streams, bad input), Recommend, tenants."""

from __future__ import annotations

from pathlib import Path

from datetime import UTC

import grpc
import pytest

from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from learning_support import T0, ago, count, eventually, interaction, settings, stub, tenant, violations_of


@pytest.fixture
async def svc(serve, any_db_url: str, tmp_path: Path, clock: ManualClock):
    running = await serve("learning", settings=settings(tmp_path / "data", any_db_url), clock=clock)
    return stub(running)


async def test_same_id_twice_is_stored_once(svc, any_db_url: str, clock: ManualClock) -> None:
    first = await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("i-1")))
    assert not first.ack.duplicate and first.ack.durability == pb.DURABILITY_STORED
    clock.advance(60)
    again = await svc.RecordInteraction(
        pb.RecordInteractionRequest(interaction=interaction("i-1", backend="beta", ok=False))
    )
    assert again.ack.duplicate and again.ack.durability == pb.DURABILITY_STORED
    assert again.ack.stored_at == first.ack.stored_at  # the original acceptance time
    assert count(any_db_url, where="interaction_id = 'i-1'") == 1
    assert count(any_db_url, where="backend = 'alpha'") == 1  # first write wins


async def test_batch_records_the_valid_and_reports_the_invalid(svc, any_db_url: str) -> None:
    batch = [
        interaction("b-1"),
        interaction("", backend="alpha"),  # no id
        interaction("b-2", backend=""),  # no backend
        interaction("b-3", outcome=pb.OUTCOME_UNSPECIFIED),
        interaction("b-1"),  # repeat within the batch
        interaction("b-4", prompt_fingerprint="not-hex"),
        interaction("b-5", topic="Math"),
    ]
    reply = await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    assert [(r.index, r.interaction_id, r.field) for r in reply.rejected] == [
        (1, "", "interaction_id"),
        (2, "b-2", "backend"),
        (3, "b-3", "outcome"),
        (5, "b-4", "prompt_fingerprint"),
    ]
    assert [a.interaction_id for a in reply.acks] == ["b-1", "b-1", "b-5"]
    assert [a.duplicate for a in reply.acks] == [False, True, False]
    c = reply.counts
    assert (c.received, c.stored, c.spooled, c.duplicates, c.rejected) == (7, 2, 0, 1, 4)
    assert count(any_db_url) == 2
    assert count(any_db_url, where="topic = 'math'") == 1  # labels are normalised


async def test_batch_limits(serve, tmp_path: Path, clock: ManualClock) -> None:
    running = await serve(
        "learning", settings=settings(tmp_path / "data", None, learning_batch_max=3), clock=clock
    )
    svc = stub(running)
    code, fields = await violations_of(svc.RecordInteractions(pb.RecordInteractionsRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "interactions" in fields
    four = [interaction(f"x{n}") for n in range(4)]
    code, fields = await violations_of(svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=four)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most 3" in fields["interactions"]


async def test_stream_records_each_message_and_summarises(svc, any_db_url: str) -> None:
    async def messages():
        yield pb.StreamInteractionsRequest(interaction=interaction("s-1"))
        yield pb.StreamInteractionsRequest(interaction=interaction("s-2", ok=False))
        yield pb.StreamInteractionsRequest()  # no interaction
        yield pb.StreamInteractionsRequest(interaction=interaction("s-1"))
        yield pb.StreamInteractionsRequest(interaction=interaction("s-3", total_s=None, cost_usd=-1))

    reply = await svc.StreamInteractions(messages())
    c = reply.counts
    assert (c.received, c.stored, c.duplicates, c.rejected) == (5, 2, 1, 2)
    assert [(r.index, r.field) for r in reply.rejected] == [(2, "interaction"), (4, "cost_usd")]
    assert reply.last_interaction_id == "s-1"
    assert count(any_db_url) == 2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"interaction_id": "x" * 129}, "interaction.interaction_id"),
        ({"backend": "has space"}, "interaction.backend"),
        ({"topic": "x" * 65}, "interaction.topic"),
        ({"outcome": 99}, "interaction.outcome"),
        ({"user_id": "u" * 257}, "interaction.user_id"),
        ({"error_detail": "e" * 513}, "interaction.error_detail"),
        ({"cost_usd": float("nan")}, "interaction.cost_usd"),
        ({"tenant": "other"}, "interaction.tenant"),  # disagrees with the metadata
    ],
)
async def test_bad_interactions_are_invalid_argument(svc, fields, expected) -> None:
    msg = interaction("bad-1")
    for name, value in fields.items():
        setattr(msg, name, value)
    code, violations = await violations_of(
        svc.RecordInteraction(pb.RecordInteractionRequest(interaction=msg), metadata=tenant("acme"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in violations


async def test_bad_times_are_invalid_argument(svc, clock: ManualClock) -> None:
    future = interaction("t-1", at=clock.now().replace(year=2027))
    code, violations = await violations_of(svc.RecordInteraction(pb.RecordInteractionRequest(interaction=future)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "interaction.occurred_at" in violations
    negative = interaction("t-2")
    negative.total_time.seconds = -3
    negative.time_to_first_token.seconds = 1
    code, violations = await violations_of(svc.RecordInteraction(pb.RecordInteractionRequest(interaction=negative)))
    assert "interaction.total_time" in violations
    ttft_too_long = interaction("t-3", total_s=1.0)
    ttft_too_long.time_to_first_token.seconds = 2
    code, violations = await violations_of(svc.RecordInteraction(pb.RecordInteractionRequest(interaction=ttft_too_long)))
    assert "interaction.time_to_first_token" in violations
    code, violations = await violations_of(svc.RecordInteraction(pb.RecordInteractionRequest()))
    assert "interaction" in violations


async def test_recommend_learns_from_every_write(svc, clock: ManualClock) -> None:
    empty = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha", "beta"], greedy=True))
    assert [r.basis for r in empty.ranked] == [pb.ESTIMATE_BASIS_PRIOR] * 2
    assert not empty.HasField("model_updated_at")
    batch = [interaction(f"a{n}", backend="alpha", ok=n % 5 != 0, at=ago(hours=n)) for n in range(40)]
    batch += [interaction(f"b{n}", backend="beta", ok=n % 2 == 0, at=ago(hours=n)) for n in range(40)]
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    reply = await svc.Recommend(
        pb.RecommendRequest(user_id="alice", topic="code", candidate_backends=["beta", "alpha", "gamma"], greedy=True)
    )
    assert reply.ranked[0].backend == "alpha"
    assert sorted(r.backend for r in reply.ranked) == ["alpha", "beta", "gamma"]
    assert [r.rank for r in reply.ranked] == [1, 2, 3]
    top = reply.ranked[0]
    assert 0.7 < top.expected_success < 0.85 and top.confidence > 0 and top.reason
    assert top.expected_latency.ToTimedelta().total_seconds() == pytest.approx(1.0, rel=0.5)
    gamma = next(r for r in reply.ranked if r.backend == "gamma")
    assert gamma.basis == pb.ESTIMATE_BASIS_PRIOR and not gamma.HasField("expected_latency")
    assert reply.topic == "code" and reply.model_updated_at.ToDatetime(tzinfo=UTC) == T0  # the newest observation
    # Empty candidates: every backend observed so far.
    every = await svc.Recommend(pb.RecommendRequest(topic="", greedy=True))
    assert sorted(r.backend for r in every.ranked) == ["alpha", "beta"] and every.topic == "general"
    # Sampling (not greedy) still ranks every candidate exactly once.
    sampled = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha", "beta"]))
    assert sorted(r.backend for r in sampled.ranked) == ["alpha", "beta"]


async def test_recommend_draws_for_a_caller_to_keep(svc) -> None:
    batch = [interaction(f"a{n}", backend="alpha", ok=n % 4 != 0, at=ago(hours=n)) for n in range(40)]
    batch += [interaction(f"b{n}", backend="beta", ok=n % 3 != 0, at=ago(hours=n)) for n in range(40)]
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    reply = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha", "beta"], draws=200))
    assert len(reply.draws) == 200 and len(reply.ranked) == 2
    assert all(sorted(d.backends) == ["alpha", "beta"] for d in reply.draws)
    firsts = {d.backends[0] for d in reply.draws}
    assert firsts == {"alpha", "beta"}  # each draw is its own sample: both close, both come first sometimes
    assert all(d.exploratory == (d.backends[0] == "beta") for d in reply.draws)  # alpha is better on average
    none = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha", "beta"]))
    assert len(none.draws) == 0
    greedy = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha"], greedy=True, draws=5))
    assert len(greedy.draws) == 0  # every greedy draw would be the same


async def test_recommend_bad_input(svc) -> None:
    code, v = await violations_of(svc.Recommend(pb.RecommendRequest(candidate_backends=["a", "a", ""])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(v) == {"candidate_backends[1]", "candidate_backends[2]"}
    code, v = await violations_of(svc.Recommend(pb.RecommendRequest(topic="no spaces please")))
    assert "topic" in v
    code, v = await violations_of(svc.Recommend(pb.RecommendRequest(draws=257)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most 256" in v["draws"]


async def test_cancelled_and_cached_attempts_are_not_backend_evidence(svc) -> None:
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(
            interactions=[
                interaction("c1", backend="alpha", outcome=pb.OUTCOME_CANCELLED),
                interaction("c2", backend="alpha", was_cached=True),
            ]
        )
    )
    reply = await svc.Recommend(pb.RecommendRequest(topic="code", candidate_backends=["alpha"], greedy=True))
    assert reply.ranked[0].basis == pb.ESTIMATE_BASIS_PRIOR


async def test_tenants_are_isolated(svc, any_db_url: str, clock: ManualClock) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    for meta, failing_every in ((acme, 0), (globex, 3)):
        batch = [
            interaction(f"t{n}", backend="alpha", ok=not failing_every or n % failing_every != 0, user="alice")
            for n in range(30)
        ]
        reply = await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch), metadata=meta)
        assert reply.counts.stored == 30 and reply.counts.duplicates == 0  # same ids, other tenant
    assert count(any_db_url) == 60
    assert count(any_db_url, where="tenant = 'acme'") == 30
    clock.advance(3600)

    async def alpha_for_alice(meta) -> float:
        reply = await svc.Recommend(
            pb.RecommendRequest(user_id="alice", topic="code", candidate_backends=["alpha"], greedy=True),
            metadata=meta,
        )
        return reply.ranked[0].expected_success

    # Alice of acme and alice of globex are different people with their own records.
    acme_alice, globex_alice = await alpha_for_alice(acme), await alpha_for_alice(globex)
    assert acme_alice > globex_alice
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"), metadata=acme)
    assert profile.interaction_count == 30
    assert profile.preferred_backends[0].success_rate == 1.0
    nobody = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))  # the default tenant
    assert nobody.interaction_count == 0
    insights = await svc.GetInsights(pb.GetInsightsRequest(), metadata=globex)
    assert insights.overall.attempt_count == 30 and insights.overall.success_count == 20
    everyone = await svc.GetInsights(pb.GetInsightsRequest())
    assert everyone.overall.attempt_count == 60
    code, v = await violations_of(svc.GetInsights(pb.GetInsightsRequest(tenant="acme"), metadata=globex))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "tenant" in v
    forgotten = await svc.ForgetUser(pb.ForgetUserRequest(user_id="alice"), metadata=acme)
    assert forgotten.interactions_deleted == 30 and forgotten.model_cells_deleted > 0
    assert count(any_db_url, where="tenant = 'globex'") == 30
    assert await alpha_for_alice(globex) == globex_alice  # untouched
    assert await alpha_for_alice(acme) != acme_alice


async def test_a_stream_ends_with_its_summary_when_the_server_stops(serve, tmp_path: Path, clock: ManualClock) -> None:
    running = await serve("learning", settings=settings(tmp_path / "data", None), clock=clock)
    svc = stub(running)
    import asyncio

    sent = asyncio.Event()
    never = asyncio.Event()

    async def messages():
        yield pb.StreamInteractionsRequest(interaction=interaction("live-1"))
        sent.set()
        await never.wait()  # the client keeps its side open

    call = svc.StreamInteractions(messages())
    await sent.wait()
    await eventually(lambda: running.app.keeper.model.updated_at is not None)  # the first one is in
    running.runtime.stopping.set()
    reply = await asyncio.wait_for(call, 10)
    assert reply.counts.received == 1 and reply.last_interaction_id == "live-1"
