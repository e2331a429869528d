"""The monitor's history database goes away (a fault proxy in front of the real
PostgreSQL): watching and alerting go on, history reads answer UNAVAILABLE,
the database target says UNREACHABLE, and what happened meanwhile (a restart's
alert and event) is stored once the database is back: nothing accepted is lost."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy.engine import make_url

from monitor_support import StartMonitor
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.testing.tcp_proxy import TcpProxy


async def _status_of(stub: monitor_pb2_grpc.MonitorServiceStub, target: str, wanted: int, timeout: float = 15.0) -> pb.TargetState:
    async with asyncio.timeout(timeout):
        while True:
            state = {t.target: t for t in (await stub.GetStatus(pb.GetStatusRequest())).targets}[target]
            if state.status == wanted:
                return state
            await asyncio.sleep(0.05)


async def test_history_database_outage_then_recovery_loses_nothing(database_url: str, start_monitor: StartMonitor) -> None:
    url = make_url(database_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        monitor, app = await start_monitor(database_url=proxied, monitor_infra_timeout_s=1.0)
        assert monitor.channel is not None
        stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
        await _status_of(stub, "database", pb.TARGET_STATUS_HEALTHY)
        await stub.ListAlerts(pb.ListAlertsRequest())  # migrated and reachable

        await proxy.down()
        down = await _status_of(stub, "database", pb.TARGET_STATUS_UNREACHABLE)
        assert down.detail
        restart = await stub.ReportRestart(pb.ReportRestartRequest(
            service="cache", pid=2, previous_pid=1, reason=pb.RESTART_REASON_PROCESS_EXITED, detail="exit code -9", attempt=1))
        assert restart.alert_id  # accepted while the database is down
        for call in (stub.ListAlerts(pb.ListAlertsRequest(), timeout=30),
                     stub.GetHistory(pb.GetHistoryRequest(target="database"), timeout=30)):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "history database unavailable" in (err.value.details() or "")

        await proxy.up()
        await _status_of(stub, "database", pb.TARGET_STATUS_HEALTHY)
        async with asyncio.timeout(15):
            while True:
                try:
                    alerts = (await stub.ListAlerts(pb.ListAlertsRequest(target="service:cache"))).alerts
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
        assert [(a.id, a.title) for a in alerts] == [(restart.alert_id, "cache restarted")]
        events = await app.store.events("service:cache")
        assert [(e["kind"], e["detail"]["detail"]) for e in events] == [("restart", "exit code -9")]
        # The outage itself is in the history too: the database target's samples.
        history = await stub.GetHistory(pb.GetHistoryRequest(target="database"))
        assert pb.TARGET_STATUS_UNREACHABLE in [s.status for s in history.samples]
