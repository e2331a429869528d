"""Alerts: raised on status transitions and restarts, quieted by flap
suppression and de-duplication, delivered to sinks with retries.

- Transition alerts: UNREACHABLE/UNHEALTHY are CRITICAL, DEGRADED WARNING, a
  recovery to HEALTHY INFO (an ANOMALY alert when the cause is a latency
  anomaly). NOT_AVAILABLE is never alerted on. During the start-up grace no
  transition is alerted; what is still bad when it ends is.
- Flap suppression: a target changing status `flap_threshold` times within
  `flap_window_s` gets one "flapping" alert; its later changes are folded into
  that alert until a whole window passes without a change, and then one alert
  says where it settled.
- De-duplication: the same alert (target, kind, status) raised again while the
  earlier one is unacknowledged and was seen within `dedup_window_s` bumps its
  occurrences instead of being sent again.
- Sinks: the log (always), a Slack-compatible webhook, SMTP e-mail. Each
  delivery is retried (tenacity, exponential back-off on the injected clock) and
  its status is recorded on the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

import httpx
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from services.health.model import (
    Alert,
    AlertKind,
    Delivery,
    RestartReason,
    RestartReport,
    Severity,
    Status,
    TargetView,
    Transition,
)
from switchboard.runtime.clock import Clock

if TYPE_CHECKING:  # the instruments module pulls in gRPC; the domain only calls two methods
    from switchboard.runtime.metrics import MeshMetrics

log = logging.getLogger("switchboard.monitor.alerts")

_LOG_LEVEL = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}
_COLOR = {Severity.INFO: "#2eb886", Severity.WARNING: "#daa038", Severity.CRITICAL: "#d00000"}


def service_name(target: str) -> str:
    return target.split(":", 1)[1] if ":" in target else target


def severity_of(status: Status) -> Severity:
    if status.is_bad:
        return Severity.CRITICAL
    if status is Status.DEGRADED:
        return Severity.WARNING
    return Severity.INFO


# -- sinks ------------------------------------------------------------------------------


class DeliveryError(Exception):
    pass


class Sink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Delivers `alert` or raises."""
        ...


class LogSink:
    name = "log"

    async def send(self, alert: Alert) -> None:
        log.log(
            _LOG_LEVEL.get(alert.severity, logging.WARNING),
            "alert: %s",
            alert.title,
            extra={"alert_id": alert.id, "target": alert.target, "severity": alert.severity.name,
                   "kind": alert.kind.name, "occurrences": alert.occurrences, "detail": alert.message},
        )


def slack_payload(alert: Alert) -> dict[str, object]:
    """Slack's incoming-webhook JSON: `text` for any receiver, one attachment with the details."""
    fields = [
        {"title": "target", "value": alert.target, "short": True},
        {"title": "severity", "value": alert.severity.name, "short": True},
        {"title": "kind", "value": alert.kind.name, "short": True},
        {"title": "alert id", "value": alert.id, "short": True},
    ]
    if alert.kind in (AlertKind.TRANSITION, AlertKind.ANOMALY) and alert.to_status is not Status.UNSPECIFIED:
        fields.append({"title": "change", "value": f"{alert.from_status.name} → {alert.to_status.name}", "short": False})
    return {
        "text": f"[{alert.severity.name}] {alert.title}",
        "attachments": [
            {
                "color": _COLOR.get(alert.severity, "#888888"),
                "title": alert.title,
                "text": alert.message,
                "fields": fields,
                "ts": int(alert.created_at.timestamp()),
            }
        ],
    }


class WebhookSink:
    """POSTs Slack-compatible JSON; any 2xx is delivered."""

    name = "webhook"

    def __init__(self, url: str, client: httpx.AsyncClient, *, timeout_s: float) -> None:
        self._url = url
        self._client = client
        self._timeout = timeout_s

    async def send(self, alert: Alert) -> None:
        try:
            reply = await self._client.post(self._url, json=slack_payload(alert), timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {str(exc)[:160]}") from None
        if not 200 <= reply.status_code < 300:
            raise DeliveryError(f"HTTP {reply.status_code}: {reply.text[:160]}")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


class EmailSink:
    """One plain-text e-mail per alert over SMTP (smtplib, in a worker thread)."""

    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[switchboard {alert.severity.name}] {alert.title}"
        message["From"] = self._config.sender
        message["To"] = ", ".join(self._config.recipients)
        message.set_content(
            f"{alert.message}\n\ntarget: {alert.target}\nseverity: {alert.severity.name}\n"
            f"kind: {alert.kind.name}\nalert id: {alert.id}\nraised at: {alert.created_at.isoformat()}\n"
        )
        try:
            await asyncio.to_thread(self._send, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {str(exc)[:160]}") from None

    def _send(self, message: EmailMessage) -> None:
        c = self._config
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
            if c.starttls:
                smtp.starttls()
            if c.username:
                smtp.login(c.username, c.password or "")
            smtp.send_message(message)


# -- the manager ------------------------------------------------------------------------------


class AlertWriter(Protocol):
    """Where alerts are persisted (the history store)."""

    def insert_alert(self, alert: Alert) -> None: ...

    def bump_alert(self, alert: Alert) -> None: ...

    def update_deliveries(self, alert: Alert) -> None: ...

    def acknowledge(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class AlertPolicy:
    flap_window_s: float = 60.0
    flap_threshold: int = 5
    dedup_window_s: float = 300.0
    startup_grace_s: float = 10.0
    delivery_attempts: int = 4
    delivery_backoff_s: float = 0.5
    delivery_backoff_max_s: float = 30.0


@dataclass
class _Flap:
    changes: deque[float] = field(default_factory=deque)  # monotonic times of status changes
    flapping: bool = False
    alert: Alert | None = None  # the "flapping" alert while flapping


class AlertManager:
    def __init__(
        self,
        sinks: Sequence[Sink],
        writer: AlertWriter,
        clock: Clock,
        policy: AlertPolicy,
        *,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        metrics: MeshMetrics | None = None,
    ) -> None:
        self._sinks = list(sinks)
        self._metrics = metrics  # counts every alert raised (not the folded duplicates)
        self._writer = writer
        self._clock = clock
        self._policy = policy
        self._new_id = new_id
        self._grace_ends = clock.monotonic() + policy.startup_grace_s
        self._grace_over = policy.startup_grace_s <= 0
        self._flaps: dict[str, _Flap] = {}
        self._open: dict[str, Alert] = {}  # dedup key -> latest alert with that key
        self._by_id: dict[str, Alert] = {}  # alerts still de-duplicating or being delivered
        self._deliveries: set[asyncio.Task[None]] = set()

    @property
    def sink_names(self) -> list[str]:
        return [s.name for s in self._sinks]

    # -- raising --------------------------------------------------------------------------

    def on_transition(self, t: Transition) -> Alert | None:
        """Decides whether a transition is alerted; returns the alert raised or
        folded into, None when it stays quiet."""
        if Status.NOT_AVAILABLE in (t.from_status, t.to_status):
            return None
        if not self._in_grace_period() and t.from_status is Status.UNSPECIFIED:
            # First verdict on a target: only news when it is not healthy.
            return self._transition_alert(t, "at start-up") if t.to_status is not Status.HEALTHY else None
        if self._in_grace_period() or t.from_status is Status.UNSPECIFIED:
            return None
        flap = self._flaps.setdefault(t.target, _Flap())
        now = self._clock.monotonic()
        flap.changes.append(now)
        self._forget_old_changes(flap, now)
        if flap.flapping and flap.alert is not None:
            self._bump(flap.alert)
            return flap.alert
        if len(flap.changes) >= self._policy.flap_threshold:
            flap.flapping = True
            flap.alert = self._raise(
                key=f"flapping:{t.target}",
                target=t.target,
                severity=Severity.WARNING,
                kind=AlertKind.TRANSITION,
                title=f"{service_name(t.target)} is flapping",
                message=(
                    f"{t.target} changed status {len(flap.changes)} times within {self._policy.flap_window_s:g} s "
                    f"(latest {t.from_status.name} → {t.to_status.name}: {t.reason}). Further changes are "
                    "folded into this alert until it settles."
                ),
                from_status=t.from_status,
                to_status=t.to_status,
                force_new=True,
            )
            return flap.alert
        return self._transition_alert(t)

    def _transition_alert(self, t: Transition, when: str = "") -> Alert:
        kind = AlertKind.ANOMALY if t.anomaly else AlertKind.TRANSITION
        name = service_name(t.target)
        if t.to_status is Status.HEALTHY:
            title = f"{name} recovered (HEALTHY)"
        elif t.anomaly:
            title = f"{name} latency anomaly"
        else:
            title = f"{name} is {t.to_status.name}" + (f" {when}" if when else "")
        message = f"{t.target} went from {t.from_status.name} to {t.to_status.name}: {t.reason}"
        if t.state.endpoint:
            message += f" (endpoint {t.state.endpoint})"
        return self._raise(
            key=f"{kind.name}:{t.target}:{t.to_status.name}",
            target=t.target,
            severity=severity_of(t.to_status),
            kind=kind,
            title=title,
            message=message,
            from_status=t.from_status,
            to_status=t.to_status,
        )

    def on_restart(self, report: RestartReport) -> Alert:
        target = f"service:{report.service}"
        if report.budget_exhausted:
            return self._raise(
                key=f"budget:{target}",
                target=target,
                severity=Severity.CRITICAL,
                kind=AlertKind.RESTART_BUDGET_EXHAUSTED,
                title=f"{report.service} restart budget exhausted: not restarted",
                message=f"The supervisor stopped restarting {report.service} ({report.reason.name.lower()}): {report.detail}",
            )
        why = {
            RestartReason.PROCESS_EXITED: "the process exited",
            RestartReason.NOT_SERVING: "it was NOT_SERVING too long",
            RestartReason.UNREACHABLE: "it was unreachable too long",
        }.get(report.reason, "unknown reason")
        return self._raise(
            key=f"restart:{target}:{report.reason.name}",
            target=target,
            severity=Severity.WARNING,
            kind=AlertKind.RESTART,
            title=f"{report.service} restarted",
            message=(
                f"The supervisor restarted {report.service} because {why} ({report.detail or 'no detail'}); "
                f"pid {report.previous_pid or '?'} → {report.pid}, attempt {report.attempt}, "
                f"after {report.backoff_s:.1f} s back-off."
            ),
        )

    def _raise(
        self,
        *,
        key: str,
        target: str,
        severity: Severity,
        kind: AlertKind,
        title: str,
        message: str,
        from_status: Status = Status.UNSPECIFIED,
        to_status: Status = Status.UNSPECIFIED,
        force_new: bool = False,
    ) -> Alert:
        now = self._clock.now()
        existing = self._open.get(key)
        if (
            not force_new
            and existing is not None
            and not existing.acknowledged
            and (now - existing.last_seen_at).total_seconds() <= self._policy.dedup_window_s
        ):
            self._bump(existing)
            return existing
        alert = Alert(
            id=self._new_id(),
            dedup_key=key,
            target=target,
            severity=severity,
            kind=kind,
            title=title,
            message=message,
            created_at=now,
            last_seen_at=now,
            from_status=from_status,
            to_status=to_status,
            deliveries=[Delivery(sink.name) for sink in self._sinks],
        )
        self._open[key] = alert
        self._by_id[alert.id] = alert
        self._writer.insert_alert(alert)
        if self._metrics is not None:
            self._metrics.alert(severity=severity.name.lower(), kind=kind.name.lower())
        for sink, delivery in zip(self._sinks, alert.deliveries, strict=True):
            task = asyncio.get_running_loop().create_task(self._deliver(alert, sink, delivery))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return alert

    def _bump(self, alert: Alert) -> None:
        alert.occurrences += 1
        alert.last_seen_at = self._clock.now()
        self._writer.bump_alert(alert)

    # -- delivery ----------------------------------------------------------------------------

    async def _deliver(self, alert: Alert, sink: Sink, delivery: Delivery) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._policy.delivery_attempts),
            wait=wait_exponential(multiplier=self._policy.delivery_backoff_s, max=self._policy.delivery_backoff_max_s),
            sleep=self._clock.sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    delivery.attempts += 1
                    delivery.last_attempt_at = self._clock.now()
                    try:
                        await sink.send(alert)
                    except Exception as exc:
                        delivery.last_error = str(exc) or exc.__class__.__name__
                        self._writer.update_deliveries(alert)
                        raise
            delivery.delivered = True
            delivery.delivered_at = self._clock.now()
            delivery.last_error = ""
        except RetryError:
            log.warning(
                "alert not delivered to %s after %d attempts: %s", sink.name, delivery.attempts, delivery.last_error,
                extra={"alert_id": alert.id, "sink": sink.name},
            )
        finally:
            self._writer.update_deliveries(alert)

    async def drain(self, timeout_s: float) -> None:
        """Waits for deliveries in flight (shutdown), then cancels what is left."""
        pending = set(self._deliveries)
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        for task in list(self._deliveries):
            task.cancel()
        for task in list(self._deliveries):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- housekeeping --------------------------------------------------------------------------

    def tick(self, views: Sequence[TargetView]) -> list[Alert]:
        """Periodic: ends the start-up grace, settles flapping targets, forgets
        old de-duplication state. Returns the alerts raised."""
        raised: list[Alert] = []
        now = self._clock.monotonic()
        if not self._grace_over and now >= self._grace_ends:
            self._grace_over = True
            for view in views:
                if view.status.is_bad or view.status is Status.DEGRADED:
                    raised.append(self._start_up_alert(view))
        by_target = {v.target: v for v in views}
        for target, flap in self._flaps.items():
            self._forget_old_changes(flap, now)
            if flap.flapping and not flap.changes:
                flap.flapping = False
                flap.alert = None
                view = by_target.get(target)
                if view is not None:
                    raised.append(self._raise(
                        key=f"settled:{target}:{view.status.name}",
                        target=target,
                        severity=severity_of(view.status),
                        kind=AlertKind.TRANSITION,
                        title=f"{service_name(target)} stopped flapping: {view.status.name}",
                        message=f"{target} has kept status {view.status.name} for {self._policy.flap_window_s:g} s.",
                        to_status=view.status,
                    ))
        wall = self._clock.now()
        for key, alert in list(self._open.items()):
            if (wall - alert.last_seen_at).total_seconds() > self._policy.dedup_window_s:
                del self._open[key]
        live = {a.id for a in self._open.values()} | {a.id for f in self._flaps.values() if (a := f.alert)}
        for alert_id in list(self._by_id):
            alert = self._by_id[alert_id]
            delivering = any(not d.delivered and d.attempts < self._policy.delivery_attempts for d in alert.deliveries)
            if alert_id not in live and not delivering:
                del self._by_id[alert_id]
        return raised

    def _start_up_alert(self, view: TargetView) -> Alert:
        t = Transition(view.target, view.kind, Status.UNSPECIFIED, view.status, view.since,
                       view.detail or view.status.name.lower(), view, Status.UNSPECIFIED)
        return self._transition_alert(t, "at start-up")

    def _forget_old_changes(self, flap: _Flap, now: float) -> None:
        while flap.changes and now - flap.changes[0] > self._policy.flap_window_s:
            flap.changes.popleft()

    def _in_grace_period(self) -> bool:
        if not self._grace_over and self._clock.monotonic() >= self._grace_ends:
            return False  # over, even if tick() has not run yet
        return not self._grace_over

    # -- acknowledgement --------------------------------------------------------------------------

    def live_alert(self, alert_id: str) -> Alert | None:
        """The in-memory alert with this id, when the manager still holds it."""
        return self._by_id.get(alert_id)

    def acknowledge_live(self, alert_id: str, by: str, note: str) -> Alert | None:
        alert = self._by_id.get(alert_id)
        if alert is not None and not alert.acknowledged:
            alert.acknowledged = True
            alert.acknowledged_by = by
            alert.acknowledged_at = self._clock.now()
            alert.acknowledgement_note = note
            self._writer.acknowledge(alert)
        return alert


def copy_alert(alert: Alert) -> Alert:
    """A snapshot of an alert (writers queue snapshots, the manager keeps mutating)."""
    return replace(alert, deliveries=[replace(d) for d in alert.deliveries])
