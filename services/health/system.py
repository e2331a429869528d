"""Host and process metrics: CPU, memory and disk through psutil; GPUs through
`nvidia-smi` when it is on PATH (absent is "not available", not an error);
CPU and memory of each mesh process, found as the supervisor's children
(under `switchboard up`) or else by the port each service listens on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from services.health.model import GpuInfo, ProbeResult, ProcessInfo, Status, SystemView
from switchboard.runtime.clock import Clock

MIB = 1024 * 1024
GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total"


@dataclass(frozen=True)
class MeshProcess:
    service: str  # mesh name, e.g. "router"
    module: str  # `python -m <module>`, e.g. "services.router"
    port: int  # where it listens (the fallback way to find it)


def existing_dir(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (the data dir may not yet)."""
    path = path.expanduser().absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def parse_gpu_csv(text: str) -> list[GpuInfo]:
    """Rows of `nvidia-smi --query-gpu=<GPU_QUERY> --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 5:
            continue
        index, name, util, used, total = cells
        gpus.append(GpuInfo(int(index), name, _number(util), int(_number(used) * MIB), int(_number(total) * MIB)))
    return gpus


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return 0.0


async def gpu_metrics(nvidia_smi: str | None, timeout_s: float) -> tuple[bool, str, tuple[GpuInfo, ...]]:
    """(available, why not, GPUs)."""
    if nvidia_smi is None:
        return False, "nvidia-smi not found", ()
    try:
        proc = await asyncio.create_subprocess_exec(
            nvidia_smi, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return False, f"nvidia-smi could not run: {exc.strerror or exc}", ()
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, f"nvidia-smi gave no answer within {timeout_s:g} s", ()
    if proc.returncode != 0:
        first = (err or out).decode(errors="replace").strip().splitlines()
        return False, f"nvidia-smi failed: {first[0][:160] if first else f'exit code {proc.returncode}'}", ()
    gpus = tuple(parse_gpu_csv(out.decode(errors="replace")))
    if not gpus:
        return False, "nvidia-smi found no GPU", ()
    return True, "", gpus


class ProcessFinder:
    """Finds each mesh process and keeps its psutil handle (CPU percentages are
    measured between two calls on the same handle)."""

    def __init__(self, processes: Sequence[MeshProcess], supervisor_pid: int | None) -> None:
        self._processes = list(processes)
        self._supervisor_pid = supervisor_pid
        self._handles: dict[int, psutil.Process] = {}

    def _pids(self) -> dict[str, int]:
        if self._supervisor_pid:
            found = self._by_parent(self._supervisor_pid)
            if found:
                return found
        return self._by_port()

    def _by_parent(self, parent: int) -> dict[str, int]:
        found: dict[str, int] = {}
        try:
            children = psutil.Process(parent).children()
        except psutil.Error:
            return found
        for child in children:
            with contextlib.suppress(psutil.Error):
                cmdline = child.cmdline()
                for p in self._processes:
                    if _runs_module(cmdline, p.module):
                        found[p.service] = child.pid
        return found

    def _by_port(self) -> dict[str, int]:
        wanted = {p.port: p.service for p in self._processes if p.port}
        found: dict[str, int] = {}
        try:
            connections = psutil.net_connections(kind="tcp")
        except (psutil.Error, OSError):
            return found
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN and conn.pid and conn.laddr and conn.laddr.port in wanted:
                found[wanted[conn.laddr.port]] = conn.pid
        return found

    def sample(self, restarts: Callable[[str], int]) -> tuple[ProcessInfo, ...]:
        pids = self._pids()
        self._handles = {pid: h for pid, h in self._handles.items() if pid in pids.values()}
        infos = []
        for p in self._processes:
            pid = pids.get(p.service)
            info = ProcessInfo(p.service, 0, restarts=restarts(p.service))
            if pid:
                handle = self._handles.get(pid)
                try:
                    if handle is None:
                        handle = self._handles[pid] = psutil.Process(pid)
                        handle.cpu_percent(None)  # starts the measurement; 0.0 this time
                    with handle.oneshot():
                        info = ProcessInfo(
                            p.service,
                            pid,
                            cpu_percent=handle.cpu_percent(None),
                            rss_bytes=handle.memory_info().rss,
                            restarts=restarts(p.service),
                            started_at=datetime.fromtimestamp(handle.create_time(), UTC),
                        )
                except psutil.Error:
                    self._handles.pop(pid, None)
            infos.append(info)
        return tuple(infos)


def _runs_module(cmdline: Sequence[str], module: str) -> bool:
    for i, arg in enumerate(cmdline[:-1]):
        if arg == "-m" and cmdline[i + 1] == module:
            return True
    return False


class SystemSampler:
    """One SystemView and the "system" target's verdict per call."""

    def __init__(
        self,
        disk_path: Path,
        clock: Clock,
        finder: ProcessFinder,
        restarts: Callable[[str], int],
        *,
        degraded_percent: float,
        gpu_timeout_s: float,
        cpu_window_s: float = 60.0,
        nvidia_smi: str | None = None,
        find_nvidia_smi: bool = True,
    ) -> None:
        self._disk_path = disk_path
        self._clock = clock
        self._finder = finder
        self._restarts = restarts
        self._degraded = degraded_percent
        self._gpu_timeout = gpu_timeout_s
        self._nvidia_smi = nvidia_smi if nvidia_smi or not find_nvidia_smi else shutil.which("nvidia-smi")
        self._cpu_window_s = cpu_window_s
        self._cpu: deque[tuple[float, float]] = deque()  # (monotonic, percent) within the window
        psutil.cpu_percent(None)  # the first reading is meaningless; start the interval now
        self.latest: SystemView | None = None

    async def sample(self) -> tuple[SystemView, ProbeResult]:
        host = await asyncio.to_thread(self._host)
        available, reason, gpus = await gpu_metrics(self._nvidia_smi, self._gpu_timeout)
        cpu, memory, disk_path, disk, processes = host
        view = SystemView(
            collected_at=self._clock.now(),
            cpu_percent=cpu,
            cpu_count=psutil.cpu_count() or os.cpu_count() or 1,
            memory_used_bytes=memory.total - memory.available,
            memory_total_bytes=memory.total,
            disk_path=str(disk_path),
            disk_used_bytes=disk.used,
            disk_total_bytes=disk.total,
            gpu_available=available,
            gpu_unavailable_reason=reason,
            gpus=gpus,
            processes=processes,
        )
        self.latest = view
        return view, self._verdict(view)

    def _host(self) -> tuple[float, Any, Path, Any, tuple[ProcessInfo, ...]]:
        disk_path = existing_dir(self._disk_path)
        return (
            psutil.cpu_percent(None),
            psutil.virtual_memory(),
            disk_path,
            psutil.disk_usage(str(disk_path)),
            self._finder.sample(self._restarts),
        )

    def _verdict(self, view: SystemView) -> ProbeResult:
        # CPU is judged on its average over a window: a busy second is not a sick host.
        now = self._clock.monotonic()
        self._cpu.append((now, view.cpu_percent))
        while self._cpu and now - self._cpu[0][0] > self._cpu_window_s:
            self._cpu.popleft()
        cpu = sum(p for _, p in self._cpu) / len(self._cpu)
        high = []
        if cpu > self._degraded:
            high.append(f"CPU {cpu:.0f}% over {self._cpu_window_s:g} s")
        if view.memory_total_bytes and 100 * view.memory_used_bytes / view.memory_total_bytes > self._degraded:
            high.append(f"memory {100 * view.memory_used_bytes / view.memory_total_bytes:.0f}%")
        if view.disk_total_bytes and 100 * view.disk_used_bytes / view.disk_total_bytes > self._degraded:
            high.append(f"disk {100 * view.disk_used_bytes / view.disk_total_bytes:.0f}%")
        if high:
            return ProbeResult(Status.DEGRADED, None, "high use: " + ", ".join(high))
        return ProbeResult(Status.HEALTHY, None, "")
