"""The fallback chain: which backends, in what order, and what the caller sees.

One request becomes a stream of events (`Start`, `Token`, `Switch`, then exactly
one `Done` or `Failed`):

1. A deterministic request is looked up in the cache first (short deadline);
   a hit is streamed as is. Meanwhile learning is asked for an order (25 ms);
   without an answer the static priority order is used.
2. Backends are tried in that order; an open breaker or a monitor verdict of
   unhealthy skips one. A failure before the first token moves on silently:
   the start event is sent only with the first token, so the caller never
   sees a failed attempt except in the done event's attempt list.
3. A failure after tokens were sent continues on the next backend that can
   continue from an assistant prefix, announced by a `Switch` event; when none
   can, the stream ends with `Failed` (never a silent truncation).
4. When every backend is out before any token: a cached answer if one exists,
   else the configured degraded text with finish reason DEGRADED. A pinned
   backend has no fallback: cached answer, else `Failed` (UNAVAILABLE).

The caller's deadline (less a small margin, so the error event still reaches
the caller) bounds every attempt; when it runs out the stream ends with
`Failed` (DEADLINE_EXCEEDED), and neither the breaker nor learning blame the
backend. A cancelled caller releases the breaker permit as ignored and closes
the upstream stream at once.
Every real attempt is reported to learning through the outcome queue.

Local overload: when the router's own connection pool has no free connection
in time (POOL_EXHAUSTED), the request never reached the backend. That attempt
is reported SKIPPED, releases its breaker permit as ignored and is not sent to
learning; the next backend is tried. When nothing answered and some backend
was skipped that way, the call ends RESOURCE_EXHAUSTED (after a cached
answer, if one exists) rather than blaming the backends or serving the
offline text.

Timing (DoneEvent): `upstream_time` is the time the router waited on the
backends: for each attempt, from sending the request to each chunk's arrival,
summed over the waits for the next chunk, so the time spent
handing chunks to the caller is not in it. `overhead` = `total_time` −
`upstream_time`: the router's own cost (validation, cache and learning
look-ups, relaying). Attempt durations (breaker, learning, attempt list) stay
the whole attempt.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.router.backends.base import (
    Backend,
    BackendError,
    BackendRequest,
    ChatTurn,
    DeadlineReached,
    ErrorKind,
)
from services.router.breaker import BreakerState, CircuitBreaker, CircuitOpen, Permit
from services.router.outcomes import Outcome, OutcomeRecord
from services.router.stats import BackendStats
from services.router.validation import CachePolicy, RouteRequest
from switchboard.cache_key import CacheKeyInput, cache_key
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.router.chain")

OFFLINE_BACKEND = "offline"  # names the degraded answer's source in events
CACHED_PIECE_CHARS = 256  # a cached answer is streamed in pieces of about this size


# -- ports: what the chain needs from its peers (implemented in peers.py) -------------


class Health(enum.Enum):
    UNKNOWN = "UNKNOWN"  # no fresh word from the monitor: the breakers decide alone
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"


@dataclass(frozen=True)
class Recommendation:
    order: list[str] | None  # best first; None: no usable answer
    degraded_reason: str = ""  # why there is none


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    backend: str
    model: str
    completion_tokens: int = 0
    prompt_tokens: int = 0


@dataclass(frozen=True)
class CacheLookup:
    answer: CachedAnswer | None
    degraded_reason: str = ""  # non-empty when the cache could not be asked


class Recommender(Protocol):
    async def recommend(
        self, *, user_id: str, topic: str, candidates: Sequence[str], request_id: str, tenant: str = ""
    ) -> Recommendation: ...


class AnswerCache(Protocol):
    async def lookup(self, key: str, *, tenant: str = "", deadline_s: float | None = None) -> CacheLookup: ...

    def store_later(
        self,
        key: str,
        text: str,
        *,
        backend: str,
        model: str,
        latency_s: float,
        cost_usd: float,
        prompt_tokens: int,
        completion_tokens: int,
        tenant: str = "",
    ) -> None: ...


class HealthSource(Protocol):
    def health(self, backend: str) -> Health: ...


class OutcomeSubmitter(Protocol):
    def submit(self, record: OutcomeRecord) -> None: ...


# -- events ------------------------------------------------------------------------------


class FinishReason(enum.Enum):
    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    DEGRADED = "degraded"


class AttemptOutcome(enum.Enum):
    SUCCESS = "SUCCESS"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    SERVER_ERROR = "SERVER_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    MALFORMED_STREAM = "MALFORMED_STREAM"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    CLIENT_ERROR = "CLIENT_ERROR"


POOL_EXHAUSTED_DETAIL = "router connection pool exhausted"


@dataclass(frozen=True)
class AttemptReport:
    backend: str
    model: str
    outcome: AttemptOutcome
    detail: str = ""
    time_to_first_token_s: float | None = None
    duration_s: float = 0.0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


@dataclass(frozen=True)
class Start:
    request_id: str
    backend: str
    model: str
    topic: str
    topic_classified: bool
    cache_hit: bool
    mock: bool
    routing_reason: str
    degraded: bool
    degraded_reason: str
    recommendation: tuple[str, ...] = ()  # learning's order when it was used (best first); () when not


@dataclass(frozen=True)
class Token:
    text: str
    backend: str


@dataclass(frozen=True)
class Switch:
    from_backend: str
    to_backend: str
    reason: str
    chars_before_switch: int
    continuation: bool


@dataclass(frozen=True)
class Done:
    finish_reason: FinishReason
    usage: Usage
    time_to_first_token_s: float | None
    total_time_s: float
    upstream_time_s: float
    overhead_s: float
    attempts: tuple[AttemptReport, ...]
    backend: str
    interaction_id: str
    degraded: bool = False
    degraded_reason: str = ""
    cost_usd: float = 0.0


class FailCode(enum.Enum):
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # the router itself is overloaded (its connection pool)


@dataclass(frozen=True)
class Failed:
    code: FailCode
    message: str
    chars_sent: int
    attempts: tuple[AttemptReport, ...]


Event = Start | Token | Switch | Done | Failed


# -- the chain ------------------------------------------------------------------------------


@dataclass
class Lane:
    """One configured backend with its breaker and recent figures."""

    backend: Backend
    breaker: CircuitBreaker
    stats: BackendStats

    @property
    def name(self) -> str:
        return self.backend.config.name

    @property
    def model(self) -> str:
        return self.backend.config.model

    @property
    def is_mock(self) -> bool:
        return bool(self.backend.config.is_mock)

    @property
    def supports_continuation(self) -> bool:
        return bool(self.backend.supports_continuation)


_KIND_OUTCOME = {
    ErrorKind.CONNECTION: (AttemptOutcome.CONNECTION_ERROR, Outcome.CONNECTION_ERROR),
    ErrorKind.SERVER: (AttemptOutcome.SERVER_ERROR, Outcome.SERVER_ERROR),
    ErrorKind.RATE_LIMITED: (AttemptOutcome.RATE_LIMITED, Outcome.RATE_LIMITED),
    ErrorKind.TIMEOUT: (AttemptOutcome.TIMEOUT, Outcome.TIMEOUT),
    ErrorKind.MALFORMED: (AttemptOutcome.MALFORMED_STREAM, Outcome.MALFORMED_STREAM),
    ErrorKind.CLIENT: (AttemptOutcome.CLIENT_ERROR, Outcome.OTHER_ERROR),
}

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH, "content_filter": FinishReason.CONTENT_FILTER}


def estimate_tokens(chars: int) -> int:
    """About four characters a token: used only when a backend reports no usage."""
    return math.ceil(chars / 4) if chars > 0 else 0


def pieces(text: str, size: int = CACHED_PIECE_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class _Attempt:
    """One attempt on one backend, as it goes."""

    lane: Lane
    number: int  # 1-based among real attempts
    started: float  # clock.monotonic()
    occurred_at: datetime
    ttft: float | None = None
    produced: list[str] = field(default_factory=list)
    pieces: int = 0  # the backend's text events (a completion-token estimate without reported usage)
    reported_prompt: int | None = None
    reported_completion: int | None = None
    finish: FinishReason | None = None
    outcome: AttemptOutcome = AttemptOutcome.SUCCESS
    learned: Outcome = Outcome.SUCCESS
    detail: str = ""
    verdict: str = "success"  # for the breaker: success | failure | ignore
    waited_s: float = 0.0  # time spent waiting on the backend for chunks (upstream time)
    local_overload: bool = False  # never reached the backend: the router's pool was exhausted

    def failed(self, outcome: AttemptOutcome, learned: Outcome, detail: str, *, verdict: str = "ignore") -> None:
        self.outcome, self.learned, self.detail, self.verdict = outcome, learned, detail, verdict


@dataclass
class _Answer:
    """What one request has produced so far, across attempts."""

    text: list[str] = field(default_factory=list)
    chars: int = 0
    started: bool = False  # the start event has been sent
    first_token_at: float | None = None
    attempts: list[AttemptReport] = field(default_factory=list)
    attempt_no: int = 0  # real attempts (skips not counted)
    upstream_s: float = 0.0
    cost_usd: float = 0.0
    completion_tokens: int = 0
    prompt_tokens: int | None = None
    estimated: bool = False
    finish: FinishReason | None = None
    backend: str = ""
    # A failure after tokens: announced when the continuing backend produces.
    pending_switch: tuple[str, str] | None = None  # (from_backend, reason)
    deadline_hit: bool = False
    overloaded: bool = False  # some backend was skipped for the router's own overload

    @property
    def joined(self) -> str:
        return "".join(self.text)


@dataclass(frozen=True)
class ChainOptions:
    degraded_text: str
    deadline_margin_s: float = 0.05


class Chain:
    def __init__(
        self,
        lanes: Sequence[Lane],
        *,
        clock: Clock,
        options: ChainOptions,
        outcomes: OutcomeSubmitter,
        recommender: Recommender | None = None,
        cache: AnswerCache | None = None,
        health: HealthSource | None = None,
    ) -> None:
        # Static priority order: priority, then the order of configuration.
        self.lanes: list[Lane] = sorted(lanes, key=lambda lane: lane.backend.config.priority)
        self.by_name: dict[str, Lane] = {lane.name: lane for lane in self.lanes}
        self.clock = clock
        self.options = options
        self.outcomes = outcomes
        self.recommender = recommender
        self.cache = cache
        self._health = health

    def health(self, backend: str) -> Health:
        return self._health.health(backend) if self._health is not None else Health.UNKNOWN

    # -- the request -------------------------------------------------------------------

    async def run(self, request: RouteRequest, *, received_at: float, deadline: float | None) -> AsyncIterator[Event]:
        """Events of one answer. `received_at` is on the chain's clock; `deadline`
        on the event loop's (the caller's gRPC deadline is real time)."""
        ctx = _Run(self, request, received_at, deadline)
        async for event in ctx.events():
            yield event

    def cache_key_of(self, request: RouteRequest) -> str:
        pinned = self.by_name.get(request.pinned_backend or "")
        return cache_key(
            CacheKeyInput(
                messages=[(m.role, m.content) for m in request.given_messages],
                prompt=request.prompt,
                system_prompt=request.system_prompt,
                pinned_backend=pinned.name if pinned else "",
                pinned_model=pinned.model if pinned else "",
                temperature=request.temperature,
                max_tokens=request.max_tokens or 0,
            )
        )


class _Run:
    """The state of one request through the chain."""

    def __init__(self, chain: Chain, request: RouteRequest, received_at: float, deadline: float | None) -> None:
        self.chain = chain
        self.req = request
        self.clock = chain.clock
        self.received_at = received_at
        self.deadline = deadline
        self.answer = _Answer()
        self.notes: list[str] = []  # degraded peers, for the start event
        self.routing_reason = ""
        self.recommendation: tuple[str, ...] = ()
        self.key: str | None = None
        self.cache_missed_cleanly = False

    # -- time --

    def _loop_now(self) -> float:
        return asyncio.get_running_loop().time()

    def _attempt_deadline(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - self.chain.options.deadline_margin_s

    def _out_of_time(self) -> bool:
        limit = self._attempt_deadline()
        return limit is not None and self._loop_now() >= limit

    def _remaining_s(self) -> float | None:
        limit = self._attempt_deadline()
        return None if limit is None else max(0.0, limit - self._loop_now())

    # -- the whole request --

    async def events(self) -> AsyncIterator[Event]:
        req = self.req
        chain = self.chain
        candidates = [chain.by_name[req.pinned_backend]] if req.pinned_backend else list(chain.lanes)
        if chain.cache is not None and req.cache_policy is not CachePolicy.BYPASS:
            self.key = chain.cache_key_of(req)

        recommending: asyncio.Task[Recommendation] | None = None
        try:
            usable = [lane.name for lane in candidates if self._usable(lane)]
            if chain.recommender is not None and not req.pinned_backend and len(usable) > 1:
                recommending = asyncio.create_task(
                    chain.recommender.recommend(
                        user_id=req.user_id, topic=req.topic, candidates=usable, request_id=req.request_id,
                        tenant=req.tenant,
                    )
                )
            if req.uses_cache and self.key is not None:
                hit = await self._lookup()
                if hit is not None:
                    async for event in self._serve_cached(hit, degraded_reason=""):
                        yield event
                    return
            order = self._static_order(candidates)
            if recommending is not None:
                try:
                    recommendation = await recommending
                except Exception as exc:  # noqa: BLE001  (a peer client bug must not fail the request)
                    log.exception("recommendation failed")
                    recommendation = Recommendation(None, f"learning: {type(exc).__name__}; static order")
                if recommendation.order is not None:
                    order = self._merge(recommendation.order, candidates)
                    self.routing_reason = f"recommended by learning for topic {req.topic}"
                    self.recommendation = tuple(recommendation.order)
                else:
                    self.notes.append(recommendation.degraded_reason)
        finally:
            if recommending is not None and not recommending.done():
                recommending.cancel()

        for lane in order:
            if self._out_of_time():
                self.answer.deadline_hit = True
                break
            async for event in self._try(lane):
                yield event
            if self.answer.finish is not None or self.answer.deadline_hit:
                break

        if self.answer.finish is not None:
            yield self._done()
            return
        async for event in self._no_answer():
            yield event

    def _usable(self, lane: Lane) -> bool:
        state = lane.breaker.state
        return state not in (BreakerState.OPEN, BreakerState.FORCED_OPEN) and (
            self.chain.health(lane.name) is not Health.UNHEALTHY
        )

    def _static_order(self, candidates: list[Lane]) -> list[Lane]:
        self.routing_reason = "pinned by the caller" if self.req.pinned_backend else "static priority order"
        return candidates

    @staticmethod
    def _merge(recommended: Sequence[str], candidates: list[Lane]) -> list[Lane]:
        """Learning's order first, then whatever it left out, in priority order."""
        by_name = {lane.name: lane for lane in candidates}
        order = [by_name[name] for name in dict.fromkeys(recommended) if name in by_name]
        return order + [lane for lane in candidates if lane not in order]

    async def _lookup(self) -> CachedAnswer | None:
        assert self.chain.cache is not None and self.key is not None
        remaining = self._remaining_s()
        try:
            result = await self.chain.cache.lookup(self.key, tenant=self.req.tenant, deadline_s=remaining)
        except Exception as exc:  # noqa: BLE001  (the cache is optional: never fail the request on it)
            log.exception("cache lookup failed")
            result = CacheLookup(None, f"cache: {type(exc).__name__}; uncached")
        if result.degraded_reason:
            self.notes.append(result.degraded_reason)
        elif result.answer is None:
            self.cache_missed_cleanly = True
        return result.answer

    # -- one attempt --

    async def _try(self, lane: Lane) -> AsyncIterator[Event]:
        answer = self.answer
        if answer.chars and not lane.supports_continuation:
            return  # cannot pick up a half-sent answer
        if self.chain.health(lane.name) is Health.UNHEALTHY:
            answer.attempts.append(AttemptReport(lane.name, lane.model, AttemptOutcome.SKIPPED, "monitor reports unhealthy"))
            return
        try:
            permit = lane.breaker.acquire()
        except CircuitOpen as exc:
            answer.attempts.append(AttemptReport(lane.name, lane.model, AttemptOutcome.SKIPPED, str(exc)))
            return

        answer.attempt_no += 1
        attempt = _Attempt(lane, answer.attempt_no, self.clock.monotonic(), self.clock.now())
        request = BackendRequest(
            messages=tuple(ChatTurn(m.role, m.content) for m in self.req.messages),
            max_tokens=self.req.max_tokens,
            temperature=self.req.temperature,
            assistant_prefix=answer.joined,
        )
        lane.stats.started()
        # The caller's deadline (less the margin) goes to the backend, which folds it
        # into its own per-read timer (no timer per chunk here): every Backend must
        # honour it, or only gRPC's own deadline ends a stalled attempt.
        stream = lane.backend.stream(request, deadline=self._attempt_deadline())
        try:
            while True:
                waiting = self.clock.monotonic()
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    raise BackendError(ErrorKind.MALFORMED, "stream ended without a finish reason") from None
                finally:
                    attempt.waited_s += self.clock.monotonic() - waiting
                if chunk.text:
                    if attempt.ttft is None:
                        attempt.ttft = self.clock.monotonic() - attempt.started
                    for event in self._before_text(lane):
                        yield event
                    attempt.produced.append(chunk.text)
                    attempt.pieces += chunk.pieces
                    answer.text.append(chunk.text)
                    answer.chars += len(chunk.text)
                    yield Token(chunk.text, lane.name)
                if chunk.finish_reason is not None:
                    attempt.finish = _FINISH.get(chunk.finish_reason, FinishReason.STOP)
                    attempt.reported_prompt = chunk.prompt_tokens
                    attempt.reported_completion = chunk.completion_tokens
                    break
        except BackendError as exc:
            if exc.kind is ErrorKind.POOL_EXHAUSTED:
                # Our own overload, not the backend's: no breaker verdict, no learning record.
                attempt.failed(AttemptOutcome.SKIPPED, Outcome.OTHER_ERROR, POOL_EXHAUSTED_DETAIL)
                attempt.local_overload = True
                answer.overloaded = True
            else:
                attempt.failed(*_KIND_OUTCOME[exc.kind], exc.detail, verdict="failure")
        except DeadlineReached:
            # The caller's deadline, not the backend's fault.
            attempt.failed(AttemptOutcome.TIMEOUT, Outcome.CANCELLED, "the caller's deadline was reached")
            answer.deadline_hit = True
        except (asyncio.CancelledError, GeneratorExit):
            attempt.failed(AttemptOutcome.CANCELLED, Outcome.CANCELLED, "cancelled by the caller")
            raise
        except Exception as exc:  # noqa: BLE001  (an adapter bug must not end the chain)
            log.exception("backend adapter failed unexpectedly", extra={"backend": lane.name})
            attempt.failed(AttemptOutcome.SERVER_ERROR, Outcome.OTHER_ERROR,
                           f"adapter error: {type(exc).__name__}: {exc}", verdict="failure")
        finally:
            # Closes the upstream HTTP stream now, whatever happened.
            try:
                await stream.aclose()
            except Exception:  # noqa: BLE001
                log.debug("closing the backend stream failed", exc_info=True)
            self._settle(attempt, permit)

        if attempt.finish is not None:
            for event in self._before_text(lane):  # an empty answer still gets its start event
                yield event
            answer.finish = attempt.finish
            answer.backend = lane.name
            self._store(lane, attempt.finish)
            return
        if answer.chars and answer.pending_switch is None:
            answer.pending_switch = (lane.name, f"{attempt.outcome.value.lower()}: {attempt.detail}")
        log.info(
            "backend attempt failed",
            extra={"backend": lane.name, "outcome": attempt.outcome.value, "detail": attempt.detail,
                   "request_id": self.req.request_id, "chars_sent": answer.chars},
        )

    def _settle(self, attempt: _Attempt, permit: Permit) -> None:
        """One attempt's bookkeeping: breaker, figures, usage, cost, and its
        outcome on its way to learning."""
        lane, answer, req = attempt.lane, self.answer, self.req
        duration = self.clock.monotonic() - attempt.started
        if attempt.verdict == "success":
            # Slowness is judged on time to first token: a long answer is not a slow backend.
            permit.success(attempt.ttft if attempt.ttft is not None else duration)
        elif attempt.verdict == "failure":
            permit.failure(duration)
        else:
            permit.ignore()
        lane.stats.finished(
            success=attempt.verdict == "success",
            total_s=duration,
            ttft_s=attempt.ttft,
            counted=attempt.verdict != "ignore",
        )
        if attempt.local_overload:
            # Not an interaction with the backend: reported as skipped, not numbered, not learned from.
            answer.attempt_no -= 1
            answer.attempts.append(
                AttemptReport(lane.name, lane.model, AttemptOutcome.SKIPPED, attempt.detail, None, duration, 0)
            )
            return
        answered = bool(attempt.produced) or attempt.finish is not None
        # Without reported usage, count the backend's text events: about one token each.
        completion = attempt.reported_completion if attempt.reported_completion is not None else attempt.pieces
        prompt = attempt.reported_prompt if attempt.reported_prompt is not None else estimate_tokens(req.prompt_chars)
        cfg = lane.backend.config
        cost = (
            (prompt * cfg.cost_per_1k_prompt_tokens + completion * cfg.cost_per_1k_completion_tokens) / 1000
            if answered
            else 0.0
        )
        answer.upstream_s += attempt.waited_s
        answer.cost_usd += cost
        answer.completion_tokens += completion
        answer.estimated = answer.estimated or (attempt.reported_completion is None and completion > 0)
        if attempt.reported_prompt is not None:
            answer.prompt_tokens = attempt.reported_prompt
        answer.attempts.append(
            AttemptReport(lane.name, lane.model, attempt.outcome, attempt.detail, attempt.ttft, duration, completion)
        )
        learned = Outcome.CONTENT_FILTERED if attempt.finish is FinishReason.CONTENT_FILTER else attempt.learned
        self.chain.outcomes.submit(
            OutcomeRecord(
                interaction_id=f"{req.request_id}:{attempt.number}",
                request_id=req.request_id,
                tenant=req.tenant,
                user_id=req.user_id,
                topic=req.topic,
                backend=lane.name,
                model=lane.model,
                outcome=learned,
                attempt=attempt.number,
                total_time_s=duration,
                occurred_at=attempt.occurred_at,
                time_to_first_token_s=attempt.ttft,
                error_detail=attempt.detail,
                prompt_tokens=prompt if answered else 0,
                completion_tokens=completion,
                cost_usd=cost,
                prompt_chars=req.prompt_chars,
                fallback=attempt.number > 1,
                prompt_fingerprint=req.fingerprint,
            )
        )

    def _store(self, lane: Lane, finish: FinishReason) -> None:
        """A complete deterministic answer goes to the cache, in the background."""
        cache = self.chain.cache
        if cache is None or self.key is None or not self.req.uses_cache or finish is FinishReason.CONTENT_FILTER:
            return
        answer = self.answer
        cache.store_later(
            self.key,
            answer.joined,
            backend=lane.name,
            model=lane.model,
            latency_s=self.clock.monotonic() - self.received_at,
            cost_usd=answer.cost_usd,
            prompt_tokens=answer.prompt_tokens or estimate_tokens(self.req.prompt_chars),
            completion_tokens=answer.completion_tokens,
            tenant=self.req.tenant,
        )

    def _before_text(self, lane: Lane) -> list[Event]:
        """The start event before the first text, or the switch event before a
        continuing backend's first text."""
        answer = self.answer
        events: list[Event] = []
        if not answer.started:
            answer.started = True
            answer.first_token_at = self.clock.monotonic()
            reason = self.routing_reason
            failed_before = answer.attempt_no - 1
            if failed_before:
                reason += f"; after {failed_before} failed attempt{'s' if failed_before > 1 else ''}"
            events.append(self._start(lane.name, lane.model, lane.is_mock, reason, cache_hit=False))
        elif answer.pending_switch is not None:
            from_backend, why = answer.pending_switch
            answer.pending_switch = None
            events.append(Switch(from_backend, lane.name, why, answer.chars, continuation=True))
        return events

    def _start(self, backend: str, model: str, mock: bool, reason: str, *, cache_hit: bool) -> Start:
        notes = [n for n in self.notes if n]
        return Start(
            request_id=self.req.request_id,
            backend=backend,
            model=model,
            topic=self.req.topic,
            topic_classified=self.req.topic_classified,
            cache_hit=cache_hit,
            mock=mock,
            routing_reason=reason,
            degraded=bool(notes),
            degraded_reason="; ".join(notes),
            recommendation=self.recommendation,
        )

    # -- endings --

    def _timings(self) -> tuple[float, float | None, float]:
        total = self.clock.monotonic() - self.received_at
        ttft = None if self.answer.first_token_at is None else self.answer.first_token_at - self.received_at
        return total, ttft, max(0.0, total - self.answer.upstream_s)

    def _done(self, *, degraded_reason: str = "") -> Done:
        answer = self.answer
        total, ttft, overhead = self._timings()
        prompt = answer.prompt_tokens
        return Done(
            finish_reason=answer.finish or FinishReason.STOP,
            usage=Usage(
                prompt_tokens=prompt if prompt is not None else estimate_tokens(self.req.prompt_chars),
                completion_tokens=answer.completion_tokens,
                estimated=answer.estimated or prompt is None,
            ),
            time_to_first_token_s=ttft,
            total_time_s=total,
            upstream_time_s=answer.upstream_s,
            overhead_s=overhead,
            attempts=tuple(answer.attempts),
            backend=answer.backend,
            interaction_id=f"{self.req.request_id}:{max(answer.attempt_no, 1)}",
            degraded=bool(degraded_reason),
            degraded_reason=degraded_reason,
            cost_usd=answer.cost_usd,
        )

    def _why_nothing(self) -> str:
        reasons = [f"{a.backend}: {a.outcome.value.lower()}{': ' + a.detail if a.detail else ''}" for a in self.answer.attempts]
        return "; ".join(reasons) or "no backend configured"

    async def _no_answer(self) -> AsyncIterator[Event]:
        answer = self.answer
        attempts = tuple(answer.attempts)
        if answer.deadline_hit:
            where = f" after {answer.chars} characters" if answer.chars else ""
            yield Failed(FailCode.DEADLINE_EXCEEDED, f"the caller's deadline was reached{where} ({self._why_nothing()})",
                         answer.chars, attempts)
            return
        if answer.chars:
            frm = answer.pending_switch[0] if answer.pending_switch else "the backend"
            yield Failed(
                FailCode.UNAVAILABLE,
                f"answer cut off after {answer.chars} characters: {frm} failed and no backend could continue "
                f"({self._why_nothing()})",
                answer.chars,
                attempts,
            )
            return
        why = self._why_nothing()
        if answer.overloaded:
            # The router itself is overloaded: serve a cached answer if there is one,
            # else say so (RESOURCE_EXHAUSTED: retry later), rather than blame the backends.
            if self.key is not None and not self.cache_missed_cleanly and not self._out_of_time():
                hit = await self._lookup()
                if hit is not None:
                    async for event in self._serve_cached(
                        hit, degraded_reason=f"router overloaded ({why}); answer served from cache"
                    ):
                        yield event
                    return
            yield Failed(FailCode.RESOURCE_EXHAUSTED, f"the router is overloaded ({why})", 0, attempts)
            return
        # Last resort 1: a cached answer to the same request, even a non-deterministic one.
        if self.key is not None and not self.cache_missed_cleanly and not self._out_of_time():
            hit = await self._lookup()
            if hit is not None:
                async for event in self._serve_cached(hit, degraded_reason=f"every backend unavailable ({why}); "
                                                                            "answer served from cache"):
                    yield event
                return
        if self.req.pinned_backend:
            yield Failed(FailCode.UNAVAILABLE, f"pinned backend {self.req.pinned_backend} unavailable ({why})", 0,
                         attempts)
            return
        # Last resort 2: say plainly that nothing could answer.
        reason = f"every backend unavailable ({why})"
        log.warning("serving the offline answer", extra={"request_id": self.req.request_id, "reason": reason})
        answer.started = True
        answer.first_token_at = self.clock.monotonic()
        yield self._start(OFFLINE_BACKEND, "", False, "offline: every backend unavailable", cache_hit=False)
        text = self.chain.options.degraded_text
        yield Token(text, OFFLINE_BACKEND)
        answer.finish = FinishReason.DEGRADED
        answer.backend = OFFLINE_BACKEND
        answer.completion_tokens = estimate_tokens(len(text))
        answer.estimated = True
        yield self._done(degraded_reason=reason)

    async def _serve_cached(self, hit: CachedAnswer, *, degraded_reason: str) -> AsyncIterator[Event]:
        answer = self.answer
        lane = self.chain.by_name.get(hit.backend)
        backend = hit.backend or "cache"
        answer.started = True
        answer.first_token_at = self.clock.monotonic()
        reason = "cached answer" if not degraded_reason else "offline: cached answer"
        yield self._start(backend, hit.model, bool(lane and lane.is_mock), reason, cache_hit=True)
        for piece in pieces(hit.text):
            if piece:
                yield Token(piece, backend)
        answer.finish = FinishReason.STOP
        answer.backend = backend
        answer.completion_tokens = hit.completion_tokens or estimate_tokens(len(hit.text))
        answer.estimated = not hit.completion_tokens
        if hit.prompt_tokens:
            answer.prompt_tokens = hit.prompt_tokens
        first_real = answer.attempt_no + 1
        answer.attempt_no = first_real
        self.chain.outcomes.submit(
            OutcomeRecord(
                interaction_id=f"{self.req.request_id}:{first_real}",
                request_id=self.req.request_id,
                tenant=self.req.tenant,
                user_id=self.req.user_id,
                topic=self.req.topic,
                backend=backend,
                model=hit.model,
                outcome=Outcome.SUCCESS,
                attempt=first_real,
                total_time_s=self.clock.monotonic() - self.received_at,
                occurred_at=self.clock.now(),
                prompt_tokens=hit.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                prompt_chars=self.req.prompt_chars,
                fallback=first_real > 1,
                was_cached=True,
                prompt_fingerprint=self.req.fingerprint,
            )
        )
        yield self._done(degraded_reason=degraded_reason)


