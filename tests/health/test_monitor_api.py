"""The monitor's RPCs on PostgreSQL: GetHistory, ListAlerts (filters, pages),
AcknowledgeAlert (idempotent), ReportRestart (alert + event), retention
pruning, and the Alembic version table of its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest
from sqlalchemy.engine import make_url

from monitor_support import StartMonitor
from services.health.backend_probe import BackendTarget
from services.health.model import HistorySample, Status
from services.router.backends.config import BackendKind
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.status import field_violations
from switchboard.testing.fake_backend import FakeBackend

TARGET = "backend:fake"


async def _history(stub: monitor_pb2_grpc.MonitorServiceStub, **kwargs: object) -> pb.GetHistoryResponse:
    request = pb.GetHistoryRequest(target=TARGET, **kwargs)  # type: ignore[arg-type]
    request.window.FromSeconds(600)
    return await stub.GetHistory(request)


async def _code(call: object) -> tuple[grpc.StatusCode, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value.code(), [v.field for v in field_violations(err.value)]


async def test_history_alerts_acknowledgement_and_restarts(database_url: str, start_monitor: StartMonitor) -> None:
    fb = await FakeBackend().start()
    try:
        monitor, app = await start_monitor(
            database_url=database_url, backends=[BackendTarget("fake", BackendKind.openai, fb.url)]
        )
        assert monitor.channel is not None
        stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
        for _ in range(100):
            history = await _history(stub)
            if len(history.samples) >= 3:
                break
            await asyncio.sleep(0.05)
        assert all(s.status == pb.TARGET_STATUS_HEALTHY and s.HasField("latency") for s in history.samples)
        assert history.uptime_ratio == 1.0 and not history.truncated and history.target == TARGET

        await fb.stop()
        for _ in range(100):
            history = await _history(stub)
            if sum(s.status == pb.TARGET_STATUS_UNREACHABLE for s in history.samples) >= 2:
                break
            await asyncio.sleep(0.05)
        times = [s.at.ToDatetime() for s in history.samples]
        assert times == sorted(times)  # oldest first
        down = [s for s in history.samples if s.status == pb.TARGET_STATUS_UNREACHABLE]
        assert down[0].detail == "connection refused" and not down[0].HasField("latency")
        assert 0.0 < history.uptime_ratio < 1.0
        last_two = await _history(stub, limit=2)  # the most recent two (newer ones may have come meanwhile)
        assert last_two.truncated and len(last_two.samples) == 2
        assert history.samples[-2].at.ToDatetime() <= last_two.samples[0].at.ToDatetime() <= last_two.samples[1].at.ToDatetime()

        assert (await _code(stub.GetHistory(pb.GetHistoryRequest(target="backend:nope"))))[0] == grpc.StatusCode.NOT_FOUND
        assert await _code(stub.GetHistory(pb.GetHistoryRequest())) == (grpc.StatusCode.INVALID_ARGUMENT, ["target"])
        negative = pb.GetHistoryRequest(target=TARGET, limit=-1)
        negative.window.FromSeconds(-5)
        assert await _code(stub.GetHistory(negative)) == (grpc.StatusCode.INVALID_ARGUMENT, ["window", "limit"])

        # Restarts reported by the supervisor: one alert each (and an event).
        for service, pid in (("cache", 11), ("router", 12), ("briefs", 13)):
            request = pb.ReportRestartRequest(service=service, pid=pid, previous_pid=pid - 10,
                                              reason=pb.RESTART_REASON_PROCESS_EXITED, detail="exit code -9", attempt=1)
            request.backoff.FromMilliseconds(500)
            reply = await stub.ReportRestart(request)
            assert reply.alert_id
        code, fields = await _code(stub.ReportRestart(pb.ReportRestartRequest(service="nope")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["service", "reason"]
        events = await app.store.events("service:cache")
        assert [(e["kind"], e["detail"]["reason"], e["detail"]["pid"]) for e in events] == [("restart", "PROCESS_EXITED", 11)]

        # ListAlerts: most recently seen first, filters, pages.
        everything = await stub.ListAlerts(pb.ListAlertsRequest())
        titles = [a.title for a in everything.alerts]
        assert titles[:3] == ["briefs restarted", "router restarted", "cache restarted"]
        assert "fake is UNREACHABLE" in titles and everything.next_page_token == ""
        seen = [a.last_seen_at.ToDatetime() for a in everything.alerts]
        assert seen == sorted(seen, reverse=True)
        critical = await stub.ListAlerts(pb.ListAlertsRequest(min_severity=pb.ALERT_SEVERITY_CRITICAL))
        assert [a.title for a in critical.alerts] == ["fake is UNREACHABLE"]
        down_alert = critical.alerts[0]
        assert down_alert.kind == pb.ALERT_KIND_TRANSITION and down_alert.to_status == pb.TARGET_STATUS_UNREACHABLE
        assert [(d.sink, d.delivered) for d in down_alert.deliveries] == [("log", True)]
        cache_only = await stub.ListAlerts(pb.ListAlertsRequest(target="service:cache"))
        assert [(a.kind, a.severity) for a in cache_only.alerts] == [(pb.ALERT_KIND_RESTART, pb.ALERT_SEVERITY_WARNING)]

        pages: list[str] = []
        token = ""
        while True:
            page = await stub.ListAlerts(pb.ListAlertsRequest(page_size=2, page_token=token))
            assert len(page.alerts) <= 2
            pages += [a.id for a in page.alerts]
            token = page.next_page_token
            if not token:
                break
        assert pages == [a.id for a in everything.alerts]
        first_page = await stub.ListAlerts(pb.ListAlertsRequest(page_size=2))
        assert (await _code(stub.ListAlerts(pb.ListAlertsRequest(page_token="garbage")))) == (
            grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
        assert (await _code(stub.ListAlerts(pb.ListAlertsRequest(page_size=2, target="x", page_token=first_page.next_page_token))))[1] == ["page_token"]
        assert (await _code(stub.ListAlerts(pb.ListAlertsRequest(page_size=-1))))[1] == ["page_size"]

        # AcknowledgeAlert: idempotent, NOT_FOUND, required fields.
        acked = (await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
            alert_id=down_alert.id, acknowledged_by="ops", note="restarting the backend host"))).alert
        assert acked.acknowledged and acked.acknowledged_by == "ops" and acked.acknowledgement_note == "restarting the backend host"
        again = (await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=down_alert.id, acknowledged_by="someone else"))).alert
        assert again.acknowledged_by == "ops" and again.acknowledged_at == acked.acknowledged_at
        open_only = await stub.ListAlerts(pb.ListAlertsRequest(unacknowledged_only=True))
        assert down_alert.id not in [a.id for a in open_only.alerts] and len(open_only.alerts) == len(everything.alerts) - 1
        assert (await _code(stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id="nope", acknowledged_by="ops"))))[0] == grpc.StatusCode.NOT_FOUND
        assert await _code(stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest())) == (
            grpc.StatusCode.INVALID_ARGUMENT, ["alert_id", "acknowledged_by"])
        stored = await app.store.get_alert(down_alert.id)
        assert stored is not None and stored.acknowledged_by == "ops"  # in PostgreSQL, not only in memory

        # The monitor counts the restarts it was told about in its process metrics.
        status = await stub.GetStatus(pb.GetStatusRequest())
        assert status.system.cpu_count >= 1
    finally:
        await fb.stop()

    admin = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version_monitor").fetchone()  # type: ignore[misc]
        assert version == "0001_monitor_tables"


async def test_retention_prunes_old_history(database_url: str, start_monitor: StartMonitor) -> None:
    monitor, app = await start_monitor(database_url=database_url, monitor_history_retention_s=3600)
    now = datetime.now(UTC)
    store = app.store
    for hours in (5, 2, 0.5):
        store.record_sample(HistorySample("database", now - timedelta(hours=hours), Status.HEALTHY, 0.001, ""))
    store.record_event(now - timedelta(hours=3), "service:cache", "restart", {"pid": 1})
    await store.flush()
    await app.monitor.prune()  # (the background pruner may get there first: judge the result)
    assert await store.events() == []
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    request = pb.GetHistoryRequest(target="database")
    request.window.FromSeconds(10 * 3600)  # clamped to the retention period
    history = await stub.GetHistory(request)
    oldest = history.samples[0].at.ToDatetime().replace(tzinfo=UTC)
    assert now - oldest < timedelta(hours=1)
