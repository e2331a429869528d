"""The gateway's adaptive limit on LLM requests in flight (opt-in:
SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT), around switchboard/runtime/adaptive_limit.py.

Each admitted request measures its queueing delay: the gateway's time from
calling the router to its first token (a stream) or its answer (a unary call),
minus the router's own time for the same (DoneEvent.time_to_first_token /
total_time, from its handler's start). What is left is transport and waiting
outside the router's handler, which grows when the machine is saturated and
not when a backend is slow, an answer long, a client slow to upload or to read.
A request that ends without a DoneEvent (failed, cancelled) releases its permit
without a measurement.
"""

from __future__ import annotations

import logging

from switchboard.router.v1 import router_pb2
from switchboard.runtime.adaptive_limit import AdaptiveLimit, Permit
from switchboard.runtime.clock import Clock
from switchboard.runtime.metrics import MeshMetrics

log = logging.getLogger("switchboard.gateway.admission")

# Refusals are counted and logged at most this often, not one line each.
LOG_EVERY_S = 10.0


class Admission:
    """One admitted request's permit; `release` is idempotent, so it can be
    tied to the router call's completion and to the route's own exit both."""

    def __init__(self, owner: GatewayLimit, permit: Permit) -> None:
        self._owner = owner
        self._permit = permit
        self._called_at: float | None = None
        self._first_at: float | None = None
        self._delay_s: float | None = None
        self._released = False
        self.streaming = False  # a stream's permit is released when its router call ends

    def calling(self) -> None:
        """The router call starts now (after the body was read: a slow upload is not queueing)."""
        self._called_at = self._owner.clock.monotonic()

    def first_event(self) -> None:
        """A stream's first token (or its end) has just been read, before anything
        was written to the client: what comes later waits on the client too."""
        self._first_at = self._owner.clock.monotonic()

    def observe(self, done: router_pb2.DoneEvent) -> None:
        """The router's DoneEvent has been read. A stream compares the times to
        its first token (the router's from its handler's start); a unary call
        the whole times."""
        if self._called_at is None:
            return
        if self._first_at is not None and done.HasField("time_to_first_token"):
            ours, theirs = self._first_at - self._called_at, done.time_to_first_token.ToNanoseconds() / 1e9
        elif done.HasField("total_time"):
            ours, theirs = self._owner.clock.monotonic() - self._called_at, done.total_time.ToNanoseconds() / 1e9
        else:
            return
        self._delay_s = max(0.0, ours - theirs)

    def release(self, *_: object) -> None:
        if not self._released:
            self._released = True
            self._owner.release(self._permit, self._delay_s)


class GatewayLimit:
    def __init__(self, limit: AdaptiveLimit, clock: Clock, metrics: MeshMetrics) -> None:
        self._limit = limit
        self.clock = clock
        self._metrics = metrics
        self._refused_logged = 0
        self._logged_at = float("-inf")
        self._metrics.concurrency_limit(int(limit.limit))

    def admit(self) -> Admission | None:
        """An admission, or None: refuse with 503 + Retry-After."""
        permit = self._limit.acquire()
        if permit is None:
            self._metrics.refused()
            self._log_refusals()
            return None
        return Admission(self, permit)

    def release(self, permit: Permit, delay_s: float | None) -> None:
        before = int(self._limit.limit)
        self._limit.release(permit, delay_s)
        if int(self._limit.limit) != before:
            self._metrics.concurrency_limit(int(self._limit.limit))

    def _log_refusals(self) -> None:
        now = self.clock.monotonic()
        if now - self._logged_at < LOG_EVERY_S:
            return
        lim = self._limit
        log.warning(
            "at the adaptive limit: refusing LLM requests",
            extra={"limit": int(lim.limit), "in_flight": lim.in_flight,
                   "refused_since_last_line": lim.refused - self._refused_logged, "cuts": lim.cuts},
        )
        self._refused_logged = lim.refused
        self._logged_at = now
