"""Thin gRPC layer of the monitor: proto <-> domain, request validation
(INVALID_ARGUMENT with field violations), NOT_FOUND for unknown targets and
alerts, UNAVAILABLE when the history database is down. Streams are async
generators that end when the server begins shutting down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from services.health.history import AlertFilter, BadPageToken, StoreUnavailable, decode_page_token, encode_page_token
from services.health.model import (
    Alert,
    Kind,
    RestartReason,
    RestartReport,
    Severity,
    SystemView,
    TargetView,
    Transition,
)
from services.health.monitor import Monitor, SubscriberTooSlow, UnknownAlert
from switchboard.mesh import BY_NAME
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.status import FieldViolation, InvalidArgument

DEFAULT_HISTORY_WINDOW_S = 3600.0
DEFAULT_HISTORY_LIMIT = 1000
MAX_HISTORY_LIMIT = 10_000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


# -- conversions ------------------------------------------------------------------------------


def _ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _dur(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=seconds))
    return duration


def _seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def target_state(view: TargetView) -> pb.TargetState:
    state = pb.TargetState(
        target=view.target,
        kind=int(view.kind),
        status=int(view.status),
        since=_ts(view.since),
        consecutive_failures=view.consecutive_failures,
        uptime_ratio=view.uptime_ratio,
        uptime_window=_dur(view.uptime_window_s),
        latency_baseline=pb.LatencyBaseline(
            mean=_dur(view.baseline.mean_s),
            stddev=_dur(view.baseline.stddev_s),
            sample_count=view.baseline.sample_count,
        ),
        latency_anomaly=view.latency_anomaly,
        trend=int(view.trend),
        serving_statuses={name: int(s) for name, s in view.serving.items()},
        detail=view.detail,
        endpoint=view.endpoint,
    )
    if view.probe_latency_s is not None:
        state.probe_latency.CopyFrom(_dur(view.probe_latency_s))
    if view.last_probe_at is not None:
        state.last_probe_at.CopyFrom(_ts(view.last_probe_at))
    return state


def system_metrics(view: SystemView | None) -> pb.SystemMetrics:
    if view is None:
        return pb.SystemMetrics(gpu_unavailable_reason="not sampled yet")
    metrics = pb.SystemMetrics(
        collected_at=_ts(view.collected_at),
        cpu_percent=view.cpu_percent,
        cpu_count=view.cpu_count,
        memory_used_bytes=view.memory_used_bytes,
        memory_total_bytes=view.memory_total_bytes,
        disk_path=view.disk_path,
        disk_used_bytes=view.disk_used_bytes,
        disk_total_bytes=view.disk_total_bytes,
        gpu_available=view.gpu_available,
        gpu_unavailable_reason=view.gpu_unavailable_reason,
        gpus=[
            pb.GpuMetrics(index=g.index, name=g.name, utilization_percent=g.utilization_percent,
                          memory_used_bytes=g.memory_used_bytes, memory_total_bytes=g.memory_total_bytes)
            for g in view.gpus
        ],
    )
    for p in view.processes:
        process = pb.ProcessMetrics(service=p.service, pid=p.pid, cpu_percent=p.cpu_percent,
                                    rss_bytes=p.rss_bytes, restarts=p.restarts)
        if p.started_at is not None:
            process.started_at.CopyFrom(_ts(p.started_at))
        metrics.processes.append(process)
    return metrics


def transition_message(t: Transition) -> pb.StatusTransition:
    return pb.StatusTransition(
        target=t.target, kind=int(t.kind), from_status=int(t.from_status), to_status=int(t.to_status),
        at=_ts(t.at), reason=t.reason, state=target_state(t.state), overall_status=int(t.overall),
    )


def alert_message(alert: Alert) -> pb.Alert:
    message = pb.Alert(
        id=alert.id, target=alert.target, severity=int(alert.severity), kind=int(alert.kind),
        title=alert.title, message=alert.message, created_at=_ts(alert.created_at),
        last_seen_at=_ts(alert.last_seen_at), occurrences=alert.occurrences,
        from_status=int(alert.from_status), to_status=int(alert.to_status),
        acknowledged=alert.acknowledged, acknowledged_by=alert.acknowledged_by,
        acknowledgement_note=alert.acknowledgement_note,
    )
    if alert.acknowledged_at is not None:
        message.acknowledged_at.CopyFrom(_ts(alert.acknowledged_at))
    for d in alert.deliveries:
        delivery = pb.AlertDelivery(sink=d.sink, delivered=d.delivered, attempts=d.attempts, last_error=d.last_error)
        if d.last_attempt_at is not None:
            delivery.last_attempt_at.CopyFrom(_ts(d.last_attempt_at))
        if d.delivered_at is not None:
            delivery.delivered_at.CopyFrom(_ts(d.delivered_at))
        message.deliveries.append(delivery)
    return message


def backend_health(view: TargetView) -> pb.BackendHealth:
    health = pb.BackendHealth(
        backend=view.target.removeprefix("backend:"), status=int(view.status), since=_ts(view.since),
        consecutive_failures=view.consecutive_failures, detail=view.detail,
    )
    if view.probe_latency_s is not None:
        health.probe_latency.CopyFrom(_dur(view.probe_latency_s))
    return health


def _kinds(values: Sequence[int], field: str) -> list[Kind]:
    kinds = []
    for i, value in enumerate(values):
        if value not in Kind._value2member_map_ or value == Kind.UNSPECIFIED:
            raise InvalidArgument([FieldViolation(f"{field}[{i}]", f"{value} is not a target kind")])
        kinds.append(Kind(value))
    return kinds


# Longer than this is no heartbeat at all (and would overflow the event loop's timers).
MAX_HEARTBEAT_S = 3600.0


def _heartbeat(request: pb.WatchStatusRequest | pb.WatchBackendHealthRequest) -> float | None:
    if not request.HasField("heartbeat_interval"):
        return None
    seconds = _seconds(request.heartbeat_interval)
    if seconds < 0:
        raise InvalidArgument([FieldViolation("heartbeat_interval", "must not be negative")])
    if seconds > MAX_HEARTBEAT_S:
        raise InvalidArgument([FieldViolation("heartbeat_interval", "must be at most one hour")])
    return seconds or None


# -- the servicer -------------------------------------------------------------------------------


class MonitorServiceServicer(monitor_pb2_grpc.MonitorServiceServicer):
    def __init__(self, monitor: Monitor, stopping: asyncio.Event, *, backend_stale_after_s: float) -> None:
        self._monitor = monitor
        self._stopping = stopping
        self._backend_stale_after_s = backend_stale_after_s

    async def GetStatus(self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext) -> pb.GetStatusResponse:  # noqa: N802
        views, overall, at = self._monitor.snapshot(_kinds(request.kinds, "kinds"))
        return pb.GetStatusResponse(
            targets=[target_state(v) for v in views], system=system_metrics(self._monitor.system),
            overall_status=int(overall), generated_at=_ts(at),
        )

    async def WatchStatus(  # noqa: N802
        self, request: pb.WatchStatusRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchStatusResponse]:
        kinds = _kinds(request.kinds, "kinds")
        heartbeat = _heartbeat(request)
        unknown = [FieldViolation(f"targets[{i}]", f"unknown target {t!r}")
                   for i, t in enumerate(request.targets) if not self._monitor.knows(t)]
        if unknown:
            raise InvalidArgument(unknown)
        sub, views, overall, at = self._monitor.subscribe(kinds, request.targets)
        try:
            yield pb.WatchStatusResponse(snapshot=pb.StatusSnapshot(
                targets=[target_state(v) for v in views], system=system_metrics(self._monitor.system),
                overall_status=int(overall), generated_at=_ts(at),
            ))
            while not self._stopping.is_set():
                try:
                    transition = await sub.next(heartbeat, self._stopping)
                except SubscriberTooSlow as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{exc}; subscribe again")
                if transition is not None:
                    yield pb.WatchStatusResponse(transition=transition_message(transition))
                elif heartbeat and not self._stopping.is_set():
                    yield pb.WatchStatusResponse(heartbeat=pb.Heartbeat(at=_ts(self._monitor.clock.now())))
        finally:
            self._monitor.unsubscribe(sub)

    async def GetHistory(self, request: pb.GetHistoryRequest, context: grpc.aio.ServicerContext) -> pb.GetHistoryResponse:  # noqa: N802
        problems = []
        if not request.target:
            problems.append(FieldViolation("target", "required"))
        window = _seconds(request.window) if request.HasField("window") else 0.0
        if window < 0:
            problems.append(FieldViolation("window", "must not be negative"))
        limit = DEFAULT_HISTORY_LIMIT
        if request.HasField("limit"):
            if request.limit < 0:
                problems.append(FieldViolation("limit", "must not be negative"))
            limit = min(request.limit, MAX_HISTORY_LIMIT)
        if problems:
            raise InvalidArgument(problems)
        if not self._monitor.knows(request.target):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown target {request.target!r}")
        try:
            samples, uptime, truncated = await self._monitor.history(request.target, window or DEFAULT_HISTORY_WINDOW_S, limit)
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        out = []
        for s in samples:
            sample = pb.HistorySample(at=_ts(s.at), status=int(s.status), detail=s.detail)
            if s.latency_s is not None:
                sample.latency.CopyFrom(_dur(s.latency_s))
            out.append(sample)
        return pb.GetHistoryResponse(target=request.target, samples=out, uptime_ratio=uptime, truncated=truncated)

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: grpc.aio.ServicerContext) -> pb.ListAlertsResponse:  # noqa: N802
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
        if request.min_severity not in Severity._value2member_map_:
            raise InvalidArgument([FieldViolation("min_severity", f"{request.min_severity} is not a severity")])
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        filters = AlertFilter(
            unacknowledged_only=request.unacknowledged_only,
            min_severity=Severity(request.min_severity),
            since=request.since.ToDatetime().replace(tzinfo=UTC) if request.HasField("since") else None,
            target=request.target,
        )
        after = None
        if request.page_token:
            try:
                after = decode_page_token(request.page_token, filters)
            except BadPageToken as exc:
                raise InvalidArgument([FieldViolation("page_token", str(exc))]) from None
        try:
            alerts, more = await self._monitor.store.list_alerts(filters, after, size)
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        live = [self._monitor.alerts.live_alert(a.id) or a for a in alerts]
        token = encode_page_token(alerts[-1], filters) if more and alerts else ""
        return pb.ListAlertsResponse(alerts=[alert_message(a) for a in live], next_page_token=token)

    async def AcknowledgeAlert(  # noqa: N802
        self, request: pb.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcknowledgeAlertResponse:
        problems = []
        if not request.alert_id:
            problems.append(FieldViolation("alert_id", "required"))
        if not request.acknowledged_by.strip():
            problems.append(FieldViolation("acknowledged_by", "required"))
        if problems:
            raise InvalidArgument(problems)
        try:
            alert = await self._monitor.acknowledge(request.alert_id, request.acknowledged_by.strip(), request.note)
        except UnknownAlert:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no alert {request.alert_id!r}")
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.AcknowledgeAlertResponse(alert=alert_message(alert))

    def _backend_views(self, names: Sequence[str]) -> list[TargetView]:
        views, _, _ = self._monitor.snapshot([Kind.BACKEND], [f"backend:{n}" for n in names])
        return views

    async def GetBackendHealth(  # noqa: N802
        self, request: pb.GetBackendHealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBackendHealthResponse:
        return pb.GetBackendHealthResponse(
            backends=[backend_health(v) for v in self._backend_views(request.backends)],
            generated_at=_ts(self._monitor.clock.now()),
            stale_after=_dur(self._backend_stale_after_s),
        )

    async def WatchBackendHealth(  # noqa: N802
        self, request: pb.WatchBackendHealthRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchBackendHealthResponse]:
        heartbeat = _heartbeat(request)
        names = list(request.backends)
        sub, _, _, _ = self._monitor.subscribe([Kind.BACKEND], [f"backend:{n}" for n in names])

        def view(changed: Sequence[str] = ()) -> pb.WatchBackendHealthResponse:
            message = pb.WatchBackendHealthResponse(
                backends=[backend_health(v) for v in self._backend_views(names)],
                changed=sorted(changed),
                generated_at=_ts(self._monitor.clock.now()),
            )
            # With heartbeats, a newer message is due within the interval: two
            # missed ones mean the monitor went silent. Without, the open stream
            # itself is the liveness signal and the view never goes stale.
            if heartbeat:
                message.stale_after.CopyFrom(_dur(2 * heartbeat + 1.0))
            return message

        try:
            yield view()
            while not self._stopping.is_set():
                try:
                    transition = await sub.next(heartbeat, self._stopping)
                except SubscriberTooSlow as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{exc}; subscribe again")
                if transition is not None:
                    burst = [transition, *sub.drain()]
                    yield view({t.target.removeprefix("backend:") for t in burst})
                elif heartbeat and not self._stopping.is_set():
                    yield view()
        finally:
            self._monitor.unsubscribe(sub)

    async def ReportRestart(self, request: pb.ReportRestartRequest, context: grpc.aio.ServicerContext) -> pb.ReportRestartResponse:  # noqa: N802
        problems = []
        if not request.service:
            problems.append(FieldViolation("service", "required"))
        elif request.service not in BY_NAME:
            problems.append(FieldViolation("service", f"unknown mesh service {request.service!r}"))
        if request.reason == RestartReason.UNSPECIFIED or request.reason not in RestartReason._value2member_map_:
            problems.append(FieldViolation("reason", "required: PROCESS_EXITED, NOT_SERVING or UNREACHABLE"))
        if request.attempt < 0:
            problems.append(FieldViolation("attempt", "must not be negative"))
        if request.HasField("backoff") and _seconds(request.backoff) < 0:
            problems.append(FieldViolation("backoff", "must not be negative"))
        if problems:
            raise InvalidArgument(problems)
        alert = self._monitor.report_restart(RestartReport(
            service=request.service,
            pid=request.pid,
            previous_pid=request.previous_pid,
            reason=RestartReason(request.reason),
            detail=request.detail,
            attempt=request.attempt,
            backoff_s=_seconds(request.backoff) if request.HasField("backoff") else 0.0,
            restarted_at=request.restarted_at.ToDatetime().replace(tzinfo=UTC) if request.HasField("restarted_at") else None,
            budget_exhausted=request.budget_exhausted,
        ))
        return pb.ReportRestartResponse(alert_id=alert.id)

