"""The router's gRPC clients for its peers, each with a short deadline and a
degraded answer instead of an error when the peer is down or slow:

- learning: Recommend (default 25 ms; late or down → static order, said so) and
  the outcome sink (RecordInteractions, per-item RecordInteraction when the
  batch form is missing);
- cache: Lookup (short deadline; down → uncached, said so) and Store (in the
  background, never awaited by a caller);
- monitor: a WatchBackendHealth subscription kept in the background; down or
  UNIMPLEMENTED → no health information, and the breakers decide alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import grpc
from google.protobuf import timestamp_pb2

from services.router.chain import CachedAnswer, CacheLookup, Health, Recommendation
from services.router.draws import DrawBatch
from services.router.outcomes import Outcome, OutcomeRecord, RejectedBatch
from services.router.service import proto_duration
from switchboard.runtime.tenant import tenant_metadata
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.router.peers")


def _metadata(tenant: str) -> tuple[tuple[str, str], ...] | None:
    return tenant_metadata(tenant) or None


def _why(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details() or ''}".rstrip(": ")


# -- learning ----------------------------------------------------------------------

_OUTCOMES = {
    Outcome.SUCCESS: learning_pb2.OUTCOME_SUCCESS,
    Outcome.TIMEOUT: learning_pb2.OUTCOME_TIMEOUT,
    Outcome.RATE_LIMITED: learning_pb2.OUTCOME_RATE_LIMITED,
    Outcome.SERVER_ERROR: learning_pb2.OUTCOME_SERVER_ERROR,
    Outcome.CONNECTION_ERROR: learning_pb2.OUTCOME_CONNECTION_ERROR,
    Outcome.MALFORMED_STREAM: learning_pb2.OUTCOME_MALFORMED_STREAM,
    Outcome.CANCELLED: learning_pb2.OUTCOME_CANCELLED,
    Outcome.CONTENT_FILTERED: learning_pb2.OUTCOME_CONTENT_FILTERED,
    Outcome.OTHER_ERROR: learning_pb2.OUTCOME_OTHER_ERROR,
}


def interaction_of(record: OutcomeRecord) -> learning_pb2.Interaction:
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(record.occurred_at)
    message = learning_pb2.Interaction(
        interaction_id=record.interaction_id,
        request_id=record.request_id,
        tenant=record.tenant,
        user_id=record.user_id,
        topic=record.topic,
        backend=record.backend,
        model=record.model,
        outcome=_OUTCOMES[record.outcome],
        error_detail=record.error_detail[:500],
        attempt=record.attempt,
        total_time=proto_duration(record.total_time_s),
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cost_usd=record.cost_usd,
        prompt_chars=record.prompt_chars,
        occurred_at=occurred,
        fallback=record.fallback,
        was_cached=record.was_cached,
        prompt_fingerprint=record.prompt_fingerprint,
    )
    if record.time_to_first_token_s is not None:
        message.time_to_first_token.CopyFrom(proto_duration(record.time_to_first_token_s))
    return message


def _ranked_order(response: learning_pb2.RecommendResponse) -> list[str]:
    return [r.backend for r in sorted(response.ranked, key=lambda r: r.rank)]


class LearningClient:
    def __init__(self, channel: grpc.aio.Channel, *, recommend_deadline_s: float, send_timeout_s: float) -> None:
        self._stub = learning_pb2_grpc.LearningServiceStub(channel)
        self._recommend_deadline_s = recommend_deadline_s
        self._send_timeout_s = send_timeout_s
        self._batch_supported = True

    async def _recommend(
        self, *, tenant: str, user_id: str, topic: str, candidates: Sequence[str], request_id: str, draws: int,
        deadline_s: float | None = None,
    ) -> learning_pb2.RecommendResponse | str:
        """Learning's answer, or why there is none (said as the degraded reason)."""
        request = learning_pb2.RecommendRequest(
            user_id=user_id, topic=topic, candidate_backends=list(candidates), request_id=request_id, draws=draws
        )
        deadline = self._recommend_deadline_s if deadline_s is None else deadline_s
        try:
            return await self._stub.Recommend(request, timeout=deadline, metadata=_metadata(tenant))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return f"learning: no recommendation within {deadline * 1000:g} ms; static order"
            return f"learning: {_why(exc)}; static order"

    async def recommend(
        self, *, user_id: str, topic: str, candidates: Sequence[str], request_id: str, tenant: str = ""
    ) -> Recommendation:
        """One ranking (a Recommender: one call per request)."""
        response = await self._recommend(tenant=tenant, user_id=user_id, topic=topic, candidates=candidates,
                                         request_id=request_id, draws=0)
        if isinstance(response, str):
            return Recommendation(None, response)
        return Recommendation(_ranked_order(response))

    async def draws(
        self, *, tenant: str, user_id: str, topic: str, candidates: Sequence[str], count: int, request_id: str,
        deadline_s: float | None = None,
    ) -> DrawBatch:
        """`count` independent rankings (a DrawSource): the answer's `ranked`
        (itself a draw) and `count - 1` more. A learning that predates draws
        answers only `ranked`, which is then the whole batch."""
        response = await self._recommend(tenant=tenant, user_id=user_id, topic=topic, candidates=candidates,
                                         request_id=request_id, draws=max(0, count - 1), deadline_s=deadline_s)
        if isinstance(response, str):
            return DrawBatch([], response)
        return DrawBatch([_ranked_order(response), *(list(d.backends) for d in response.draws)])

    async def send(self, batch: Sequence[OutcomeRecord], *, patient: bool = False) -> None:
        """The OutcomeSink: raises on a transport failure (the queue retries).
        `patient` waits for the channel to (re)connect, within the send timeout."""
        interactions = [interaction_of(r) for r in batch]  # each carries its tenant
        if self._batch_supported:
            try:
                response = await self._stub.RecordInteractions(
                    learning_pb2.RecordInteractionsRequest(interactions=interactions),
                    timeout=self._send_timeout_s,
                    wait_for_ready=patient,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._batch_supported = False  # an older learning: one at a time from now on
                elif exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    # e.g. UNAVAILABLE: the queue keeps the batch and retries.
                    raise ConnectionError(f"learning: {_why(exc)}") from exc
                # INVALID_ARGUMENT for the whole batch (e.g. over its maximum): send one by one.
            else:
                for bad in response.rejected:
                    log.warning(
                        "learning rejected an outcome",
                        extra={"interaction_id": bad.interaction_id, "field": bad.field, "reason": bad.reason},
                    )
                return
        rejected = 0
        for record, interaction in zip(batch, interactions, strict=True):
            try:
                await self._stub.RecordInteraction(
                    learning_pb2.RecordInteractionRequest(interaction=interaction),
                    timeout=self._send_timeout_s,
                    wait_for_ready=patient,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    self._batch_supported = True  # learning is not serving either form yet: ask again later
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    # What was sent already is deduplicated by interaction id on the resend.
                    raise ConnectionError(f"learning: {_why(exc)}") from exc
                rejected += 1
                log.warning("learning rejected an outcome", extra={"interaction_id": record.interaction_id,
                                                                   "error": _why(exc)})
        if rejected == len(batch):
            raise RejectedBatch(f"all {rejected} outcomes rejected")


# -- cache ---------------------------------------------------------------------------


class CacheClient:
    def __init__(
        self, channel: grpc.aio.Channel, *, lookup_deadline_s: float, store_timeout_s: float, ttl_s: float
    ) -> None:
        self._stub = cache_pb2_grpc.CacheServiceStub(channel)
        self._lookup_deadline_s = lookup_deadline_s
        self._store_timeout_s = store_timeout_s
        self._ttl_s = ttl_s
        self._stores: set[asyncio.Task[None]] = set()

    async def lookup(self, key: str, *, tenant: str = "", deadline_s: float | None = None) -> CacheLookup:
        timeout = self._lookup_deadline_s if deadline_s is None else min(deadline_s, self._lookup_deadline_s)
        try:
            response = await self._stub.Lookup(
                cache_pb2.LookupRequest(key=key), timeout=max(timeout, 0.001), metadata=_metadata(tenant)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                ms = timeout * 1000
                return CacheLookup(None, f"cache: no answer within {ms:g} ms; uncached")
            return CacheLookup(None, f"cache: {_why(exc)}; uncached")
        if response.degraded:
            return CacheLookup(None, f"cache degraded: {response.degraded_reason}")
        if not response.found:
            return CacheLookup(None)
        try:
            text = response.entry.value.decode("utf-8")
        except UnicodeDecodeError:
            return CacheLookup(None, "cache: entry is not UTF-8 text; ignored")
        meta = response.entry.metadata
        return CacheLookup(CachedAnswer(text, meta.backend, meta.model, meta.completion_tokens, meta.prompt_tokens))

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
    ) -> None:
        """Stores in the background: the caller's answer never waits for the cache."""
        request = cache_pb2.StoreRequest(
            key=key,
            value=text.encode("utf-8"),
            metadata=cache_pb2.EntryMetadata(
                backend=backend,
                model=model,
                original_latency=proto_duration(latency_s),
                cost_usd=cost_usd,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            ),
        )
        if self._ttl_s > 0:
            request.ttl.CopyFrom(proto_duration(self._ttl_s))
        task = asyncio.create_task(self._store(request, tenant))
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)

    async def _store(self, request: cache_pb2.StoreRequest, tenant: str) -> None:
        try:
            response = await self._stub.Store(request, timeout=self._store_timeout_s, metadata=_metadata(tenant))
        except grpc.aio.AioRpcError as exc:
            log.info("cache store failed", extra={"error": _why(exc)})
            return
        if not response.stored:
            log.info("cache did not store", extra={"reason": response.degraded_reason})

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Waits (bounded) for background stores, e.g. at shutdown or in tests."""
        if self._stores:
            await asyncio.wait(set(self._stores), timeout=timeout_s)


# -- monitor -----------------------------------------------------------------------------


_HEALTH = {
    monitor_pb2.TARGET_STATUS_HEALTHY: Health.HEALTHY,
    monitor_pb2.TARGET_STATUS_DEGRADED: Health.HEALTHY,  # impaired but serving: still tried
    monitor_pb2.TARGET_STATUS_UNHEALTHY: Health.UNHEALTHY,
    monitor_pb2.TARGET_STATUS_UNREACHABLE: Health.UNHEALTHY,
}


class BackendHealthView:
    """What the monitor last said about each backend. Without a live, fresh view
    every backend is UNKNOWN, which the chain treats like HEALTHY."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        clock: Clock,
        *,
        retry_s: float,
        stopping: asyncio.Event,
        heartbeat_s: float = 0.0,
    ) -> None:
        self._stub = monitor_pb2_grpc.MonitorServiceStub(channel)
        self._clock = clock
        self._retry_s = retry_s
        # Asking for heartbeats makes the monitor set stale_after, so a monitor
        # that goes silent with the stream still open stops steering routing.
        self._heartbeat_s = heartbeat_s
        self._stopping = stopping
        self._view: dict[str, Health] = {}
        self._expires_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_problem = "not subscribed yet"

    def health(self, backend: str) -> Health:
        if self._expires_at is not None and self._clock.monotonic() > self._expires_at:
            return Health.UNKNOWN  # stale: the monitor went quiet; breakers decide
        return self._view.get(backend, Health.UNKNOWN)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="monitor-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self._retry_s
            try:
                request = monitor_pb2.WatchBackendHealthRequest()
                if self._heartbeat_s > 0:
                    request.heartbeat_interval.CopyFrom(proto_duration(self._heartbeat_s))
                call = self._stub.WatchBackendHealth(request)
                async for message in call:
                    self._absorb(message)
                self.last_problem = "monitor ended the health stream"
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    pause = self._retry_s * 12  # an older monitor: ask rarely
                if self.last_problem != _why(exc):
                    log.info("no backend health from the monitor; relying on breakers", extra={"error": _why(exc)})
                self.last_problem = _why(exc)
            self._view = {}
            self._expires_at = None
            await self._clock.sleep(pause)

    def _absorb(self, message: monitor_pb2.WatchBackendHealthResponse) -> None:
        self._view = {b.backend: _HEALTH.get(b.status, Health.UNKNOWN) for b in message.backends}
        stale = message.stale_after.ToTimedelta().total_seconds() if message.HasField("stale_after") else 0.0
        self._expires_at = self._clock.monotonic() + stale if stale > 0 else None
        self.last_problem = ""
