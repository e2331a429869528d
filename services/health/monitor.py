"""The monitor's core: every probe result goes through `report`, which updates
the target's state, records history, raises alerts and tells subscribers
(WatchStatus, WatchBackendHealth) about transitions. It also runs the loops:
one per watched target, plus the history writer, the retention pruner and the
alert housekeeping tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from services.health.alerts import AlertManager, copy_alert
from services.health.history import HistoryStore, StoreUnavailable
from services.health.model import (
    Alert,
    HistorySample,
    Kind,
    ProbeResult,
    RestartReport,
    Status,
    SystemView,
    TargetView,
    Transition,
)
from services.health.targets import Board, up_share
from switchboard.runtime.clock import Clock

if TYPE_CHECKING:  # the instruments module pulls in gRPC; the domain only calls two methods
    from switchboard.runtime.metrics import MeshMetrics

log = logging.getLogger("switchboard.monitor")

Report = Callable[[ProbeResult], None]
Probe = Callable[[], Awaitable[ProbeResult]]
Runner = Callable[[Report, asyncio.Event], Awaitable[None]]  # runs until the event is set


@dataclass(frozen=True)
class Timing:
    check_interval_s: float = 1.0  # alert tick
    probe_interval_s: float = 5.0  # periodic probes
    history_min_interval_s: float = 10.0
    history_flush_s: float = 1.0
    history_retention_s: float = 7 * 86_400.0
    prune_interval_s: float = 600.0


class SubscriberTooSlow(Exception):
    pass


class UnknownAlert(Exception):
    pass


@dataclass(eq=False)  # identity: kept in a set
class Subscription:
    """Transitions for one WatchStatus / WatchBackendHealth stream."""

    kinds: frozenset[Kind]
    targets: frozenset[str]
    queue: asyncio.Queue[Transition] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False

    def wants(self, t: Transition) -> bool:
        return (not self.kinds or t.kind in self.kinds) and (not self.targets or t.target in self.targets)

    def offer(self, t: Transition) -> None:
        if self.overflowed or not self.wants(t):
            return
        try:
            self.queue.put_nowait(t)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream ends; the subscriber re-subscribes for a fresh snapshot

    async def next(self, timeout_s: float | None, stopping: asyncio.Event) -> Transition | None:
        """The next transition; None on timeout or when `stopping` is set."""
        if self.overflowed:
            raise SubscriberTooSlow("subscriber fell 10000 events behind")
        if not self.queue.empty():
            return self.queue.get_nowait()
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(stopping.wait())
        try:
            done, _ = await asyncio.wait({getter, stopper}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done and not getter.cancelled():
            return getter.result()
        return None

    def drain(self) -> list[Transition]:
        """Whatever else is already queued (to coalesce a burst into one message)."""
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


class Monitor:
    def __init__(
        self,
        clock: Clock,
        board: Board,
        alerts: AlertManager,
        store: HistoryStore,
        timing: Timing,
        metrics: MeshMetrics | None = None,
    ) -> None:
        self.clock = clock
        self._metrics = metrics  # restarts reported by the supervisor
        self.board = board
        self.alerts = alerts
        self.store = store
        self.timing = timing
        self.system: SystemView | None = None
        self.restarts: dict[str, int] = {}
        self._subscribers: set[Subscription] = set()
        self._runners: list[tuple[str, Runner]] = []
        self._last_recorded: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._store_problem = ""
        self.started_at = clock.now()

    # -- targets ------------------------------------------------------------------------

    def add_runner(self, target: str, kind: Kind, endpoint: str, runner: Runner) -> None:
        """A target fed by a long-running watcher (a service's Watch + Check)."""
        self.board.add(target, kind, endpoint)
        self._runners.append((target, runner))

    def add_probe(self, target: str, kind: Kind, endpoint: str, probe: Probe, interval_s: float | None = None) -> None:
        """A target probed every `interval_s` (default: the probe interval)."""
        interval = interval_s or self.timing.probe_interval_s

        async def run(report: Report, stopping: asyncio.Event) -> None:
            while not stopping.is_set():
                began = self.clock.monotonic()
                try:
                    result = await probe()
                except Exception as exc:  # noqa: BLE001  (a probe bug must not stop watching)
                    log.exception("probe of %s failed", target)
                    result = ProbeResult(Status.UNHEALTHY, None, f"probe error: {exc.__class__.__name__}: {exc}"[:200])
                report(result)
                await self.clock.sleep(max(0.0, interval - (self.clock.monotonic() - began)))

        self.add_runner(target, kind, endpoint, run)

    def reporter(self, target: str) -> Report:
        return lambda result: self.report(target, result)

    # -- the one way in ---------------------------------------------------------------------

    def report(self, target: str, result: ProbeResult) -> Transition | None:
        transition = self.board.observe(target, result)
        tracker = self.board.get(target)
        assert tracker is not None
        now = self.clock.monotonic()
        due = now - self._last_recorded.get(target, float("-inf")) >= self.timing.history_min_interval_s
        if transition is not None or (result.counts_as_probe and due):
            self._last_recorded[target] = now
            self.store.record_sample(
                HistorySample(target, tracker.last_probe_at or self.clock.now(), tracker.status,
                              result.latency_s if result.counts_as_probe else None, tracker.detail if tracker.status is not Status.HEALTHY else "")
            )
        if transition is None:
            return None
        log.log(
            logging.WARNING if transition.to_status.is_bad else logging.INFO,
            "%s: %s -> %s (%s)", target, transition.from_status.name, transition.to_status.name, transition.reason,
            extra={"target": target, "from": transition.from_status.name, "to": transition.to_status.name},
        )
        for sub in list(self._subscribers):
            sub.offer(transition)
        self.alerts.on_transition(transition)
        return transition

    def report_restart(self, report: RestartReport) -> Alert:
        if not report.budget_exhausted:
            self.restarts[report.service] = self.restarts.get(report.service, 0) + 1
            if self._metrics is not None:
                self._metrics.restart(service=report.service)
        at = report.restarted_at or self.clock.now()
        self.store.record_event(at, f"service:{report.service}", "restart_budget_exhausted" if report.budget_exhausted else "restart", {
            "pid": report.pid, "previous_pid": report.previous_pid, "reason": report.reason.name,
            "detail": report.detail, "attempt": report.attempt, "backoff_s": report.backoff_s,
        })
        alert = self.alerts.on_restart(report)
        log.warning("supervisor restart of %s: %s", report.service, alert.title,
                    extra={"service": report.service, "reason": report.reason.name, "pid": report.pid})
        return alert

    def restarts_of(self, service: str) -> int:
        return self.restarts.get(service, 0)

    # -- views -------------------------------------------------------------------------------

    def snapshot(self, kinds: Iterable[Kind] = (), targets: Iterable[str] = ()) -> tuple[list[TargetView], Status, datetime]:
        return self.board.views(kinds, targets), self.board.overall(), self.clock.now()

    def subscribe(self, kinds: Iterable[Kind] = (), targets: Iterable[str] = ()) -> tuple[Subscription, list[TargetView], Status, datetime]:
        """A subscription and the snapshot it starts from (atomically: no
        transition can fall between the two)."""
        sub = Subscription(frozenset(kinds), frozenset(targets))
        self._subscribers.add(sub)
        views, overall, at = self.snapshot(kinds, targets)
        return sub, views, overall, at

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    # -- history ----------------------------------------------------------------------------------

    def knows(self, target: str) -> bool:
        return target in self.board

    async def history(self, target: str, window_s: float, limit: int) -> tuple[list[HistorySample], float, bool]:
        """(samples, uptime ratio over the window, truncated)."""
        window_s = min(window_s, self.timing.history_retention_s)
        now = self.clock.now()
        since = now - timedelta(seconds=window_s)
        samples, truncated, before = await self.store.samples(target, since, limit)
        return samples, uptime_from_samples(samples, before, since, now), truncated

    # -- alerts ------------------------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, by: str, note: str) -> Alert:
        """Acknowledges an alert (idempotent: an acknowledged one comes back
        unchanged). Raises UnknownAlert, StoreUnavailable."""
        live = self.alerts.live_alert(alert_id)
        stored = await self.store.get_alert(alert_id)  # flushes first
        current = live or stored
        if current is None:
            raise UnknownAlert(alert_id)
        if current.acknowledged:
            return copy_alert(current)
        if live is not None:
            self.alerts.acknowledge_live(alert_id, by, note)  # also queues the write
        else:
            current.acknowledged = True
            current.acknowledged_by = by
            current.acknowledged_at = self.clock.now()
            current.acknowledgement_note = note
            self.store.acknowledge(current)
        await self.store.flush()
        return copy_alert(current)

    # -- loops -------------------------------------------------------------------------------------

    def start(self) -> None:
        for target, runner in self._runners:
            self._tasks.append(asyncio.create_task(self._guard(target, runner), name=f"monitor {target}"))
        self._tasks.append(asyncio.create_task(self._writer(), name="monitor history writer"))
        self._tasks.append(asyncio.create_task(self._pruner(), name="monitor history pruner"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="monitor alert tick"))

    async def _guard(self, target: str, runner: Runner) -> None:
        while not self._stopping.is_set():
            try:
                await runner(self.reporter(target), self._stopping)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (restart the watcher, never the monitor)
                log.exception("watcher of %s failed; restarting it", target)
                await self.clock.sleep(1.0)

    async def _writer(self) -> None:
        while not self._stopping.is_set():
            await self.clock.sleep(self.timing.history_flush_s)
            await self.flush_quietly()

    async def flush_quietly(self) -> None:
        try:
            await self.store.flush()
        except StoreUnavailable as exc:
            if str(exc) != self._store_problem:
                log.warning("%s; %d writes queued", exc, self.store.pending)
            self._store_problem = str(exc)
            return
        if self._store_problem:
            log.info("history database back; queued writes stored")
            self._store_problem = ""

    async def _pruner(self) -> None:
        while not self._stopping.is_set():
            await self.prune()
            await self.clock.sleep(self.timing.prune_interval_s)

    async def prune(self) -> dict[str, int]:
        before = self.clock.now() - timedelta(seconds=self.timing.history_retention_s)
        try:
            counts = await self.store.prune(before)
        except StoreUnavailable as exc:
            log.info("retention pruning skipped: %s", exc)
            return {}
        if any(counts.values()):
            log.info("history pruned", extra=counts)
        return counts

    async def _ticker(self) -> None:
        while not self._stopping.is_set():
            await self.clock.sleep(self.timing.check_interval_s)
            self.alerts.tick(self.board.views())

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush_quietly()


def uptime_from_samples(samples: Sequence[HistorySample], before: HistorySample | None, since: datetime, now: datetime) -> float:
    """Share of [since, now] spent HEALTHY or DEGRADED: each sample's status
    holds until the next one (the sample before the window covers its start).
    Time with no known status does not count either way."""
    points = ([(since, before.status)] if before is not None else []) + [(s.at, s.status) for s in samples]
    return up_share([(at.timestamp(), status) for at, status in points], since.timestamp(), now.timestamp())
