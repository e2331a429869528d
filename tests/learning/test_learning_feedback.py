"""RecordFeedback over gRPC: explicit ratings, implicit signals (including the
automatic re-ask detection), feedback that arrives before its interaction,
and bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.clock import ManualClock
from learning_support import count, fingerprint, interaction, query, settings, stub, violations_of


@pytest.fixture
async def svc(serve, any_db_url: str, tmp_path: Path, clock: ManualClock):
    running = await serve("learning", settings=settings(tmp_path / "data", any_db_url), clock=clock)
    return stub(running)


async def alpha_for(svc, user: str) -> float:
    reply = await svc.Recommend(
        pb.RecommendRequest(user_id=user, topic="code", candidate_backends=["alpha"], greedy=True)
    )
    return reply.ranked[0].expected_success


async def test_explicit_ratings_are_stored_and_move_the_model(svc, any_db_url: str) -> None:
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(
            interactions=[interaction(f"{u}{n}", user=u) for u in ("bob", "carol") for n in range(5)]
        )
    )
    before = await alpha_for(svc, "bob")
    down = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob0", thumb=pb.THUMB_DOWN))
    assert down.interaction_known and not down.duplicate and down.durability == pb.DURABILITY_STORED
    assert down.feedback_id  # derived: one rating per (interaction, user)
    assert await alpha_for(svc, "bob") < before - 0.05
    assert await alpha_for(svc, "bob") < await alpha_for(svc, "carol")
    again = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob0", thumb=pb.THUMB_DOWN))
    assert again.duplicate and again.feedback_id == down.feedback_id
    stars = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob0", stars=4, comment="better"))
    assert stars.replaced_previous and not stars.duplicate
    assert query(any_db_url, "SELECT kind, stars, positive, comment FROM learning_feedback") == [
        ("stars", 4, 0.75, "better")
    ]
    mine = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="carol0", feedback_id="fb-1", stars=5))
    assert mine.feedback_id == "fb-1"
    repeat = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="carol0", feedback_id="fb-1", stars=1))
    assert repeat.duplicate  # the caller's key: the first write wins
    assert count(any_db_url, "learning_feedback") == 2


async def test_feedback_before_its_interaction_is_held_then_applied(svc) -> None:
    early = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="later-1", thumb=pb.THUMB_DOWN))
    assert not early.interaction_known and early.durability == pb.DURABILITY_STORED
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("later-1", user="bob")))
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("control-1", user="carol")))
    assert await alpha_for(svc, "bob") < await alpha_for(svc, "carol")


async def test_a_replaced_rating_no_longer_counts_in_the_live_model(
    serve, any_db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """The live model takes the earlier rating out: it ranks as a model rebuilt
    from the database (which holds only the last rating) does."""
    config = settings(tmp_path / "data", any_db_url)
    first = await serve("learning", settings=config, clock=clock)
    svc = stub(first)
    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(interactions=[interaction(f"bob{n}", user="bob", ok=n % 3 != 0) for n in range(9)])
    )
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob1", thumb=pb.THUMB_DOWN))
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="bob"))
    assert profile.satisfaction.thumbs_down == 1
    clock.advance(60)
    replaced = await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob1", stars=5))
    assert replaced.replaced_previous
    # The cached profile notices too.
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="bob"))
    assert (profile.satisfaction.thumbs_down, profile.satisfaction.mean_stars) == (0, 5)
    # A rating held for an interaction not seen yet is replaced in the same way.
    clock.advance(60)
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob-later", thumb=pb.THUMB_DOWN))
    await svc.RecordFeedback(pb.RecordFeedbackRequest(interaction_id="bob-later", thumb=pb.THUMB_UP))
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("bob-later", user="bob")))
    live = await alpha_for(svc, "bob")
    await first.stop()
    rebuilt = await alpha_for(stub(await serve("learning", settings=config, clock=clock)), "bob")
    assert live == pytest.approx(rebuilt, abs=1e-9)


async def test_reasking_the_same_prompt_soon_is_dissatisfaction(svc, any_db_url: str, clock: ManualClock) -> None:
    prompt = fingerprint("how do I reverse a list?")
    t = clock.now() - timedelta(hours=1)

    def ask(iid: str, request: str, at_s: float, ok: bool = True, **kw) -> pb.Interaction:
        return interaction(iid, request_id=request, prompt_fingerprint=prompt, ok=ok, at=t + timedelta(seconds=at_s), **kw)

    await svc.RecordInteractions(
        pb.RecordInteractionsRequest(
            interactions=[
                ask("r1/1", "r1", 0, ok=False),  # a failed attempt ...
                ask("r1/2", "r1", 5, backend="beta", attempt=2, fallback=True),  # ... and its fallback: no signal
                ask("r2/1", "r2", 60),  # the same question a minute later: dissatisfied with r1's answer
                ask("r3/1", "r3", 60 + 3600),  # an hour later: a new need, not a re-ask
            ]
        )
    )
    rows = query(any_db_url, "SELECT interaction_id, kind, signal, related_interaction_id, positive FROM learning_feedback")
    assert rows == [("r1/2", "implicit", "reask", "r2/1", 0.0)]
    # Re-sending the same batch (a retry) does not signal again.
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=ask("r2/1", "r2", 60)))
    assert count(any_db_url, "learning_feedback") == 1
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))
    assert profile.satisfaction.dissatisfaction_signals == 1


async def test_a_burst_of_reasks_in_one_batch_is_recorded_whole(svc, any_db_url: str, clock: ManualClock) -> None:
    # Each answer re-asked by the next one: every interaction after the first
    # reveals a signal, all of them written together (one transaction).
    prompt = fingerprint("same question again")
    t = clock.now() - timedelta(hours=1)
    batch = [interaction(f"b{n}", request_id=f"q{n}", prompt_fingerprint=prompt, at=t + timedelta(seconds=10 * n))
             for n in range(6)]
    # The same answers from another user, not re-asked: the model's baseline.
    await svc.RecordInteractions(pb.RecordInteractionsRequest(
        interactions=[interaction(f"c{n}", user="carol", request_id=f"c{n}", at=t + timedelta(seconds=10 * n))
                      for n in range(6)]))
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    # The signals reached the model: alice's expected success falls well below carol's (~0.26 vs ~0.72).
    assert await alpha_for(svc, "carol") - await alpha_for(svc, "alice") > 0.2
    rows = query(any_db_url, "SELECT interaction_id, signal, related_interaction_id FROM learning_feedback "
                             "ORDER BY interaction_id")
    assert rows == [(f"b{n}", "reask", f"b{n + 1}") for n in range(5)]
    profile = await svc.GetUserProfile(pb.GetUserProfileRequest(user_id="alice"))
    assert profile.satisfaction.dissatisfaction_signals == 5
    # A resend is stored once and signals nothing new.
    await svc.RecordInteractions(pb.RecordInteractionsRequest(interactions=batch))
    assert count(any_db_url, "learning_feedback") == 5


async def test_explicit_implicit_signals(svc, any_db_url: str) -> None:
    await svc.RecordInteraction(pb.RecordInteractionRequest(interaction=interaction("i1")))
    copied = pb.RecordFeedbackRequest(interaction_id="i1", implicit=pb.ImplicitFeedback(signal=pb.IMPLICIT_SIGNAL_COPIED))
    first = await svc.RecordFeedback(copied)
    assert not first.duplicate
    assert (await svc.RecordFeedback(copied)).duplicate  # at most once per (interaction, signal)
    await svc.RecordFeedback(
        pb.RecordFeedbackRequest(interaction_id="i1", implicit=pb.ImplicitFeedback(signal=pb.IMPLICIT_SIGNAL_ABANDONED))
    )
    assert count(any_db_url, "learning_feedback") == 2


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.RecordFeedbackRequest(interaction_id="i1"), "feedback"),
        (pb.RecordFeedbackRequest(thumb=pb.THUMB_UP), "interaction_id"),
        (pb.RecordFeedbackRequest(interaction_id="i1", thumb=pb.THUMB_UNSPECIFIED), "thumb"),
        (pb.RecordFeedbackRequest(interaction_id="i1", stars=0), "stars"),
        (pb.RecordFeedbackRequest(interaction_id="i1", stars=6), "stars"),
        (pb.RecordFeedbackRequest(interaction_id="i1", implicit=pb.ImplicitFeedback()), "implicit.signal"),
        (pb.RecordFeedbackRequest(interaction_id="i1", thumb=pb.THUMB_UP, comment="x" * 2001), "comment"),
        (pb.RecordFeedbackRequest(interaction_id="i1", thumb=pb.THUMB_UP, feedback_id="f" * 129), "feedback_id"),
    ],
)
async def test_bad_feedback_is_invalid_argument(svc, request_, field) -> None:
    code, violations = await violations_of(svc.RecordFeedback(request_))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations
