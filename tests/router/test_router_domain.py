"""Unit tests of the router's plain domain modules: topics, validation, the
outcome queue and the latency figures."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from services.router.outcomes import Outcome, OutcomeQueue, OutcomeRecord, RejectedBatch
from services.router.settings import RouterSettings
from services.router.stats import BackendStats, percentile
from services.router.topics import TopicClassifier
from services.router.validation import CachePolicy, Draft, Limits, Message, validate
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import InvalidArgument

# -- topics ------------------------------------------------------------------------

CLASSIFIER = TopicClassifier(long_context_chars=2000, quick_question_chars=80)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Why does this Python function raise a KeyError?\n```\ndef f(d):\n    return d['x']\n```", "code"),
        ("Fix the bug in my javascript: const x = foo();", "code"),
        ("Solve the equation 3x + 4 = 19 and explain each step of the algebra please", "math"),
        ("What is 17 * 23?", "math"),
        ("Write a haiku about autumn rain on a tin roof", "creative"),
        ("Tell me a story about a dragon who is afraid of the dark, with a happy ending", "creative"),
        ("What's the capital of Peru?", "quick_question"),
        ("I am planning a trip to Lisbon next spring with two friends and would like some ideas for "
         "neighbourhoods to stay in, day trips, and local dishes we should try.", "general"),
        ("x" * 2500, "long_context"),
    ],
)
def test_classifier_labels(text: str, topic: str) -> None:
    assert CLASSIFIER.classify([("user", text)]) == topic


def test_classifier_is_deterministic_and_uses_latest_user_message() -> None:
    turns = [("user", "Write a poem about the sea"), ("assistant", "The sea..."), ("user", "What is 2 + 2?")]
    assert {CLASSIFIER.classify(turns) for _ in range(5)} == {"math"}


def test_long_context_counts_every_message() -> None:
    turns = [("user", "a" * 900), ("assistant", "b" * 900), ("user", "c" * 300)]
    assert CLASSIFIER.classify(turns) == "long_context"


# -- validation --------------------------------------------------------------------

LIMITS = Limits(max_prompt_chars=100, max_tokens=1000)
BACKENDS = {"alpha", "beta"}


def check(draft: Draft):
    return validate(draft, limits=LIMITS, backends=BACKENDS, classifier=CLASSIFIER, new_id=lambda: "generated")


def violations(draft: Draft) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        check(draft)
    return {v.field: v.description for v in caught.value.violations}


def test_valid_request_becomes_domain_request() -> None:
    req = check(Draft(messages=[Message("user", "hi")], system_prompt="be brief", prompt="and more",
                      max_tokens=10, temperature=0.0, pinned_backend="beta"))
    assert [m.role for m in req.messages] == ["system", "user", "user"]
    assert req.messages[-1].content == "and more"
    assert req.request_id == "generated"
    assert req.topic == "quick_question" and req.topic_classified
    assert req.max_tokens == 10 and req.temperature == 0.0 and req.pinned_backend == "beta"
    assert req.uses_cache


def test_given_topic_is_normalised_and_not_classified() -> None:
    req = check(Draft(prompt="hello", topic="  Long Context ", request_id="r1"))
    assert req.topic == "long_context" and not req.topic_classified and req.request_id == "r1"


def test_cache_use_follows_policy_and_temperature() -> None:
    assert not check(Draft(prompt="p")).uses_cache  # temperature unset: backend default, not deterministic
    assert not check(Draft(prompt="p", temperature=0.7)).uses_cache
    assert check(Draft(prompt="p", temperature=0.7, cache_policy=CachePolicy.PREFER)).uses_cache
    assert not check(Draft(prompt="p", temperature=0.0, cache_policy=CachePolicy.BYPASS)).uses_cache


def test_no_messages_and_no_prompt() -> None:
    assert "messages" in violations(Draft())


def test_blank_prompt() -> None:
    assert violations(Draft(prompt="   ")) == {"prompt": "must not be blank"}


def test_unspecified_and_unknown_roles_and_empty_content_are_all_reported() -> None:
    found = violations(Draft(messages=[Message("", "a"), Message("unknown(9)", "b"), Message("user", " ")]))
    assert set(found) == {"messages[0].role", "messages[1].role", "messages[2].content"}
    assert "unknown role" in found["messages[1].role"]


def test_prompt_over_configured_size() -> None:
    assert "at most 100" in violations(Draft(prompt="x" * 101))["prompt"]
    assert "messages" in violations(Draft(messages=[Message("user", "x" * 60)], system_prompt="y" * 41))
    check(Draft(prompt="x" * 100))  # exactly at the limit is fine


@pytest.mark.parametrize("max_tokens", [-1, 1001])
def test_max_tokens_out_of_range(max_tokens: int) -> None:
    assert "max_tokens" in violations(Draft(prompt="p", max_tokens=max_tokens))


@pytest.mark.parametrize("temperature", [-0.1, 2.01, math.nan, math.inf])
def test_temperature_out_of_range(temperature: float) -> None:
    assert "temperature" in violations(Draft(prompt="p", temperature=temperature))


def test_temperature_bounds_are_inclusive() -> None:
    assert check(Draft(prompt="p", temperature=2.0)).temperature == 2.0
    assert check(Draft(prompt="p", temperature=-0.0)).temperature == 0.0


def test_unknown_pinned_backend_names_the_configured_ones() -> None:
    found = violations(Draft(prompt="p", pinned_backend="gamma"))
    assert "alpha, beta" in found["pinned_backend"]


def test_request_id_too_long_for_interaction_ids() -> None:
    assert "request_id" in violations(Draft(prompt="p", request_id="r" * 101))


# -- settings ------------------------------------------------------------------------


def test_settings_read_backend_tables_from_toml(tmp_path) -> None:
    path = tmp_path / "sb.toml"
    path.write_text('[[backends]]\nname = "a"\nkind = "mock"\n\n[[backends]]\nname = "b"\nkind = "mock"\n')
    settings = RouterSettings(config=path)
    assert [t["name"] for t in settings.backend_tables()] == ["a", "b"]
    assert RouterSettings().backend_tables() == []


def test_settings_reject_open_wait_cap_below_base() -> None:
    with pytest.raises(ValueError):
        RouterSettings(router_breaker_wait_in_open_s=10, router_breaker_max_wait_in_open_s=5)


# -- outcome queue -------------------------------------------------------------------


def record(n: int) -> OutcomeRecord:
    return OutcomeRecord(
        interaction_id=f"req{n}:1", request_id=f"req{n}", user_id="u", topic="general", backend="b",
        model="m", outcome=Outcome.SUCCESS, attempt=1, total_time_s=0.1, occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


class Receiver:
    """An in-memory OutcomeSink whose availability the test switches."""

    def __init__(self) -> None:
        self.up = True
        self.reject = False
        self.batches: list[list[str]] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None  # when set: each call waits for it (a slow learning)

    async def send(self, batch: Sequence[OutcomeRecord], *, patient: bool = False) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.reject:
            raise RejectedBatch("bad batch")
        if not self.up:
            raise ConnectionError("learning down")
        self.batches.append([r.interaction_id for r in batch])

    @property
    def received(self) -> list[str]:
        return [i for b in self.batches for i in b]


async def settle(clock: ManualClock, rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_queue_sends_in_batches_without_blocking_submit() -> None:
    sink, clock = Receiver(), ManualClock()
    queue = OutcomeQueue(sink, clock, max_size=100, batch_size=3)
    for n in range(7):
        queue.submit(record(n))  # before start: submit never needs the sender
    queue.start()
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.received == [f"req{n}:1" for n in range(7)]
    assert [len(b) for b in sink.batches] == [3, 3, 1]
    assert queue.figures().sent == 7
    await queue.stop(0)


async def test_queue_lingers_so_outcomes_of_several_requests_share_one_call() -> None:
    sink, clock = Receiver(), ManualClock()
    queue = OutcomeQueue(sink, clock, max_size=100, batch_size=10, linger_s=0.05)
    queue.start()
    queue.submit(record(0))
    await settle(clock)
    assert sink.calls == 0  # the first one waits for company
    for n in range(1, 4):
        queue.submit(record(n))
    clock.advance(0.05)
    await asyncio.wait_for(queue.drained(), 2)
    assert [len(b) for b in sink.batches] == [4]
    for n in range(4, 14):  # a full batch does not wait
        queue.submit(record(n))
    await asyncio.wait_for(queue.drained(), 2)
    assert [len(b) for b in sink.batches] == [4, 10]
    await queue.stop(0)


async def test_queue_under_steady_load_sends_a_part_batch_once_per_linger() -> None:
    # Outcomes that arrive while a call is under way used to go at once, in a call
    # of their own: under steady load the queue never empties and calls carried
    # a few outcomes each. The next part batch is due one linger after the
    # previous call began (not ended).
    sink, clock = Receiver(), ManualClock()
    sink.gate = asyncio.Event()
    queue = OutcomeQueue(sink, clock, max_size=100, batch_size=10, linger_s=0.05)
    queue.start()
    queue.submit(record(0))
    await settle(clock)
    clock.advance(0.05)
    await settle(clock)
    assert sink.calls == 1  # under way, held by the slow receiver
    queue.submit(record(1))
    queue.submit(record(2))
    clock.advance(0.03)  # the call takes a while
    await settle(clock)
    sink.gate.set()
    await settle(clock)
    assert sink.batches == [["req0:1"]]  # 1 and 2 wait for the next turn
    queue.submit(record(3))
    clock.advance(0.021)  # one linger (and a bit) after the previous call began
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.batches == [["req0:1"], ["req1:1", "req2:1", "req3:1"]]
    await queue.stop(0)


async def test_queue_sends_a_batch_that_fills_during_the_linger_at_once() -> None:
    sink, clock = Receiver(), ManualClock()
    queue = OutcomeQueue(sink, clock, max_size=100, batch_size=4, linger_s=0.05)
    queue.start()
    queue.submit(record(0))
    await settle(clock)
    assert sink.calls == 0  # waiting for company
    for n in range(1, 6):
        queue.submit(record(n))
    await settle(clock)
    assert sink.batches == [["req0:1", "req1:1", "req2:1", "req3:1"]]  # full: no need to wait
    clock.advance(0.05)  # the rest is a part batch: one linger after that call
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.batches[1:] == [["req4:1", "req5:1"]]
    await queue.stop(0)


async def test_queue_keeps_outcomes_while_receiver_is_down_and_flushes_on_return() -> None:
    sink, clock = Receiver(), ManualClock()
    sink.up = False
    queue = OutcomeQueue(sink, clock, max_size=100, batch_size=10, retry_initial_s=1, retry_max_s=4)
    queue.start()
    for n in range(5):
        queue.submit(record(n))
    await settle(clock)
    assert sink.calls == 1 and queue.figures().pending == 5
    clock.advance(1)  # first retry, still down
    await settle(clock)
    assert sink.calls == 2
    clock.advance(1)  # the pause doubled: nothing yet
    await settle(clock)
    assert sink.calls == 2
    sink.up = True
    clock.advance(1)
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.received == [f"req{n}:1" for n in range(5)]
    assert queue.figures().dropped == 0 and queue.figures().failures == 2
    await queue.stop(0)


async def test_full_queue_drops_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    sink, clock = Receiver(), ManualClock()
    sink.up = False
    queue = OutcomeQueue(sink, clock, max_size=4, batch_size=2, retry_initial_s=1)
    for n in range(6):
        queue.submit(record(n))
    assert queue.figures().dropped == 2 and queue.figures().pending == 4
    assert "oldest outcomes dropped" in caplog.text
    sink.up = True
    queue.start()
    await asyncio.wait_for(queue.drained(), 2)
    assert sink.received == [f"req{n}:1" for n in range(2, 6)]
    await queue.stop(0)


async def test_rejected_batch_is_dropped_not_retried() -> None:
    sink, clock = Receiver(), ManualClock()
    sink.reject = True
    queue = OutcomeQueue(sink, clock, batch_size=5)
    queue.start()
    queue.submit(record(1))
    await asyncio.wait_for(queue.drained(), 2)
    assert queue.figures().rejected == 1 and sink.calls == 1
    await queue.stop(0)


async def test_stop_flushes_what_is_left() -> None:
    sink, clock = Receiver(), ManualClock()
    sink.up = False
    queue = OutcomeQueue(sink, clock, batch_size=2, retry_initial_s=100)
    queue.start()
    for n in range(3):
        queue.submit(record(n))
    await settle(clock)
    sink.up = True
    await queue.stop(flush_timeout_s=2)
    assert sink.received == ["req0:1", "req1:1", "req2:1"]


# -- stats ----------------------------------------------------------------------------


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 99) == 99
    assert percentile([3.0], 99) == 3.0


def test_backend_stats_window_and_in_flight() -> None:
    stats = BackendStats(window=3)
    for total in (1.0, 2.0, 3.0, 4.0):
        stats.started()
        stats.finished(success=True, total_s=total, ttft_s=total / 10)
    stats.started()
    stats.started()
    stats.finished(success=False, total_s=0.0, ttft_s=None, counted=False)
    figures = stats.figures()
    assert figures.in_flight == 1 and figures.calls == 3
    assert figures.total_time is not None and figures.total_time.p50 == 3.0 and figures.total_time.p99 == 4.0
    assert figures.time_to_first_token is not None and figures.time_to_first_token.p50 == pytest.approx(0.3)
