"""Self-healing under `switchboard up` (a real supervisor and six real
processes on free ports): SIGSTOP the cache, the monitor reports it
unreachable, the supervisor kills and restarts it after the threshold and
reports the restart, which becomes an alert at a real webhook receiver.
A kill -9 is reported as an exit; a SIGSTOPped monitor is restarted because
its status feed falls silent. Detection and restart times are printed, not asserted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import grpc
import psutil

from monitor_support import REPO, WebhookReceiver, clean_env, status_stream
from switchboard.testing.mesh_files import read_up_table
from switchboard.clients.mesh_status import service_status
from switchboard.mesh import BY_NAME, SERVICES
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.infra import free_port

NAMES = [s.name for s in SERVICES]
CACHE = "service:cache"
# The supervisor's default restart grace: a restarted child that is still
# starting (several seconds on a busy host) must not be killed for it.
GRACE_S = 15.0



def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children_of(supervisor: int, module: str) -> list[int]:
    found = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(supervisor).children():
            with contextlib.suppress(psutil.Error):
                if module in child.cmdline():
                    found.append(child.pid)
    return found


async def test_supervisor_restarts_a_sigstopped_child_the_monitor_reports(tmp_path: Path, webhook: WebhookReceiver) -> None:
    ports = {name: free_port() for name in NAMES}
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"),
        SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        SWITCHBOARD_MONITOR_CHECK_INTERVAL_S="0.5",
        SWITCHBOARD_MONITOR_CHECK_TIMEOUT_S="0.4",
        SWITCHBOARD_MONITOR_RESTART_AFTER_S="1",
        SWITCHBOARD_MONITOR_RESTART_GRACE_S=str(GRACE_S),
        SWITCHBOARD_MONITOR_STARTUP_GRACE_S="0",
        SWITCHBOARD_MONITOR_WEBHOOK_URL=webhook.url,
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false",
        **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    )
    settings = MeshSettings(data_dir=tmp_path / "data", **{f"{n}_port": p for n, p in ports.items()})
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.cli", "up", env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert up.stdout is not None and up.stderr is not None
    stdout_seen: list[str] = []
    stderr_seen: list[str] = []

    async def drain_stderr() -> None:
        assert up.stderr is not None
        async for raw in up.stderr:
            stderr_seen.append(raw.decode())

    stderr_task = asyncio.create_task(drain_stderr())
    channel = grpc.aio.insecure_channel(settings.address_of("monitor"))
    pids: set[int] = set()
    try:
        try:
            table = await asyncio.wait_for(read_up_table(up.stdout, stdout_seen), 90)
        except TimeoutError:
            raise AssertionError("no table\n" + "".join(stdout_seen) + "".join(stderr_seen)) from None
        pids = {int(row[2]) for row in table.values()}
        old = int(table["cache"][2])
        async with status_stream(channel, pb.WatchStatusRequest(kinds=[pb.TARGET_KIND_SERVICE])) as stream:
            await stream.wait_status(CACHE, {pb.TARGET_STATUS_HEALTHY}, timeout=30)
            # Past the restart grace of the first cache process.
            await asyncio.sleep(max(0.0, psutil.Process(old).create_time() + GRACE_S + 0.5 - time.time()))

            stopped_at = time.monotonic()
            os.kill(old, signal.SIGSTOP)
            detected_at, down = await stream.wait_status(CACHE, {pb.TARGET_STATUS_UNREACHABLE}, after=stopped_at, timeout=30)
            new: int | None = None
            async with asyncio.timeout(60):
                while True:
                    fresh = [p for p in _children_of(up.pid, BY_NAME["cache"].module) if p != old]
                    if fresh and await service_status(BY_NAME["cache"], settings, timeout=0.5) == "SERVING":
                        new = fresh[0]
                        break
                    await asyncio.sleep(0.05)
            serving_at = time.monotonic()
            try:
                healthy_at, _ = await stream.wait_status(CACHE, {pb.TARGET_STATUS_HEALTHY}, after=detected_at, timeout=30)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nsupervisor:\n{''.join(stderr_seen)}") from None
            pids.add(new)
            print(
                f"\nSIGSTOP of cache (pid {old}): monitor UNREACHABLE after {(detected_at - stopped_at) * 1000:.0f} ms "
                f"({down.reason}); new process (pid {new}) SERVING {serving_at - stopped_at:.2f} s after the SIGSTOP; "
                f"monitor HEALTHY again after {healthy_at - stopped_at:.2f} s "
                f"(check interval 0.5 s, restart after 1 s unreachable, back-off 0.5 s)"
            )
        assert not _alive(old)  # SIGKILL ended the stopped process

        restart = await webhook.wait_for(lambda b: b["text"] == "[WARNING] cache restarted", timeout=30)
        message = restart["attachments"][0]["text"]
        assert "unreachable too long" in message and f"pid {old} → {new}" in message, message
        await webhook.wait_for(lambda b: "cache is UNREACHABLE" in b["text"])

        stub = monitor_pb2_grpc.MonitorServiceStub(channel)
        alerts = await stub.ListAlerts(pb.ListAlertsRequest(target=CACHE))
        kinds = {a.kind for a in alerts.alerts}
        assert pb.ALERT_KIND_RESTART in kinds and pb.ALERT_KIND_TRANSITION in kinds
        for _ in range(100):
            status = await stub.GetStatus(pb.GetStatusRequest())
            processes = {p.service: p for p in status.system.processes}
            if processes.get("cache") and processes["cache"].pid == new:
                break
            await asyncio.sleep(0.1)
        assert processes["cache"].pid == new and processes["cache"].restarts == 1 and processes["cache"].rss_bytes > 0
        assert sorted(processes) == sorted(NAMES)  # every mesh process, found as the supervisor's children

        # kill -9: the plain exit path, reported as such.
        router = int(table["router"][2])
        os.kill(router, signal.SIGKILL)
        exited = await webhook.wait_for(lambda b: b["text"] == "[WARNING] router restarted", timeout=60)
        assert "because the process exited (exit code -9)" in exited["attachments"][0]["text"]

        # A stopped monitor cannot report itself: its silent feed is the signal.
        monitor = int(table["monitor"][2])
        stopped_at = time.monotonic()
        os.kill(monitor, signal.SIGSTOP)
        async with asyncio.timeout(60):
            while True:
                fresh = [p for p in _children_of(up.pid, BY_NAME["monitor"].module) if p != monitor]
                if fresh and await service_status(BY_NAME["monitor"], settings, timeout=0.5) == "SERVING":
                    break
                await asyncio.sleep(0.1)
        pids.update(fresh)
        print(f"SIGSTOP of the monitor: a new monitor SERVING {time.monotonic() - stopped_at:.2f} s later "
              "(5 missed 1 s heartbeats, then 1 s)")
        assert not _alive(monitor)

        up.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(up.wait(), 60)
        await asyncio.wait_for(stderr_task, 5)
        log = "".join(stderr_seen)
        assert code == 0, log
        assert "killing pid" in log and "Traceback" not in log, log
    finally:
        await channel.close()
        if up.returncode is None:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            up.kill()
            await up.wait()
        stderr_task.cancel()
