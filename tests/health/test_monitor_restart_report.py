"""Each restart the supervisor reports (ReportRestart) is an alert delivered to a
real webhook receiver, an event in the history database and a count in the
monitor's metrics; so is giving up (restart budget exhausted)."""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from monitor_support import StartMonitor, WebhookReceiver, field_of
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.metrics import MONITOR_ALERTS, MONITOR_RESTARTS


def _points(reader: InMemoryMetricReader, metric: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        tuple(sorted((p.attributes or {}).items())): p.value
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == metric
        for p in m.data.data_points
    }


def _restart_alerts(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, Any], ...], Any]:
    # A busy host may also raise a transition alert for "system": not counted here.
    return {k: v for k, v in _points(reader, MONITOR_ALERTS).items() if dict(k)["switchboard.alert.kind"].startswith("restart")}


async def test_reported_restarts_are_alerts_at_the_webhook_events_and_metrics(
    start_monitor: StartMonitor, webhook: WebhookReceiver
) -> None:
    reader = InMemoryMetricReader()
    monitor, app = await start_monitor(monitor_webhook_url=webhook.url, meter_provider=MeterProvider(metric_readers=[reader]))
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)

    request = pb.ReportRestartRequest(service="cache", pid=222, previous_pid=111, reason=pb.RESTART_REASON_UNREACHABLE,
                                      detail="no answer within 0.4 s for 3.1 s", attempt=1)
    request.backoff.FromMilliseconds(500)
    restarted = await stub.ReportRestart(request)
    body = await webhook.wait_for(lambda b: b["text"] == "[WARNING] cache restarted")
    assert field_of(body, "alert id") == restarted.alert_id and field_of(body, "target") == "service:cache"
    assert field_of(body, "kind") == "RESTART"
    message = body["attachments"][0]["text"]
    assert "unreachable too long (no answer within 0.4 s for 3.1 s)" in message and "pid 111 → 222" in message

    gave_up = await stub.ReportRestart(pb.ReportRestartRequest(
        service="cache", previous_pid=222, reason=pb.RESTART_REASON_PROCESS_EXITED, detail="exit code 1",
        attempt=6, budget_exhausted=True))
    body = await webhook.wait_for(lambda b: "restart budget exhausted" in b["text"])
    assert body["text"] == "[CRITICAL] cache restart budget exhausted: not restarted"
    assert field_of(body, "alert id") == gave_up.alert_id

    # Stored, with the webhook delivery recorded on each alert.
    for _ in range(100):
        alerts = (await stub.ListAlerts(pb.ListAlertsRequest(target="service:cache"))).alerts
        if all(d.delivered for a in alerts for d in a.deliveries):
            break
        await asyncio.sleep(0.05)
    assert [(a.kind, a.severity) for a in alerts] == [
        (pb.ALERT_KIND_RESTART_BUDGET_EXHAUSTED, pb.ALERT_SEVERITY_CRITICAL),
        (pb.ALERT_KIND_RESTART, pb.ALERT_SEVERITY_WARNING),
    ]
    assert all({d.sink: d.delivered for d in a.deliveries} == {"log": True, "webhook": True} for a in alerts)
    events = await app.store.events("service:cache")
    assert [(e["kind"], e["detail"]["pid"], e["detail"]["reason"]) for e in events] == [
        ("restart", 222, "UNREACHABLE"), ("restart_budget_exhausted", 0, "PROCESS_EXITED")]

    # Metrics: one restart (giving up is not one), one alert of each kind.
    assert _points(reader, MONITOR_RESTARTS) == {(("switchboard.service", "cache"),): 1}
    assert _restart_alerts(reader) == {
        (("switchboard.alert.kind", "restart"), ("switchboard.alert.severity", "warning")): 1,
        (("switchboard.alert.kind", "restart_budget_exhausted"), ("switchboard.alert.severity", "critical")): 1,
    }
    # The same restart reported again is folded into its alert: no new alert, but a restart.
    await stub.ReportRestart(request)
    assert _points(reader, MONITOR_RESTARTS) == {(("switchboard.service", "cache"),): 2}
    assert sum(_restart_alerts(reader).values()) == 2
    assert app.monitor.restarts_of("cache") == 2  # what GetStatus shows as the process's restarts
