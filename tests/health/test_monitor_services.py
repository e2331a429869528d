"""Watching real services: a stopped server is detected at once (its Watch
stream tells), a SIGSTOPped process within two check intervals (its Checks go
unanswered), SIGCONT brings it back, kill -9 breaks the stream at once; alerts
reach a real webhook receiver; WatchStatus sends the snapshot then transitions.
Detection times are printed, not asserted."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import grpc
import pytest

from monitor_support import StartMonitor
from monitor_support import WebhookReceiver, field_of, start_service_process, status_stream
from switchboard.mesh import BY_NAME
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.services import RunningService

CACHE = "service:cache"
BAD = {pb.TARGET_STATUS_UNHEALTHY, pb.TARGET_STATUS_UNREACHABLE}
HEALTHY = {pb.TARGET_STATUS_HEALTHY}


async def test_stopped_service_detected_at_once_and_alert_delivered(
    start_monitor: StartMonitor, serve, webhook: WebhookReceiver, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    cache: RunningService = await serve("cache", MeshSettings(data_dir=tmp_path / "c", shutdown_grace_s=1.0))
    monitor, app = await start_monitor(
        monitor_services="cache", cache_address=cache.address, monitor_webhook_url=webhook.url,
        # A long check interval: whatever is detected here comes from the Watch stream.
        monitor_check_interval_s=5.0, monitor_check_timeout_s=1.0,
    )
    assert monitor.channel is not None
    async with status_stream(monitor.channel, pb.WatchStatusRequest(targets=[CACHE])) as stream:
        snapshot = await stream.wait_snapshot()
        assert [t.target for t in snapshot.targets] == [CACHE]
        await stream.wait_status(CACHE, HEALTHY)
        stopped_at = time.monotonic()
        await cache.stop()
        at, first = await stream.wait_status(CACHE, BAD, after=stopped_at)
        detected = at - stopped_at
        gone_at, gone = await stream.wait_status(CACHE, {pb.TARGET_STATUS_UNREACHABLE}, after=stopped_at)
        print(f"\nstopped service: {pb.TargetStatus.Name(first.to_status)} after {detected * 1000:.0f} ms "
              f"({first.reason}); UNREACHABLE after {(gone_at - stopped_at) * 1000:.0f} ms ({gone.reason})")
        assert first.from_status == pb.TARGET_STATUS_HEALTHY
        assert gone.state.consecutive_failures >= 1 and gone.state.endpoint == cache.address
        assert gone.overall_status == pb.TARGET_STATUS_UNREACHABLE
    body = await webhook.wait_for(lambda b: "cache is UNREACHABLE" in b["text"])
    assert body["text"].startswith("[CRITICAL]") and field_of(body, "target") == CACHE
    assert field_of(body, "change").endswith("→ UNREACHABLE")


async def test_sigstop_detected_within_two_check_intervals_then_sigcont_and_kill(
    start_monitor: StartMonitor, tmp_path: Path
) -> None:
    entry = BY_NAME["cache"]
    assert entry.grpc_service is not None
    child = await start_service_process("cache", entry.module, entry.grpc_service, tmp_path / "data")
    interval = 0.5
    try:
        monitor, _ = await start_monitor(
            monitor_services="cache", cache_address=child.address,
            monitor_check_interval_s=interval, monitor_check_timeout_s=0.4,
        )
        assert monitor.channel is not None
        async with status_stream(monitor.channel, pb.WatchStatusRequest(kinds=[pb.TARGET_KIND_SERVICE])) as stream:
            await stream.wait_snapshot()
            await stream.wait_status(CACHE, HEALTHY)
            stopped_at = time.monotonic()
            child.signal(signal.SIGSTOP)
            at, down = await stream.wait_status(CACHE, {pb.TARGET_STATUS_UNREACHABLE}, after=stopped_at)
            print(f"\nSIGSTOP: UNREACHABLE after {(at - stopped_at) * 1000:.0f} ms "
                  f"(check interval {interval * 1000:.0f} ms; {down.reason})")
            assert "no answer" in down.reason

            resumed_at = time.monotonic()
            child.signal(signal.SIGCONT)
            at, up = await stream.wait_status(CACHE, HEALTHY, after=resumed_at)
            print(f"SIGCONT: HEALTHY again after {(at - resumed_at) * 1000:.0f} ms")
            assert up.from_status == pb.TARGET_STATUS_UNREACHABLE

            killed_at = time.monotonic()
            child.signal(signal.SIGKILL)
            at, dead = await stream.wait_status(CACHE, {pb.TARGET_STATUS_UNREACHABLE}, after=killed_at)
            print(f"kill -9: UNREACHABLE after {(at - killed_at) * 1000:.0f} ms ({dead.reason})")
            assert dead.reason.startswith(("watch stream broken", "connection refused", "UNAVAILABLE"))
    finally:
        await child.stop()


async def test_restarted_service_is_seen_again_through_reconnection(start_monitor: StartMonitor, tmp_path: Path) -> None:
    entry = BY_NAME["cache"]
    assert entry.grpc_service is not None
    child = await start_service_process("cache", entry.module, entry.grpc_service, tmp_path / "data")
    try:
        monitor, app = await start_monitor(monitor_services="cache", cache_address=child.address,
                                         monitor_check_interval_s=5.0, monitor_check_timeout_s=1.0)
        assert monitor.channel is not None
        async with status_stream(monitor.channel) as stream:
            await stream.wait_status(CACHE, HEALTHY)
            child.signal(signal.SIGKILL)
            await child.process.wait()
            await stream.wait_status(CACHE, {pb.TARGET_STATUS_UNREACHABLE})
            # The same port again: the re-opened Watch stream finds it (no Check for 5 s).
            restarted = time.monotonic()
            again = await _start_on_port(entry.module, child.port, tmp_path / "data")
            try:
                at, _ = await stream.wait_status(CACHE, HEALTHY, after=restarted, timeout=30)
                print(f"\nrestarted on the same port: HEALTHY {(at - restarted):.2f} s after the new process was spawned")
                assert app.watchers["cache"].reconnects >= 1  # type: ignore[union-attr]
            finally:
                again.kill()
                await again.wait()
    finally:
        await child.stop()


async def _start_on_port(module: str, port: int, data_dir: Path) -> asyncio.subprocess.Process:
    from monitor_support import REPO, clean_env  # noqa: PLC0415

    import sys  # noqa: PLC0415

    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", str(port),
        env=clean_env(SWITCHBOARD_DATA_DIR=str(data_dir)), cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


async def test_watch_status_heartbeats_filters_and_bad_requests(start_monitor: StartMonitor) -> None:
    monitor, _ = await start_monitor()
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    request = pb.WatchStatusRequest(kinds=[pb.TARGET_KIND_DATABASE, pb.TARGET_KIND_SYSTEM])
    request.heartbeat_interval.FromMilliseconds(100)
    async with status_stream(monitor.channel, request) as stream:
        snapshot = await stream.wait_snapshot()
        assert sorted(t.target for t in snapshot.targets) == ["database", "system"]
        for _ in range(50):
            if stream.heartbeats >= 2:
                break
            await asyncio.sleep(0.05)
        assert stream.heartbeats >= 2
        assert all(t.kind in (pb.TARGET_KIND_DATABASE, pb.TARGET_KIND_SYSTEM) for _, t in stream.transitions)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.WatchStatus(pb.WatchStatusRequest(targets=["service:nope"])):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "targets[0]" in (err.value.details() or "")
    bad = pb.WatchStatusRequest()
    bad.heartbeat_interval.FromSeconds(-1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.WatchStatus(bad):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_status_reports_everything(start_monitor: StartMonitor, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache: RunningService = await serve("cache", MeshSettings(data_dir=tmp_path / "c", shutdown_grace_s=1.0))
    # Generous Check deadlines: on a busy host a 0.2 s one may lapse and spoil "always up".
    monitor, _ = await start_monitor(monitor_services="cache", cache_address=cache.address,
                                     monitor_check_interval_s=1.0, monitor_check_timeout_s=0.9)
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    for _ in range(100):
        status = await stub.GetStatus(pb.GetStatusRequest())
        if all(t.status != pb.TARGET_STATUS_UNSPECIFIED for t in status.targets) and status.system.cpu_count:
            break
        await asyncio.sleep(0.05)
    by_id = {t.target: t for t in status.targets}
    assert sorted(by_id) == ["database", "redis", "service:cache", "system"]
    svc = by_id[CACHE]
    assert svc.status == pb.TARGET_STATUS_HEALTHY and svc.kind == pb.TARGET_KIND_SERVICE
    assert dict(svc.serving_statuses) == {"": pb.SERVING_STATUS_SERVING, "switchboard.cache.v1.CacheService": pb.SERVING_STATUS_SERVING}
    assert svc.HasField("probe_latency") and svc.HasField("last_probe_at") and svc.uptime_ratio == 1.0
    assert svc.uptime_window.ToSeconds() == 86400
    assert by_id["redis"].status == pb.TARGET_STATUS_NOT_AVAILABLE and "no Redis" in by_id["redis"].detail
    assert by_id["database"].status == pb.TARGET_STATUS_HEALTHY and by_id["database"].endpoint.startswith("sqlite")
    assert status.overall_status in (pb.TARGET_STATUS_HEALTHY, pb.TARGET_STATUS_DEGRADED)  # the host may be busy
    system = status.system
    assert system.cpu_count >= 1 and system.memory_total_bytes > system.memory_used_bytes > 0
    assert system.disk_total_bytes > 0 and system.disk_path
    assert not system.gpu_available and system.gpu_unavailable_reason  # no GPU here: not an error
    (process,) = system.processes
    assert process.service == "cache" and process.pid > 0 and process.rss_bytes > 0  # found by its port
    only = await stub.GetStatus(pb.GetStatusRequest(kinds=[pb.TARGET_KIND_SERVICE]))
    assert [t.target for t in only.targets] == [CACHE]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetStatus(pb.GetStatusRequest(kinds=[42]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_gateway_is_watched_by_its_healthz(start_monitor: StartMonitor, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from services.gateway.settings import GatewaySettings  # noqa: PLC0415

    gateway: RunningService = await serve("gateway", GatewaySettings(
        data_dir=tmp_path / "g", router_address="127.0.0.1:1", shutdown_grace_s=1.0))
    monitor, _ = await start_monitor(monitor_services="gateway", gateway_address=gateway.address)
    assert monitor.channel is not None
    async with status_stream(monitor.channel, pb.WatchStatusRequest(targets=["service:gateway"])) as stream:
        _, up = await stream.wait_status("service:gateway", HEALTHY)
        assert dict(up.state.serving_statuses) == {"": pb.SERVING_STATUS_SERVING} and up.state.HasField("probe_latency")
        stopped_at = time.monotonic()
        await gateway.stop()
        _, down = await stream.wait_status("service:gateway", {pb.TARGET_STATUS_UNREACHABLE}, after=stopped_at)
        assert down.reason == "connection refused"
