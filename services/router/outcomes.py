"""Attempt outcomes on their way to the learning service.

`OutcomeQueue.submit` never waits: the caller's answer must not depend on
learning. A background task sends batches through an `OutcomeSink` (a part
batch goes at most once per `linger_s`, so outcomes share calls); while the
sink fails (learning down) the records stay queued and are retried with a
growing pause, so nothing is lost unless the bounded queue overflows, in which
case the oldest records are dropped and counted. Every record carries an
interaction id, so a resend after an ambiguous failure is deduplicated by
learning.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from opentelemetry.trace import SpanContext

from switchboard.runtime.clock import Clock
from switchboard.runtime.telemetry import capture_context, start_linked_span
from switchboard.runtime.waits import first_of

log = logging.getLogger("switchboard.router.outcomes")

FLUSH_RETRY_S = 0.1  # pause between tries of the last flush (real time: the process is ending)


class Outcome(enum.Enum):
    """How one attempt ended, in learning's vocabulary."""

    SUCCESS = "SUCCESS"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    MALFORMED_STREAM = "MALFORMED_STREAM"
    CANCELLED = "CANCELLED"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    OTHER_ERROR = "OTHER_ERROR"


@dataclass(frozen=True)
class OutcomeRecord:
    """One attempt on one backend (learning's Interaction)."""

    interaction_id: str  # f"{request_id}:{attempt}", the idempotency key
    request_id: str
    user_id: str
    topic: str
    backend: str
    model: str
    outcome: Outcome
    attempt: int  # 1-based position in the request's chain
    total_time_s: float
    occurred_at: datetime
    time_to_first_token_s: float | None = None
    error_detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    prompt_chars: int = 0
    fallback: bool = False
    was_cached: bool = False
    prompt_fingerprint: str = ""
    tenant: str = ""
    # The request's span, captured where the record is made, so the batch
    # that carries it to learning links back to the request's trace.
    trace_context: SpanContext | None = field(default_factory=capture_context, compare=False, repr=False)


class OutcomeSink(Protocol):
    async def send(self, batch: Sequence[OutcomeRecord], *, patient: bool = False) -> None:
        """Delivers `batch`. Raises `RejectedBatch` when resending cannot help,
        any other exception when it may (the batch is then retried). `patient`:
        wait for an unreachable receiver (the caller bounds the wait) rather
        than fail at once; used by the last flush at shutdown."""
        ...


class RejectedBatch(Exception):
    """The receiver refused the batch for good (e.g. invalid): drop, don't retry."""


@dataclass(frozen=True)
class QueueFigures:
    pending: int
    sent: int
    dropped: int  # overflow: oldest records discarded while the queue was full
    rejected: int  # refused for good by the receiver
    failures: int  # failed send attempts (each retried)


class OutcomeQueue:
    def __init__(
        self,
        sink: OutcomeSink,
        clock: Clock,
        *,
        max_size: int = 10_000,
        batch_size: int = 100,
        linger_s: float = 0.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._max_size = max_size
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._queue: deque[OutcomeRecord] = deque()
        self._inflight: list[OutcomeRecord] = []
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()  # a whole batch is waiting: it need not linger
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._sent = 0
        self._dropped = 0
        self._rejected = 0
        self._failures = 0
        self._down_since_warned = False

    # -- producer side ----------------------------------------------------------

    def submit(self, record: OutcomeRecord) -> None:
        """Queues `record`; never blocks. A full queue drops its oldest record."""
        self._queue.append(record)
        self._trim()
        self._idle.clear()
        self._wakeup.set()
        if len(self._queue) >= self._batch_size:
            self._full.set()

    def figures(self) -> QueueFigures:
        return QueueFigures(
            pending=len(self._queue) + len(self._inflight),
            sent=self._sent,
            dropped=self._dropped,
            rejected=self._rejected,
            failures=self._failures,
        )

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outcome-queue")

    async def drained(self) -> None:
        """Waits until everything submitted so far has been sent (or dropped)."""
        await self._idle.wait()

    async def stop(self, flush_timeout_s: float) -> None:
        """Stops the sender, then gives what is left one bounded chance to go."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._requeue_inflight()
        if self._queue and flush_timeout_s > 0:
            # Learning may be just coming back: keep trying, patiently, until
            # the budget is spent; what is left then is counted below.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout_s):
                    while self._queue:
                        if not await self._send_one_batch(patient=True):
                            await asyncio.sleep(FLUSH_RETRY_S)
        if self._queue:
            log.warning(
                "outcomes not delivered to learning at shutdown",
                extra={"lost_outcomes": len(self._queue)},
            )

    # -- sender ----------------------------------------------------------------------

    def _trim(self) -> None:
        overflow = len(self._queue) + len(self._inflight) - self._max_size
        dropped = 0
        while overflow > 0 and self._queue:
            self._queue.popleft()
            overflow -= 1
            dropped += 1
        if dropped:
            before, self._dropped = self._dropped, self._dropped + dropped
            # Warn on the first drop and then once per thousand, not once per record.
            if before == 0 or before // 1000 != self._dropped // 1000:
                log.warning(
                    "outcome queue full: oldest outcomes dropped",
                    extra={"dropped_now": dropped, "dropped_total": self._dropped, "queue_size": self._max_size},
                )

    def _requeue_inflight(self) -> None:
        if self._inflight:
            self._queue.extendleft(reversed(self._inflight))
            self._inflight = []
            self._trim()

    async def _send_one_batch(self, *, patient: bool = False) -> bool:
        """Sends the oldest batch; True when it left the queue (sent or rejected)."""
        self._inflight = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
        try:
            with start_linked_span("router.send_outcomes", [r.trace_context for r in self._inflight],
                                   attributes={"switchboard.outcomes": len(self._inflight)}):
                await self._sink.send(self._inflight, patient=patient)
        except RejectedBatch as exc:
            self._rejected += len(self._inflight)
            log.error("learning refused outcomes", extra={"count": len(self._inflight), "error": str(exc)})
        except asyncio.CancelledError:
            self._requeue_inflight()
            raise
        except Exception as exc:  # noqa: BLE001  (keep and retry: losing outcomes is worse)
            self._failures += 1
            self._requeue_inflight()
            if not isinstance(exc, OSError):  # ConnectionError and TimeoutError are OSErrors
                # Not a transport failure: a bug, shown with its traceback, not
                # hidden behind "learning unreachable".
                log.exception("sending outcomes failed unexpectedly", extra={"pending": len(self._queue)})
            elif not self._down_since_warned:
                self._down_since_warned = True
                log.warning(
                    "learning unreachable: outcomes wait in the queue",
                    extra={"pending": len(self._queue), "error": str(exc)},
                )
            return False
        else:
            self._sent += len(self._inflight)
            if self._down_since_warned:
                self._down_since_warned = False
                log.info("learning reachable again: sending queued outcomes", extra={"pending": len(self._queue)})
        self._inflight = []
        return True

    async def _run(self) -> None:
        pause = self._retry_initial_s
        send_at: float | None = None  # when a part batch may go; None: the queue was empty
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                send_at = None
                await self._wakeup.wait()
                continue
            now = self._clock.monotonic()
            if self._linger_s > 0 and len(self._queue) < self._batch_size:
                # A call costs learning about as much as a whole batch's rows, so a
                # part batch goes at most once per linger (~0.2 s later matters not
                # to learning), also under steady load, when the queue never empties.
                if send_at is None:
                    send_at = now + self._linger_s
                if now < send_at:
                    self._full.clear()
                    await first_of(self._clock.sleep(send_at - now), self._full.wait())
                    continue
            send_at = now + self._linger_s
            if await self._send_one_batch():
                pause = self._retry_initial_s
            else:
                await self._clock.sleep(pause)
                pause = min(pause * 2, self._retry_max_s)
