"""History retention on a driven clock (PostgreSQL): the monitor's own pruner
loop deletes probe samples, events and alerts once they are older than the
retention period, and keeps everything younger."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from monitor_support import StartMonitor
from services.health.history import AlertFilter, HistoryStore
from switchboard.db import create_engine_for
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.clock import ManualClock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_pruner_deletes_what_ages_out_and_keeps_the_rest(database_url: str, start_monitor: StartMonitor) -> None:
    clock = ManualClock(T0)
    monitor, app = await start_monitor(clock=clock, database_url=database_url,
                                       monitor_history_retention_s=HOUR, monitor_prune_interval_s=600)
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    store = app.store

    async def sample_times() -> list[datetime]:
        samples, _, _ = await store.samples("database", datetime(2000, 1, 1, tzinfo=UTC), 10_000)
        return [s.at for s in samples]

    async def has_samples_at(t: datetime) -> bool:
        return t in await sample_times()

    async def restart(service: str) -> None:
        await stub.ReportRestart(pb.ReportRestartRequest(service=service, pid=2, previous_pid=1,
                                                         reason=pb.RESTART_REASON_PROCESS_EXITED, attempt=1))

    # At T0: probe samples, a restart (alert + event).
    await _until(lambda: has_samples_at(T0))
    await restart("cache")

    # Half an hour on: the pruner runs (every 600 s) but nothing is an hour old.
    clock.advance(HOUR / 2)
    half = T0 + timedelta(hours=0.5)
    await _until(lambda: has_samples_at(half))
    await restart("router")
    assert T0 in await sample_times()

    # 70 minutes after T0: T0's records are past the retention; the half-hour ones are not.
    clock.advance(40 * 60)
    later = T0 + timedelta(minutes=70)

    async def pruned() -> bool:
        return min(await sample_times()) >= later - timedelta(hours=1)

    await _until(pruned)
    times = await sample_times()
    assert half in times and later in times
    assert [e["target"] for e in await store.events()] == ["service:router"]
    alerts = (await stub.ListAlerts(pb.ListAlertsRequest())).alerts
    assert [a.title for a in alerts if a.kind == pb.ALERT_KIND_RESTART] == ["router restarted"]

    # GetHistory clamps its window to the retention period and sees the rest.
    request = pb.GetHistoryRequest(target="database")
    request.window.FromSeconds(int(10 * HOUR))
    history = await stub.GetHistory(request)
    stamps = [s.at.ToDatetime(tzinfo=UTC) for s in history.samples]
    assert stamps[0] >= later - timedelta(hours=1) and half in stamps and later in stamps


async def test_reads_before_anything_was_written_find_an_empty_history(database_url: str) -> None:
    store = HistoryStore(create_engine_for(database_url, pool_size=1), database_url)
    try:
        assert await store.samples("database", T0, 10) == ([], False, None)  # migrated on first use, not an error
        alerts, more = await store.list_alerts(AlertFilter(), None, 10)
        assert alerts == [] and not more
    finally:
        await store.close()
