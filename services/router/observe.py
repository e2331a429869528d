"""What the router tells OpenTelemetry about each request: attributes and
events on the Generate/Complete server span, and the router's domain metrics
(names and attribute keys: switchboard/runtime/{telemetry,metrics}.py).

`RouterTelemetry.observe(event, chain)` sees every chain event while the
call's server span is current:
- Start: the backend chosen and why (`switchboard.backend`,
  `switchboard.backend.reason`: "recommended by learning for topic …",
  "static priority order", "pinned by the caller", "cached answer"), the
  recommendation used (`switchboard.recommendation`: learning's top backend,
  "" when its order was not used; `.order`: the whole order), cache hit,
  topic, request id, degraded, and the GenAI request attributes;
- Switch (mid-stream): a `switchboard.backend_switch` span event (from, to, reason);
- Done / Failed: one `switchboard.attempt` span event per attempt (outcome,
  detail, the backend's breaker state when the request ended, and for each
  one the chain moved on from, `switchboard.fallback.reason` and `.to`), the
  attempts and fallbacks counters; on Done the GenAI usage
  attributes, tokens, time to first token and the router's own overhead.
`breaker_transition` is a breaker's `on_transition` listener (state gauge,
transitions counter, and a span event on the call that tripped it).
"""

from __future__ import annotations

from opentelemetry import trace

from services.router.breaker import BreakerState, Transition
from services.router.chain import AttemptReport, Chain, Done, Event, Failed, Start, Switch
from switchboard.runtime import telemetry as t
from switchboard.runtime.metrics import MeshMetrics

RECOMMENDATION_ORDER = "switchboard.recommendation.order"  # learning's whole order, best first


class RouterTelemetry:
    def __init__(self, metrics: MeshMetrics | None = None) -> None:
        # Default: the process's meter provider (set by the service entry point; a no-op elsewhere).
        self._metrics = metrics or MeshMetrics()

    @staticmethod
    def _system(chain: Chain | None, backend: str) -> str:
        lane = chain.by_name.get(backend) if chain is not None else None
        return lane.backend.config.kind.value if lane is not None else ""

    def observe(self, event: Event, chain: Chain | None = None) -> None:
        span = trace.get_current_span()
        if isinstance(event, Start):
            span.set_attributes({
                t.REQUEST_ID: event.request_id,
                t.BACKEND: event.backend,
                t.BACKEND_REASON: event.routing_reason,
                t.CACHE_HIT: event.cache_hit,
                t.TOPIC: event.topic,
                t.DEGRADED: event.degraded,
                t.RECOMMENDATION: event.recommendation[0] if event.recommendation else "",
                RECOMMENDATION_ORDER: list(event.recommendation),
                t.GEN_AI_OPERATION_NAME: "chat",
                t.GEN_AI_SYSTEM: self._system(chain, event.backend),
                t.GEN_AI_REQUEST_MODEL: event.model,
            })
        elif isinstance(event, Switch):
            span.add_event(t.EVENT_BACKEND_SWITCH, {
                t.BACKEND: event.to_backend,
                "switchboard.switch.from": event.from_backend,
                t.FALLBACK_REASON: event.reason,
                "switchboard.switch.continuation": event.continuation,
            })
        elif isinstance(event, Done | Failed):
            self._attempts(span, event.attempts, chain)
            if isinstance(event, Done):
                self._done(span, event, chain)

    def _attempts(self, span: trace.Span, attempts: tuple[AttemptReport, ...], chain: Chain | None) -> None:
        for number, report in enumerate(attempts, start=1):
            attributes: dict[str, str | int | float] = {
                t.BACKEND: report.backend,
                t.ATTEMPT: number,
                t.OUTCOME: report.outcome.value,
                "switchboard.attempt.duration_s": report.duration_s,
            }
            if report.detail:
                attributes["switchboard.attempt.detail"] = report.detail
            lane = chain.by_name.get(report.backend) if chain is not None else None
            if lane is not None:
                attributes[t.BREAKER_STATE] = lane.breaker.state.value.lower()
            if report.time_to_first_token_s is not None:
                attributes["switchboard.attempt.time_to_first_token_s"] = report.time_to_first_token_s
            following = attempts[number] if number < len(attempts) else None
            if following is not None:
                # The chain moved on from this backend (before the first token, or mid-stream: Switch).
                reason = report.outcome.value + (f": {report.detail}" if report.detail else "")
                attributes[t.FALLBACK_REASON] = reason
                attributes["switchboard.fallback.to"] = following.backend
                self._metrics.fallback(from_backend=report.backend, to_backend=following.backend,
                                       reason=report.outcome.value)
            span.add_event(t.EVENT_ATTEMPT, attributes)
            self._metrics.attempt(backend=report.backend, outcome=report.outcome.value)

    def _done(self, span: trace.Span, done: Done, chain: Chain | None) -> None:
        model = next((a.model for a in reversed(done.attempts) if a.backend == done.backend), "")
        span.set_attributes({
            t.BACKEND: done.backend,
            t.GEN_AI_USAGE_INPUT_TOKENS: done.usage.prompt_tokens,
            t.GEN_AI_USAGE_OUTPUT_TOKENS: done.usage.completion_tokens,
            t.GEN_AI_RESPONSE_FINISH_REASONS: [done.finish_reason.value],
            t.DEGRADED: done.degraded,
        })
        if model:
            span.set_attribute(t.GEN_AI_RESPONSE_MODEL, model)
        system = self._system(chain, done.backend)
        self._metrics.tokens(done.usage.completion_tokens, backend=done.backend, model=model, system=system)
        self._metrics.tokens(done.usage.prompt_tokens, backend=done.backend, model=model, system=system,
                             token_type="input")
        if done.time_to_first_token_s is not None:
            self._metrics.time_to_first_token(done.time_to_first_token_s, backend=done.backend, model=model)
        self._metrics.router_overhead(done.overhead_s, backend=done.backend)

    def breaker_transition(self, transition: Transition) -> None:
        """For `CircuitBreaker(on_transition=…)`: the state gauge and transitions
        counter, and an event on the span of the call that tripped it, if any."""
        self._metrics.breaker_state(transition.breaker, transition.to_state.value)
        trace.get_current_span().add_event(t.EVENT_BREAKER_TRANSITION, {
            t.BREAKER: transition.breaker,
            t.BREAKER_STATE: transition.to_state.value.lower(),
            "switchboard.breaker.from": transition.from_state.value.lower(),
            "switchboard.breaker.reason": transition.reason,
        })

    def breaker_initial(self, name: str, state: BreakerState) -> None:
        """Reports a breaker's state at start-up (not a transition), so the gauge exists from the start."""
        self._metrics.breaker_state(name, state.value, transition=False)
