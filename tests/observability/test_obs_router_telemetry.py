"""The router's domain telemetry (services/router/observe.py) from its chain
events: span attributes and events in switchboard's and the GenAI semantic
conventions' names, and the domain metrics; breaker transitions as a gauge,
a counter and an event on the span of the call that tripped them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.router.breaker import BreakerState, Transition
from services.router.chain import AttemptOutcome, AttemptReport, Done, Failed, FailCode, FinishReason, Start, Switch, Usage
from services.router.observe import RouterTelemetry
from switchboard.runtime.metrics import MeshMetrics


class Recorded:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer = TracerProvider()
        self.tracer.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.telemetry = RouterTelemetry(MeshMetrics(MeterProvider(metric_readers=[self.reader])))

    def span(self, name: str = "/switchboard.router.v1.RouterService/Generate") -> ReadableSpan:
        (span,) = [s for s in self.exporter.get_finished_spans() if s.name == name]
        return span

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            (dict(p.attributes or {}), getattr(p, "value", getattr(p, "count", None)))
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == metric
            for p in m.data.data_points
        ]


@pytest.fixture
def rec() -> Iterator[Recorded]:
    yield Recorded()


def start(backend: str = "fast", reason: str = "recommended by learning for topic code",
          recommendation: tuple[str, ...] = ()) -> Start:
    return Start(request_id="r1", backend=backend, model=f"{backend}-model", topic="code", topic_classified=True,
                 cache_hit=False, mock=False, routing_reason=reason, degraded=False, degraded_reason="",
                 recommendation=recommendation)


def test_a_request_with_a_fallback_is_described_on_its_span_and_in_metrics(rec: Recorded) -> None:
    attempts = (
        AttemptReport("slow", "slow-model", AttemptOutcome.TIMEOUT, "no first token in 5 s", None, 5.0),
        AttemptReport("fast", "fast-model", AttemptOutcome.SUCCESS, "", 0.12, 0.8, 42),
    )
    done = Done(FinishReason.STOP, Usage(17, 42, False), 5.12, 5.9, 5.8, 0.004, attempts, "fast", "r1:2")
    with rec.tracer.get_tracer("t").start_as_current_span("/switchboard.router.v1.RouterService/Generate"):
        for event in (start("slow", "static priority order"), done):
            rec.telemetry.observe(event)
    span = rec.span()
    attrs = dict(span.attributes or {})
    assert attrs["switchboard.backend"] == "fast"  # the one that answered
    assert attrs["switchboard.backend.reason"] == "static priority order"
    assert attrs["switchboard.recommendation"] == "" and attrs["switchboard.recommendation.order"] == ()
    assert attrs["switchboard.cache.hit"] is False
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "slow-model"
    assert attrs["gen_ai.response.model"] == "fast-model"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (17, 42)
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert [(n, a["switchboard.backend"], a["switchboard.outcome"]) for n, a in events] == [
        ("switchboard.attempt", "slow", "TIMEOUT"), ("switchboard.attempt", "fast", "SUCCESS")]
    assert events[0][1]["switchboard.fallback.reason"] == "TIMEOUT: no first token in 5 s"
    assert events[0][1]["switchboard.fallback.to"] == "fast"
    assert "switchboard.fallback.reason" not in events[1][1]

    assert rec.points("switchboard.router.fallbacks") == [
        ({"switchboard.backend": "slow", "switchboard.fallback.to": "fast", "switchboard.fallback.reason": "TIMEOUT"}, 1)]
    assert sorted(a["switchboard.outcome"] for a, _ in rec.points("switchboard.router.attempts")) == ["SUCCESS", "TIMEOUT"]
    tokens = {a["gen_ai.token.type"]: v for a, v in rec.points("switchboard.router.tokens")}
    assert tokens == {"output": 42, "input": 17}
    assert [v for _, v in rec.points("switchboard.router.time_to_first_token")] == [1]
    assert [v for _, v in rec.points("switchboard.router.overhead")] == [1]


def test_a_mid_stream_switch_and_a_failure_are_events_too(rec: Recorded) -> None:
    attempts = (
        AttemptReport("a", "a-model", AttemptOutcome.CONNECTION_ERROR, "reset after 3 tokens"),
        AttemptReport("b", "b-model", AttemptOutcome.SERVER_ERROR, "503"),
    )
    with rec.tracer.get_tracer("t").start_as_current_span("/switchboard.router.v1.RouterService/Generate"):
        rec.telemetry.observe(start("a"))
        rec.telemetry.observe(Switch("a", "b", "CONNECTION_ERROR", chars_before_switch=12, continuation=True))
        rec.telemetry.observe(Failed(FailCode.UNAVAILABLE, "every backend failed", 12, attempts))
    names = [(e.name, dict(e.attributes or {})) for e in rec.span().events]
    assert [n for n, _ in names] == ["switchboard.backend_switch", "switchboard.attempt", "switchboard.attempt"]
    assert names[0][1]["switchboard.switch.continuation"] is True
    assert rec.points("switchboard.router.tokens") == []  # nothing finished: no usage


def test_breaker_transitions_set_the_gauge_count_and_mark_the_tripping_call(rec: Recorded) -> None:
    rec.telemetry.breaker_initial("slow", BreakerState.CLOSED)
    with rec.tracer.get_tracer("t").start_as_current_span("call"):
        rec.telemetry.breaker_transition(Transition("slow", BreakerState.CLOSED, BreakerState.OPEN, 1.0, "failure rate 60%"))
    assert rec.points("switchboard.breaker.state") == [({"switchboard.breaker": "slow"}, 2)]
    assert rec.points("switchboard.breaker.transitions") == [
        ({"switchboard.breaker": "slow", "switchboard.breaker.state": "open"}, 1)]
    (event,) = rec.span("call").events
    assert event.name == "switchboard.breaker_transition"
    assert dict(event.attributes or {})["switchboard.breaker.reason"] == "failure rate 60%"


def test_the_recommendation_used_is_on_the_span(rec: Recorded) -> None:
    with rec.tracer.get_tracer("t").start_as_current_span("/switchboard.router.v1.RouterService/Generate"):
        rec.telemetry.observe(start("fast", recommendation=("fast", "slow")))
    attrs = dict(rec.span().attributes or {})
    assert attrs["switchboard.recommendation"] == "fast"
    assert attrs["switchboard.recommendation.order"] == ("fast", "slow")
    assert attrs["switchboard.backend.reason"].startswith("recommended by learning")
