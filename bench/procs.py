"""The servers under test, each in its own OS process, started the way an
operator would (`python -m services.<svc> --port N`), with its CPU time and
memory read through psutil.

`Mesh` allocates one port per service up front and gives every process the
same SWITCHBOARD_<SVC>_PORT variables, so peers find each other exactly as in
`switchboard up`. The monitor is never started: its port is left closed, and
the router carries on without backend health (its documented degraded mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil

from switchboard.clients.health import check_address
from switchboard.testing.infra import free_port

ROOT = Path(__file__).resolve().parent.parent
GRPC_SERVICES = ("router", "learning", "monitor", "briefs", "cache")


class StartFailed(Exception):
    """A server did not come up; the message says why (with its log's tail)."""


@dataclass
class Proc:
    """One running server process."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.popen.pid)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds so far (0 once it has exited)."""
        try:
            t = self.ps.cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system

    def rss(self) -> int:
        try:
            return int(self.ps.memory_info().rss)
        except psutil.Error:
            return 0

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@contextlib.contextmanager
def pinned(pids: Iterable[int], cpus: set[int]) -> Iterator[None]:
    """Runs these running processes (every thread they have now; new ones
    inherit) on `cpus`, then restores each thread's CPU set."""
    pids = list(pids)
    before: dict[tuple[int, int], set[int]] = {}
    for pid, tid in _threads(pids):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            before[pid, tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    try:
        yield
    finally:
        everything = set().union(*before.values()) if before else set(range(os.cpu_count() or 1))
        for pid, tid in _threads(pids):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, before.get((pid, tid), everything))


def _threads(pids: list[int]) -> list[tuple[int, int]]:
    out = []
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            out += [(pid, int(t)) for t in os.listdir(f"/proc/{pid}/task")]
    return out


def _clean_env() -> dict[str, str]:
    """The parent's environment without any SWITCHBOARD_* / OTEL_* setting, so
    a developer's shell cannot change what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}


class Mesh:
    """Starts and stops the benchmark's server processes in `workdir`."""

    def __init__(self, workdir: Path, *, log_level: str = "INFO") -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = {svc: free_port() for svc in (*GRPC_SERVICES, "gateway")}
        self.log_level = log_level
        self.procs: list[Proc] = []
        self.database_url: str | None = None
        self.redis_url: str | None = None
        self.redis_prefix = f"sbbench:{uuid.uuid4().hex[:8]}:"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = _clean_env()
        env.update(
            {
                "SWITCHBOARD_HOST": "127.0.0.1",
                "SWITCHBOARD_DATA_DIR": str(self.workdir / "data"),
                "SWITCHBOARD_LOG_LEVEL": self.log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        for svc, port in self.ports.items():
            env[f"SWITCHBOARD_{svc.upper()}_PORT"] = str(port)
        if self.database_url:
            env["SWITCHBOARD_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["SWITCHBOARD_REDIS_URL"] = self.redis_url
            env["SWITCHBOARD_CACHE_REDIS_PREFIX"] = self.redis_prefix
        env.update(extra or {})
        return env

    def _spawn(
        self, name: str, args: list[str], port: int, env: Mapping[str, str], cpus: set[int] | None = None
    ) -> Proc:
        log_path = self.workdir / f"{name}-{port}.log"
        log = log_path.open("wb")
        # taskset pins before exec, so every thread the server starts inherits the CPU set.
        pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
        popen = subprocess.Popen(  # noqa: S603  (our own interpreter and modules)
            [*pin, sys.executable, *args], cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        proc = Proc(name, port, popen, log_path)
        self.procs.append(proc)
        return proc

    async def fake_backend(self, name: str, *, tokens: int, token_delay_s: float = 0.0) -> Proc:
        port = free_port()
        args = ["-m", "switchboard.testing.fake_backend", "--port", str(port), "--tokens", str(tokens)]
        if token_delay_s:
            args += ["--token-delay", str(token_delay_s)]
        proc = self._spawn(name, args, port, _clean_env())
        await _wait_tcp(proc)
        return proc

    async def baseline(self, name: str = "baseline", *, tokens: int) -> Proc:
        """bench/baseline_server.py: bare grpc.aio, the same RPCs from memory."""
        port = free_port()
        proc = self._spawn(name, ["-m", "bench.baseline_server", "--port", str(port), "--tokens", str(tokens)],
                           port, _clean_env())
        await _wait_tcp(proc)
        return proc

    def router_config(self, backends: list[tuple[str, str]], *, tag: str = "router") -> Path:
        """A TOML file naming OpenAI-compatible backends [(name, base_url)]."""
        path = self.workdir / f"{tag}.toml"
        lines = []
        for i, (name, url) in enumerate(backends):
            lines += [
                "[[backends]]",
                f'name = "{name}"',
                'kind = "openai"',
                f'base_url = "{url}"',
                'model = "fake-model"',
                f"priority = {i}",
                "",
            ]
        path.write_text("\n".join(lines))
        return path

    async def service(
        self, name: str, *, extra_env: Mapping[str, str] | None = None, timeout: float = 60.0,
        replica: int = 0, cpus: set[int] | None = None,
    ) -> Proc:
        """`python -m services.<module> --port N`, ready when it answers health (or /healthz).
        `replica` > 0 starts another process of the same service on a port of its own,
        named `<name>-<replica>`; `cpus` pins it to those CPUs."""
        module = {"monitor": "health"}.get(name, name)
        port = self.ports[name] if replica == 0 else free_port()
        label = name if replica == 0 else f"{name}-{replica}"
        proc = self._spawn(label, ["-m", f"services.{module}", "--port", str(port)], port, self.env(extra_env), cpus)
        if name == "gateway":
            await _wait_http(proc, "/healthz", timeout)
        else:
            await _wait_grpc(proc, timeout)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            proc.stop()
        self.procs.clear()


async def _wait_tcp(proc: Proc, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartFailed(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise StartFailed(f"{proc.name} did not listen on {proc.port} within {timeout:g} s: {proc.log_tail()}")


async def _wait_grpc(proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartFailed(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
        last = await check_address(proc.address, "", timeout=1.0)
        if last == "SERVING":
            return
        await asyncio.sleep(0.1)
    proc.stop()
    raise StartFailed(f"{proc.name} not SERVING within {timeout:g} s (last: {last}): {proc.log_tail()}")


async def _wait_http(proc: Proc, path: str, timeout: float) -> None:
    import httpx  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise StartFailed(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
            try:
                reply = await client.get(f"http://{proc.address}{path}", timeout=1.0)
                if reply.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    proc.stop()
    raise StartFailed(f"{proc.name} {path} did not answer within {timeout:g} s: {proc.log_tail()}")


# -- PostgreSQL and Redis ---------------------------------------------------------------

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def database_server_url() -> str:
    return (
        os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL")
        or os.environ.get("SWITCHBOARD_TEST_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def redis_server_url() -> str:
    return (
        os.environ.get("SWITCHBOARD_BENCH_REDIS_URL")
        or os.environ.get("SWITCHBOARD_TEST_REDIS_URL")
        or DEFAULT_REDIS_URL
    )


@contextlib.contextmanager
def fresh_database() -> Iterator[str | None]:
    """A new PostgreSQL database for this run (dropped afterwards), or None
    when the server does not answer."""
    from switchboard.testing.infra import fresh_database as _fresh  # noqa: PLC0415

    try:
        cm = _fresh(database_server_url())
        url = cm.__enter__()
    except Exception:  # noqa: BLE001  (no server: the sections say so)
        yield None
        return
    try:
        yield url
    finally:
        cm.__exit__(None, None, None)


def redis_available(url: str) -> bool:
    import redis  # noqa: PLC0415

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
        client.ping()
        client.close()
        return True
    except Exception:  # noqa: BLE001
        return False


def redis_cleanup(url: str, prefix: str) -> None:
    import redis  # noqa: PLC0415

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()


async def grpc_probe(address: str, call: Any) -> str | None:
    """Runs `call(channel)` once; None if it answered, else why not (for
    'not available: …' lines)."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await call(channel)
        except grpc.aio.AioRpcError as exc:
            return f"{exc.code().name}: {exc.details()}"
    return None


def log_problems(directory: Path) -> list[dict[str, Any]]:
    """ERROR and WARNING lines the servers logged under `directory` (JSON logs),
    counted by process and message, most frequent first."""
    import json  # noqa: PLC0415
    from collections import Counter  # noqa: PLC0415

    counts: Counter[tuple[str, str, str]] = Counter()
    for path in sorted(directory.glob("**/*.log")):
        name = path.stem.rsplit("-", 1)[0]
        with path.open(errors="replace") as fh:
            for line in fh:
                if '"ERROR"' not in line and '"WARNING"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                level = str(record.get("level", ""))
                if level in ("ERROR", "WARNING"):
                    message = str(record.get("msg", ""))[:120]
                    if record.get("last_error"):  # a breaker's move: say what moved it
                        message += f" (last error: {str(record['last_error'])[:120]})"
                    counts[(name, level, message)] += 1
    return [{"process": p, "level": lvl, "message": m, "count": n} for (p, lvl, m), n in counts.most_common(8)]


def log_count(directory: Path, process: str, needle: str) -> int:
    """Lines of `process`'s logs under `directory` containing `needle`."""
    total = 0
    for path in directory.glob(f"**/{process}-*.log"):
        with path.open(errors="replace") as fh:
            total += sum(1 for line in fh if needle in line)
    return total
