"""Self-healing for `switchboard up`: the supervisor follows the monitor.

Design (the simplest robust one): the supervisor holds one WatchStatus
subscription to the monitor for service targets, with heartbeats. The snapshot
and every transition say which services are NOT_SERVING (UNHEALTHY) or
unreachable (UNREACHABLE: a broken Watch stream, refused connection, or a
Check with no answer — a SIGSTOPped process) and since when. The supervisor
restarts a child that stays that way longer than SWITCHBOARD_MONITOR_RESTART_AFTER_S
(SIGKILL, which also ends a stopped process; then its usual restart path with
back-off and budget), never within SWITCHBOARD_MONITOR_RESTART_GRACE_S of the
child's start, and reports every restart (or giving up) with ReportRestart.

The monitor cannot report on itself when it is stopped, so its own health is
the feed's liveness: no message (heartbeats included) for a few heartbeat
intervals means the monitor is unreachable since its last word. While the feed
is silent the other verdicts are stale and ignored: a dead monitor never causes
restarts of healthy services. Without a monitor (it exited, or is not
answering), the supervisor still restarts processes that exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import grpc

from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.auth import peer_auth_interceptors
from switchboard.runtime.channels import channel_options, open_channel
from switchboard.runtime.clock import Clock
from switchboard.runtime.settings import MeshSettings

log = logging.getLogger("switchboard.up.healing")

MONITOR = "monitor"
_BAD = {
    pb.TARGET_STATUS_UNHEALTHY: pb.RESTART_REASON_NOT_SERVING,
    pb.TARGET_STATUS_UNREACHABLE: pb.RESTART_REASON_UNREACHABLE,
}


@dataclass(frozen=True)
class HealingConfig:
    restart_after_s: float = 3.0  # bad this long -> restart
    grace_s: float = 15.0  # never for bad health within this long of a start
    heartbeat_s: float = 1.0  # asked of the monitor's WatchStatus
    # Missed heartbeats before the monitor counts as unreachable: generous, as a
    # busy host can delay a heartbeat and a needless monitor restart loses state.
    silent_after_heartbeats: float = 5.0
    retry_s: float = 0.5  # pause before re-subscribing

    @classmethod
    def from_environment(cls) -> HealingConfig:
        """The thresholds from the monitor's settings (SWITCHBOARD_MONITOR_RESTART_*)."""
        from services.health.settings import MonitorSettings  # noqa: PLC0415  (the monitor owns these settings)
        from switchboard.runtime.settings import load_settings  # noqa: PLC0415

        settings = load_settings(MonitorSettings)
        return cls(restart_after_s=settings.monitor_restart_after_s, grace_s=settings.monitor_restart_grace_s)


@dataclass(frozen=True)
class Verdict:
    """A service has been bad for `bad_for_s`: restart it with `reason`."""

    bad_for_s: float
    reason: int  # pb.RestartReason
    detail: str


@dataclass
class _Bad:
    status: int
    since: float  # supervisor monotonic time
    detail: str


class HealthFeed:
    """Follows the monitor's WatchStatus (service targets) for the supervisor."""

    def __init__(self, channel: grpc.aio.Channel, clock: Clock, config: HealingConfig) -> None:
        self._stub = monitor_pb2_grpc.MonitorServiceStub(channel)
        self._clock = clock
        self._config = config
        self._bad: dict[str, _Bad] = {}
        self._last_heard: float | None = None
        self.connected = False

    # -- what the healer asks ---------------------------------------------------------------

    def verdict(self, service: str) -> Verdict | None:
        now = self._clock.monotonic()
        silence = self._silent_for()
        if service == MONITOR:
            if silence is None:
                return None
            return Verdict(silence, pb.RESTART_REASON_UNREACHABLE, f"no word from the monitor for {silence:.1f} s")
        if silence is not None or self._last_heard is None:
            return None  # what the monitor said is stale
        bad = self._bad.get(service)
        if bad is None:
            return None
        return Verdict(now - bad.since, _BAD[bad.status], bad.detail)

    @property
    def last_heard_at(self) -> float | None:
        """When the monitor last said anything (this clock's monotonic time)."""
        return self._last_heard

    def _silent_for(self) -> float | None:
        """Seconds the monitor has been unreachable, judged by its silence."""
        if self._last_heard is None:
            return None
        allowed = self._config.heartbeat_s * self._config.silent_after_heartbeats
        quiet = self._clock.monotonic() - self._last_heard
        return quiet - allowed if quiet > allowed else None

    def restarted(self, service: str) -> None:
        """A new process of `service` started: its bad time starts over."""
        now = self._clock.monotonic()
        if service == MONITOR:
            self._last_heard = None  # judge the new monitor from its first word
        elif service in self._bad:
            self._bad[service].since = now

    # -- the subscription ---------------------------------------------------------------

    async def run(self) -> None:
        """Subscribes, and re-subscribes after every break, until cancelled."""
        heartbeat = pb.WatchStatusRequest(kinds=[pb.TARGET_KIND_SERVICE])
        heartbeat.heartbeat_interval.FromTimedelta(timedelta(seconds=self._config.heartbeat_s))
        while True:
            call = self._stub.WatchStatus(heartbeat)
            try:
                async for message in call:
                    self._absorb(message)
            except grpc.aio.AioRpcError as exc:
                if self.connected:
                    log.info("lost the monitor's status feed (%s); retrying", exc.code().name)
            finally:
                call.cancel()
                self.connected = False
            await self._clock.sleep(self._config.retry_s)

    def _absorb(self, message: pb.WatchStatusResponse) -> None:
        now = self._clock.monotonic()
        self._last_heard = now
        if not self.connected:
            log.info("following the monitor's status feed")
        self.connected = True
        which = message.WhichOneof("event")
        if which == "snapshot":
            snapshot = message.snapshot
            generated = snapshot.generated_at.ToDatetime()
            self._bad = {}
            for state in snapshot.targets:
                if state.status in _BAD:
                    age = max(0.0, (generated - state.since.ToDatetime()).total_seconds())
                    self._bad[_service(state.target)] = _Bad(state.status, now - age, state.detail)
        elif which == "transition":
            t = message.transition
            name = _service(t.target)
            if t.to_status in _BAD:
                previous = self._bad.get(name)
                # NOT_SERVING then unreachable is one continuous outage.
                since = previous.since if previous is not None else now
                self._bad[name] = _Bad(t.to_status, since, t.reason)
            else:
                self._bad.pop(name, None)


def _service(target: str) -> str:
    return target.removeprefix("service:")


async def report_restart(
    channel: grpc.aio.Channel,
    *,
    service: str,
    pid: int,
    previous_pid: int,
    reason: int,
    detail: str,
    attempt: int,
    backoff_s: float,
    budget_exhausted: bool = False,
    timeout_s: float = 10.0,
) -> None:
    """Tells the monitor about a restart, waiting up to `timeout_s` for it to be
    reachable (it may be the one restarting); failing that, only logs."""
    request = pb.ReportRestartRequest(
        service=service, pid=pid, previous_pid=previous_pid, reason=reason, detail=detail,  # type: ignore[arg-type]
        attempt=attempt, budget_exhausted=budget_exhausted,
    )
    request.backoff.FromTimedelta(timedelta(seconds=backoff_s))
    request.restarted_at.GetCurrentTime()
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await monitor_pb2_grpc.MonitorServiceStub(channel).ReportRestart(request, timeout=timeout_s, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            log.info("could not report the restart of %s to the monitor: %s", service, exc.code().name)


def monitor_channel(settings: MeshSettings) -> grpc.aio.Channel:
    """The supervisor's channel to the monitor (TLS and the mesh API key when configured)."""
    return open_channel(
        settings.address_of(MONITOR),
        settings,
        options=channel_options(settings, round_robin=False),
        interceptors=list(peer_auth_interceptors(settings)),
    )
