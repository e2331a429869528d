"""Thin gRPC layer of the router: proto ⇄ domain, and domain outcomes ⇄ status codes.

A Generate stream ends with exactly one DoneEvent or ErrorEvent; after an
ErrorEvent the call also ends with that event's status (UNAVAILABLE,
DEADLINE_EXCEEDED, or RESOURCE_EXHAUSTED when the router itself is
overloaded), so a client that only looks at the status still sees the failure.
Tokens that arrive while the previous message is being written go out as one
TokenEvent (see relay.py); none is ever held back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from services.router.breaker import BreakerState
from services.router.chain import (
    AttemptOutcome,
    AttemptReport,
    Chain,
    Done,
    Event,
    Failed,
    FinishReason,
    Health,
    Lane,
    Start,
    Switch,
    Token,
)
from services.router.observe import RouterTelemetry
from services.router.relay import coalesced
from services.router.stats import Percentiles
from services.router.topics import TopicClassifier
from services.router.validation import CachePolicy, Draft, Limits, Message, RouteRequest, validate
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import FieldViolation, InvalidArgument
from switchboard.runtime.tenant import caller_tenant

_ROLES = {router_pb2.ROLE_SYSTEM: "system", router_pb2.ROLE_USER: "user", router_pb2.ROLE_ASSISTANT: "assistant"}
_POLICIES = {
    router_pb2.CACHE_POLICY_UNSPECIFIED: CachePolicy.DEFAULT,
    router_pb2.CACHE_POLICY_BYPASS: CachePolicy.BYPASS,
    router_pb2.CACHE_POLICY_PREFER: CachePolicy.PREFER,
}
_FINISH = {
    FinishReason.STOP: router_pb2.FINISH_REASON_STOP,
    FinishReason.LENGTH: router_pb2.FINISH_REASON_LENGTH,
    FinishReason.CONTENT_FILTER: router_pb2.FINISH_REASON_CONTENT_FILTER,
    FinishReason.DEGRADED: router_pb2.FINISH_REASON_DEGRADED,
}
_OUTCOME = {
    AttemptOutcome.SUCCESS: router_pb2.ATTEMPT_OUTCOME_SUCCESS,
    AttemptOutcome.CONNECTION_ERROR: router_pb2.ATTEMPT_OUTCOME_CONNECTION_ERROR,
    AttemptOutcome.SERVER_ERROR: router_pb2.ATTEMPT_OUTCOME_SERVER_ERROR,
    AttemptOutcome.RATE_LIMITED: router_pb2.ATTEMPT_OUTCOME_RATE_LIMITED,
    AttemptOutcome.TIMEOUT: router_pb2.ATTEMPT_OUTCOME_TIMEOUT,
    AttemptOutcome.MALFORMED_STREAM: router_pb2.ATTEMPT_OUTCOME_MALFORMED_STREAM,
    AttemptOutcome.SKIPPED: router_pb2.ATTEMPT_OUTCOME_SKIPPED,
    AttemptOutcome.CANCELLED: router_pb2.ATTEMPT_OUTCOME_CANCELLED,
    AttemptOutcome.CLIENT_ERROR: router_pb2.ATTEMPT_OUTCOME_CLIENT_ERROR,
}
_KIND = {
    "openai": router_pb2.BACKEND_KIND_OPENAI,
    "ollama": router_pb2.BACKEND_KIND_OLLAMA,
    "anthropic": router_pb2.BACKEND_KIND_ANTHROPIC,
    "mock": router_pb2.BACKEND_KIND_MOCK,
}
_BREAKER = {
    BreakerState.CLOSED: router_pb2.BREAKER_STATE_CLOSED,
    BreakerState.OPEN: router_pb2.BREAKER_STATE_OPEN,
    BreakerState.HALF_OPEN: router_pb2.BREAKER_STATE_HALF_OPEN,
    BreakerState.FORCED_OPEN: router_pb2.BREAKER_STATE_FORCED_OPEN,
    BreakerState.DISABLED: router_pb2.BREAKER_STATE_DISABLED,
}
_HEALTH = {
    Health.UNKNOWN: router_pb2.BACKEND_HEALTH_UNSPECIFIED,
    Health.HEALTHY: router_pb2.BACKEND_HEALTH_HEALTHY,
    Health.UNHEALTHY: router_pb2.BACKEND_HEALTH_UNHEALTHY,
}


def proto_duration(seconds: float) -> duration_pb2.Duration:
    """A non-negative google.protobuf.Duration (also used by the peer clients)."""
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=max(0.0, seconds)))
    return d


def _attempt(report: AttemptReport) -> router_pb2.Attempt:
    message = router_pb2.Attempt(
        backend=report.backend,
        model=report.model,
        outcome=_OUTCOME[report.outcome],
        detail=report.detail,
        duration=proto_duration(report.duration_s),
        completion_tokens=report.completion_tokens,
    )
    if report.time_to_first_token_s is not None:
        message.time_to_first_token.CopyFrom(proto_duration(report.time_to_first_token_s))
    return message


def _switch(event: Switch) -> router_pb2.BackendSwitchEvent:
    return router_pb2.BackendSwitchEvent(
        from_backend=event.from_backend,
        to_backend=event.to_backend,
        reason=event.reason,
        chars_before_switch=event.chars_before_switch,
        continuation=event.continuation,
    )


def _done(event: Done) -> router_pb2.DoneEvent:
    message = router_pb2.DoneEvent(
        finish_reason=_FINISH[event.finish_reason],
        usage=router_pb2.Usage(
            prompt_tokens=event.usage.prompt_tokens,
            completion_tokens=event.usage.completion_tokens,
            estimated=event.usage.estimated,
        ),
        total_time=proto_duration(event.total_time_s),
        upstream_time=proto_duration(event.upstream_time_s),
        overhead=proto_duration(event.overhead_s),
        attempts=[_attempt(a) for a in event.attempts],
        backend=event.backend,
        interaction_id=event.interaction_id,
        degraded=event.degraded,
        degraded_reason=event.degraded_reason,
        cost_usd=event.cost_usd,
    )
    if event.time_to_first_token_s is not None:
        message.time_to_first_token.CopyFrom(proto_duration(event.time_to_first_token_s))
    return message


def event_to_proto(event: Event) -> router_pb2.GenerateResponse:
    if isinstance(event, Token):
        return router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=event.text, backend=event.backend))
    if isinstance(event, Start):
        return router_pb2.GenerateResponse(
            start=router_pb2.StartEvent(
                request_id=event.request_id,
                backend=event.backend,
                model=event.model,
                topic=event.topic,
                topic_classified=event.topic_classified,
                cache_hit=event.cache_hit,
                mock=event.mock,
                routing_reason=event.routing_reason,
                degraded=event.degraded,
                degraded_reason=event.degraded_reason,
            )
        )
    if isinstance(event, Switch):
        return router_pb2.GenerateResponse(backend_switch=_switch(event))
    if isinstance(event, Done):
        return router_pb2.GenerateResponse(done=_done(event))
    return router_pb2.GenerateResponse(
        error=router_pb2.ErrorEvent(
            code=event.code.value,
            message=event.message,
            chars_sent=event.chars_sent,
            attempts=[_attempt(a) for a in event.attempts],
        )
    )


def _percentiles(p: Percentiles | None) -> router_pb2.LatencyPercentiles | None:
    if p is None:
        return None
    return router_pb2.LatencyPercentiles(p50=proto_duration(p.p50), p95=proto_duration(p.p95), p99=proto_duration(p.p99))


class RouterServiceServicer(router_pb2_grpc.RouterServiceServicer):
    def __init__(
        self,
        chain: Callable[[], Chain | None],
        *,
        clock: Clock,
        limits: Limits,
        classifier: TopicClassifier,
        telemetry: RouterTelemetry | None = None,
    ) -> None:
        # The chain is built in the app's start() (the default backends are
        # probed asynchronously); until then calls answer UNAVAILABLE.
        self._chain = chain
        self._clock = clock
        self._limits = limits
        self._classifier = classifier
        # Span attributes/events and domain metrics per request.
        self._telemetry = telemetry or RouterTelemetry()

    async def _ready(self, context: grpc.aio.ServicerContext) -> Chain:
        chain = self._chain()
        if chain is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the router is starting")
        assert chain is not None
        return chain

    def _request(self, request: router_pb2.GenerateRequest | router_pb2.CompleteRequest,
                 context: grpc.aio.ServicerContext, chain: Chain) -> RouteRequest:
        tenant = caller_tenant(context) or ""
        draft = Draft(
            messages=[
                Message(_ROLES.get(m.role, "" if m.role == router_pb2.ROLE_UNSPECIFIED else f"({m.role})"), m.content)
                for m in request.messages
            ],
            prompt=request.prompt,
            system_prompt=request.system_prompt,
            user_id=request.user_id,
            topic=request.topic,
            max_tokens=request.max_tokens,
            temperature=request.temperature if request.HasField("temperature") else None,
            pinned_backend=request.pinned_backend,
            request_id=request.request_id,
            cache_policy=_POLICIES.get(request.cache_policy, CachePolicy.DEFAULT),
            tenant=tenant,
        )
        return validate(draft, limits=self._limits, backends=chain.by_name.keys(), classifier=self._classifier)

    @staticmethod
    def _deadline(context: grpc.aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        if remaining is None or not math.isfinite(remaining):
            return None
        return asyncio.get_running_loop().time() + remaining

    async def _events(self, request: router_pb2.GenerateRequest | router_pb2.CompleteRequest,
                      context: grpc.aio.ServicerContext) -> AsyncIterator[Event]:
        received = self._clock.monotonic()
        chain = await self._ready(context)
        route = self._request(request, context, chain)
        events = chain.run(route, received_at=received, deadline=self._deadline(context))
        try:
            async for event in events:
                self._telemetry.observe(event, chain)
                yield event
        finally:
            await events.aclose()  # on cancellation too: closes the upstream stream now

    async def Generate(  # noqa: N802
        self, request: router_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        failed: Failed | None = None
        events = coalesced(self._events(request, context))
        try:
            async for event in events:
                if isinstance(event, Failed):
                    failed = event
                yield event_to_proto(event)
        finally:
            await events.aclose()
        if failed is not None:
            await context.abort(grpc.StatusCode[failed.code.value], failed.message)

    async def Complete(  # noqa: N802
        self, request: router_pb2.CompleteRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.CompleteResponse:
        text: list[str] = []
        switches: list[router_pb2.BackendSwitchEvent] = []
        start: Start | None = None
        done: Done | None = None
        events = self._events(request, context)
        try:
            async for event in events:
                if isinstance(event, Token):
                    text.append(event.text)
                elif isinstance(event, Start):
                    start = event
                elif isinstance(event, Switch):
                    switches.append(_switch(event))
                elif isinstance(event, Done):
                    done = event
                elif isinstance(event, Failed):
                    await context.abort(grpc.StatusCode[event.code.value], event.message)
        finally:
            await events.aclose()
        assert start is not None and done is not None  # the chain always ends with Done or Failed
        return router_pb2.CompleteResponse(
            request_id=start.request_id,
            text="".join(text),
            backend=done.backend,
            model=start.model,
            topic=start.topic,
            cache_hit=start.cache_hit,
            mock=start.mock,
            done=_done(done),
            switches=switches,
        )

    def _info(self, chain: Chain, lane: Lane) -> router_pb2.BackendInfo:
        cfg = lane.backend.config
        snap = lane.breaker.snapshot()
        figures = lane.stats.figures()
        since = timestamp_pb2.Timestamp()
        since.FromDatetime(self._clock.now() - timedelta(seconds=max(0.0, self._clock.monotonic() - snap.since_monotonic)))
        return router_pb2.BackendInfo(
            name=cfg.name,
            kind=_KIND.get(getattr(cfg.kind, "value", str(cfg.kind)), router_pb2.BACKEND_KIND_UNSPECIFIED),
            model=cfg.model,
            base_url=cfg.base_url,
            priority=cfg.priority,
            mock=lane.is_mock,
            breaker_state=_BREAKER[snap.state],
            health=_HEALTH[chain.health(cfg.name)],
            # The breaker's window; with no calls in it, 1.0 would claim too much and 0.0 too little,
            # so report the recent-calls figure instead (0 when there are none).
            success_rate=(1.0 - snap.failed / snap.calls) if snap.calls else (
                figures.successes / figures.calls if figures.calls else 0.0),
            window_calls=snap.calls,
            time_to_first_token=_percentiles(figures.time_to_first_token),
            total_time=_percentiles(figures.total_time),
            in_flight=figures.in_flight,
            cost_per_1k_prompt_tokens=cfg.cost_per_1k_prompt_tokens,
            cost_per_1k_completion_tokens=cfg.cost_per_1k_completion_tokens,
            supports_continuation=lane.supports_continuation,
            breaker_since=since,
        )

    async def ListBackends(  # noqa: N802
        self, request: router_pb2.ListBackendsRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListBackendsResponse:
        chain = await self._ready(context)
        return router_pb2.ListBackendsResponse(backends=[self._info(chain, lane) for lane in chain.lanes])

    async def SetBreakerState(  # noqa: N802
        self, request: router_pb2.SetBreakerStateRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.SetBreakerStateResponse:
        chain = await self._ready(context)
        problems = []
        if not request.backend:
            problems.append(FieldViolation("backend", "must not be empty"))
        if request.command not in (
            router_pb2.BREAKER_COMMAND_FORCE_OPEN,
            router_pb2.BREAKER_COMMAND_DISABLE,
            router_pb2.BREAKER_COMMAND_RESET,
        ):
            problems.append(FieldViolation("command", "must be FORCE_OPEN, DISABLE or RESET"))
        if problems:
            raise InvalidArgument(problems)
        lane = chain.by_name.get(request.backend)
        if lane is None:
            known = ", ".join(chain.by_name) or "none"
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no backend {request.backend!r} (configured: {known})")
        assert lane is not None
        if request.command == router_pb2.BREAKER_COMMAND_FORCE_OPEN:
            lane.breaker.force_open()
        elif request.command == router_pb2.BREAKER_COMMAND_DISABLE:
            lane.breaker.disable()
        else:
            lane.breaker.reset()
        return router_pb2.SetBreakerStateResponse(backend=self._info(chain, lane))
