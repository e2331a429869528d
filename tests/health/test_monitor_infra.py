"""PostgreSQL and Redis probes against the real servers, a closed port and a
link cut by a fault proxy; the host's metrics, with GPUs read from a
`nvidia-smi` found on PATH (here a script printing what the real one prints)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from monitor_support import StartMonitor
from services.health.infra_probe import DatabaseProbe, RedisProbe, safe_dsn
from services.health.model import Status
from services.health.system import MeshProcess, ProcessFinder, SystemSampler, gpu_metrics
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.clock import SystemClock
from switchboard.testing.infra import free_port
from switchboard.testing.tcp_proxy import TcpProxy


def _through(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


async def test_postgres_probe_real_closed_and_cut(database_url: str) -> None:
    clock = SystemClock()
    probe = DatabaseProbe(database_url, clock, timeout_s=2)
    result = await probe.probe()
    assert result.status is Status.HEALTHY and result.latency_s is not None
    assert ":***@" not in probe.endpoint and probe.endpoint.startswith("postgresql+psycopg://")
    await probe.close()

    closed = DatabaseProbe(_through(database_url, free_port()), clock, timeout_s=2)
    result = await closed.probe()
    assert result.status is Status.UNREACHABLE, result
    print(f"\nPostgreSQL on a closed port: {result.detail}")
    await closed.close()

    parsed = make_url(database_url)
    async with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        via = DatabaseProbe(_through(database_url, proxy.port), clock, timeout_s=1)
        assert (await via.probe()).status is Status.HEALTHY
        await proxy.down()
        cut = await via.probe()
        assert cut.status is Status.UNREACHABLE, cut
        await proxy.up()
        assert (await via.probe()).status is Status.HEALTHY  # reconnects by itself
        await via.close()


async def test_redis_probe_real_and_closed(redis_url: str) -> None:
    clock = SystemClock()
    probe = RedisProbe(redis_url, clock, timeout_s=1)
    result = await probe.probe()
    assert result.status is Status.HEALTHY and result.latency_s is not None
    await probe.close()
    closed = RedisProbe(f"redis://127.0.0.1:{free_port()}/0", clock, timeout_s=1)
    result = await closed.probe()
    assert result.status is Status.UNREACHABLE, result
    print(f"\nRedis on a closed port: {result.detail}")
    await closed.close()
    async with TcpProxy("127.0.0.1", int(redis_url.split(":")[2].split("/")[0])) as proxy:
        via = RedisProbe(f"redis://127.0.0.1:{proxy.port}/0", clock, timeout_s=1)
        assert (await via.probe()).status is Status.HEALTHY
        await proxy.down()
        assert (await via.probe()).status is Status.UNREACHABLE
        await proxy.up()
        assert (await via.probe()).status is Status.HEALTHY
        await via.close()
    assert safe_dsn("redis://:secret@host:6379/0") == "redis://host:6379/0"


async def test_monitor_reports_database_and_redis_targets(
    database_url: str, redis_url: str, start_monitor: StartMonitor
) -> None:
    monitor, _ = await start_monitor(database_url=database_url, redis_url=redis_url)
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    request = pb.GetStatusRequest(kinds=[pb.TARGET_KIND_DATABASE, pb.TARGET_KIND_CACHE_STORE])
    for _ in range(100):
        status = await stub.GetStatus(request)
        if all(t.status == pb.TARGET_STATUS_HEALTHY for t in status.targets):
            break
        await asyncio.sleep(0.05)
    by_id = {t.target: t for t in status.targets}
    assert by_id["database"].status == pb.TARGET_STATUS_HEALTHY and by_id["database"].kind == pb.TARGET_KIND_DATABASE
    assert by_id["redis"].status == pb.TARGET_STATUS_HEALTHY and by_id["redis"].endpoint.startswith("redis://")


async def test_gpu_metrics_from_nvidia_smi_on_path_or_not_available(tmp_path: Path) -> None:
    assert await gpu_metrics(None, 1) == (False, "nvidia-smi not found", ())
    script = tmp_path / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"--query-gpu=index,name,utilization.gpu,memory.used,memory.total"*"--format=csv,noheader,nounits"*)\n'
        '  echo "0, NVIDIA A10G, 37, 1024, 23028"; echo "1, NVIDIA A10G, 5, 0, 23028";;\n'
        '  *) echo "bad arguments: $*" >&2; exit 2;;\nesac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    available, reason, gpus = await gpu_metrics(str(script), 5)
    assert available and reason == "" and [(g.index, g.utilization_percent) for g in gpus] == [(0, 37.0), (1, 5.0)]
    broken = tmp_path / "broken-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    available, reason, _ = await gpu_metrics(str(broken), 5)
    assert not available and reason.startswith("nvidia-smi failed: NVIDIA-SMI has failed")

    finder = ProcessFinder([MeshProcess("self", "services.self", 0)], supervisor_pid=os.getppid())
    sampler = SystemSampler(tmp_path / "not" / "yet", SystemClock(), finder, lambda _: 2,
                            degraded_percent=95, gpu_timeout_s=5, nvidia_smi=str(script))
    view, verdict = await sampler.sample()
    assert view.gpu_available and len(view.gpus) == 2 and view.disk_path == str(tmp_path)
    assert verdict.status in (Status.HEALTHY, Status.DEGRADED)
    (process,) = view.processes
    assert (process.service, process.pid, process.restarts) == ("self", 0, 2)  # not running: pid 0


async def test_without_nvidia_smi_the_gpu_is_not_available_not_an_error(
    start_monitor: StartMonitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no nvidia-smi anywhere on PATH
    monitor, _ = await start_monitor()
    assert monitor.channel is not None
    stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
    for _ in range(100):
        status = await stub.GetStatus(pb.GetStatusRequest())
        system = {t.target: t for t in status.targets}["system"]
        if system.status != pb.TARGET_STATUS_UNSPECIFIED and status.system.cpu_count:
            break
        await asyncio.sleep(0.05)
    metrics = status.system
    assert (metrics.gpu_available, metrics.gpu_unavailable_reason, list(metrics.gpus)) == (False, "nvidia-smi not found", [])
    assert system.status in (pb.TARGET_STATUS_HEALTHY, pb.TARGET_STATUS_DEGRADED)  # DEGRADED only for a busy host
    assert "gpu" not in system.detail.lower() and "nvidia" not in system.detail.lower()
    alerts = (await stub.ListAlerts(pb.ListAlertsRequest(min_severity=pb.ALERT_SEVERITY_CRITICAL))).alerts
    assert list(alerts) == []
