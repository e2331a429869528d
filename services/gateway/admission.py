"""The gateway's adaptive limit on LLM requests in flight (opt-in:
SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT), around switchboard/runtime/adaptive_limit.py.

Each admitted request measures its queueing delay: the gateway's time from
admitting it to reading the router's DoneEvent, minus the router's own
`total_time` for it. What is left is transport and waiting outside the
router's handler, which grows when the machine is saturated and not when a
backend is slow or an answer long. A request that ends without a DoneEvent
(failed, cancelled) releases its permit without a measurement.
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

    def __init__(self, owner: GatewayLimit, permit: Permit, started: float) -> None:
        self._owner = owner
        self._permit = permit
        self._started = started
        self._delay_s: float | None = None
        self._released = False
        self.streaming = False  # a stream's permit is released when its router call ends

    def observe(self, done: router_pb2.DoneEvent) -> None:
        """The router's DoneEvent has just been read."""
        if done.HasField("total_time"):
            router_s = done.total_time.seconds + done.total_time.nanos / 1e9
            self._delay_s = max(0.0, self._owner.clock.monotonic() - self._started - router_s)

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

    @property
    def limit(self) -> AdaptiveLimit:
        return self._limit

    def admit(self) -> Admission | None:
        """An admission, or None: refuse with 503 + Retry-After."""
        permit = self._limit.acquire()
        if permit is None:
            self._metrics.refused()
            self._log_refusals()
            return None
        return Admission(self, permit, self.clock.monotonic())

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
