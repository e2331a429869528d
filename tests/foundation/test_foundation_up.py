"""`switchboard up` as a user runs it: all six to SERVING and one table,
`switchboard status`, a killed child restarted, SIGTERM leaving no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import psutil

from foundation_support import REPO, clean_env, run_process
from switchboard.testing.mesh_files import read_up_table
from switchboard.clients.mesh_status import service_status
from switchboard.mesh import BY_NAME, SERVICES
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.infra import free_port

NAMES = [s.name for s in SERVICES]



def _children_named(supervisor_pid: int, module: str) -> list[int]:
    try:
        children = psutil.Process(supervisor_pid).children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if module in child.cmdline():
                found.append(child.pid)
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_up_serves_all_six_restarts_a_killed_child_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {f"SWITCHBOARD_{name.upper()}_PORT": str(free_port()) for name in NAMES}
    env = clean_env(SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_SHUTDOWN_GRACE_S="5", **ports)
    settings = MeshSettings(data_dir=tmp_path / "data", **{k.removeprefix("SWITCHBOARD_").lower(): int(v) for k, v in ports.items()})

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
    every_pid: set[int] = set()
    try:
        started = time.monotonic()
        try:
            table = await asyncio.wait_for(read_up_table(up.stdout, stdout_seen), 60)
        except TimeoutError:
            raise AssertionError(
                "no table within 60 s\nstdout:\n" + "".join(stdout_seen) + "\nstderr:\n" + "".join(stderr_seen)
            ) from None
        print(f"\nswitchboard up: table after {time.monotonic() - started:.1f} s")
        print("".join(stdout_seen))

        assert sorted(table) == sorted(NAMES)
        for name, (address, status, pid) in table.items():
            assert address == settings.address_of(name), name
            assert status == "SERVING", (name, table)
            assert psutil.Process(int(pid)).ppid() == up.pid, name
            every_pid.add(int(pid))
        assert len(every_pid) == 6

        status = await run_process(sys.executable, "-m", "switchboard.cli", "status", env=env, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        for name in NAMES:
            assert any(line.split()[:1] == [name] and "SERVING" in line.split() for line in status.stdout.splitlines()), status.stdout

        # kill -9 the cache: the supervisor brings it back with a new pid.
        old = int(table["cache"][2])
        os.kill(old, signal.SIGKILL)
        killed_at = time.monotonic()
        new: int | None = None
        async with asyncio.timeout(30):
            while True:
                fresh = [p for p in _children_named(up.pid, BY_NAME["cache"].module) if p != old]
                if fresh and await service_status(BY_NAME["cache"], settings, timeout=0.5) == "SERVING":
                    new = fresh[0]
                    break
                await asyncio.sleep(0.1)
        print(f"cache SERVING again {time.monotonic() - killed_at:.2f} s after kill -9 (pid {old} -> {new})")
        every_pid.add(new)
        assert not _alive(old)

        # SIGTERM: the supervisor stops everything and exits 0.
        up.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(up.wait(), 30)
        await asyncio.wait_for(stderr_task, 5)
        log = "".join(stderr_seen)
        assert code == 0, log
        assert "cache exited" in log and "restarting" in log, log
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in every_pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not [pid for pid in every_pid if _alive(pid)], "orphaned children"
        assert "Traceback" not in log, log
    finally:
        if up.returncode is None:
            for pid in every_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            up.kill()
            await up.wait()
        stderr_task.cancel()
