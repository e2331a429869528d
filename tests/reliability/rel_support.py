"""Helpers of the reliability suite: services as real subprocesses, fake
backends and router configuration, streams read to their end and checked for
silent truncation, load loops, process figures, and where figures are recorded.

Figures: `record(scenario, **figures)` prints one line and, when
SWITCHBOARD_RELIABILITY_FIGURES names a file, appends it there as JSON (the
source of RELIABILITY.md's table)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchboard.testing.infra import free_port  # noqa: F401  (re-exported for the tests)
from switchboard.testing.mesh_files import write_backends  # noqa: F401
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
CLOSED = "127.0.0.1:1"  # nothing listens here: a peer that is down
ROUTER = "switchboard.router.v1.RouterService"
FIGURES_ENV = "SWITCHBOARD_RELIABILITY_FIGURES"


# -- figures -----------------------------------------------------------------

def record(scenario: str, **figures: Any) -> None:
    # The machine is shared: its load at the time says how to read the figures.
    line = {"scenario": scenario, "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "loadavg_1m": round(os.getloadavg()[0], 1), **figures}
    print(f"\nFIGURES {json.dumps(line)}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": round(at(0.50), 1), "p95_ms": round(at(0.95), 1), "p99_ms": round(at(0.99), 1),
            "max_ms": round(ordered[-1] * 1000, 1), "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


# -- environment and processes -------------------------------------------------


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without SWITCHBOARD_*/OTEL_* settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}
    env.update(overrides)
    return env


@dataclass
class Proc:
    """A service running as its own process (`switchboard serve <name>`)."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def spawn(name: str, env: Mapping[str, str], log_dir: Path, port: int | None = None) -> Proc:
    """Starts service `name` on `port` (a free one by default); stdout and stderr to a file."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}-{port}.log"
    with open(log, "ab") as out:
        process = await asyncio.create_subprocess_exec(
            PY, "-m", "switchboard.cli", "serve", name, "--port", str(port),
            env=dict(env), cwd=REPO, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )
    return Proc(name, process, port, log)


async def health_status(address: str, service: str = "", timeout: float = 0.5) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def wait_serving(proc: Proc, service: str = "", timeout: float = 60.0) -> float:
    """Seconds until `proc` answers SERVING; fails with its log if it exits or times out."""
    started = time.monotonic()
    while True:
        if proc.process.returncode is not None:
            raise AssertionError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.text()[-3000:]}")
        if await health_status(proc.address, service) == "SERVING":
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{proc.name} not SERVING after {timeout} s:\n{proc.text()[-3000:]}")
        await asyncio.sleep(0.05)


async def stop_process(process: asyncio.subprocess.Process, timeout: float = 20.0) -> int:
    """SIGTERM, wait; SIGKILL if it does not go. Returns the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


async def read_up_table(up: asyncio.subprocess.Process, timeout: float = 90.0,
                        names: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Reads `switchboard up`'s stdout up to its table: {service: [address, status, pid]}.
    Its stderr is drained in the background (kept on `up.seen_stderr`)."""
    from switchboard.mesh import SERVICES  # noqa: PLC0415

    wanted = list(names or [s.name for s in SERVICES])
    assert up.stdout is not None and up.stderr is not None
    seen_err: list[str] = []
    up.seen_stderr = seen_err  # type: ignore[attr-defined]

    async def drain() -> None:
        assert up.stderr is not None
        async for raw in up.stderr:
            seen_err.append(raw.decode(errors="replace"))

    up.stderr_task = asyncio.create_task(drain())  # type: ignore[attr-defined]
    seen: list[str] = []
    rows: dict[str, list[str]] = {}

    async def read() -> None:
        in_table = False
        assert up.stdout is not None
        while len(rows) < len(wanted):
            raw = await up.stdout.readline()
            if not raw:
                raise AssertionError("switchboard up ended before its table:\n" + "".join(seen) + "".join(seen_err))
            line = raw.decode()
            seen.append(line)
            cells = line.split()
            if cells[:4] == ["service", "address", "status", "pid"]:
                in_table = True
            elif in_table and cells and cells[0] in wanted:
                rows[cells[0]] = cells[1:]

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"no table within {timeout} s:\n" + "".join(seen) + "".join(seen_err)) from None
    return rows


@dataclass
class ProcSample:
    rss: int
    fds: int
    threads: int
    inbound: int  # established connections accepted on `listen_port` (the callers')
    pooled: int  # connections to `pool_port` (an HTTP client pool: opened under load, closed when idle)

    @property
    def own_fds(self) -> int:
        """File descriptors the server holds for itself: all but callers' and pooled connections."""
        return self.fds - self.inbound - self.pooled


def sample(pid: int, listen_port: int | None = None, pool_port: int | None = None) -> ProcSample:
    proc = psutil.Process(pid)
    with proc.oneshot():
        conns = proc.net_connections(kind="tcp")
        inbound = sum(1 for c in conns if listen_port and c.laddr and c.laddr.port == listen_port and c.raddr)
        pooled = sum(1 for c in conns if pool_port and c.raddr and c.raddr.port == pool_port)
        return ProcSample(proc.memory_info().rss, proc.num_fds(), proc.num_threads(), inbound, pooled)


# -- fake backends and the router's configuration -------------------------------



def backend_table(name: str, url: str, *, priority: int = 10, first_token_s: float = 5.0,
                  between_tokens_s: float = 5.0, total_s: float = 30.0, kind: str = "openai",
                  **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "kind": kind, "base_url": url, "model": f"{name}-model", "priority": priority,
        "timeouts": {"connect_s": 2.0, "first_token_s": first_token_s, "between_tokens_s": between_tokens_s,
                     "total_s": total_s},
        **extra,
    }


def router_settings(mesh_settings: Any, config: Path | None, **overrides: Any) -> Any:
    from services.router.settings import RouterSettings  # noqa: PLC0415

    base = mesh_settings.model_dump()
    base.update(config=config, learning_address=CLOSED, cache_address=CLOSED, monitor_address=CLOSED,
                router_probe_ollama=False, router_outcome_flush_timeout_s=0.5)
    base.update(overrides)
    return RouterSettings(**base)


async def start_fakes(count: int, **kwargs: Any) -> list[FakeBackend]:
    return [await FakeBackend(**kwargs).start() for _ in range(count)]


# -- streams -----------------------------------------------------------------

@dataclass
class Streamed:
    events: list[router_pb2.GenerateResponse] = field(default_factory=list)
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""
    elapsed_s: float = 0.0

    def of(self, kind: str) -> list[Any]:
        return [getattr(e, kind) for e in self.events if e.WhichOneof("event") == kind]

    @property
    def kinds(self) -> list[str]:
        return [str(e.WhichOneof("event")) for e in self.events]

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.of("token"))

    @property
    def terminal(self) -> str | None:
        """"done" or "error" when the stream ended with one (and only one), else None."""
        kinds = self.kinds
        ends = [k for k in kinds if k in ("done", "error")]
        return kinds[-1] if len(ends) == 1 and kinds[-1] == ends[0] else None

    @property
    def done(self) -> router_pb2.DoneEvent:
        return self.of("done")[0]


async def generate(stub: router_pb2_grpc.RouterServiceStub, timeout: float | None = 30.0,
                   metadata: Any = None, **fields: Any) -> Streamed:
    out = Streamed()
    started = time.monotonic()
    call = stub.Generate(router_pb2.GenerateRequest(**fields), timeout=timeout, metadata=metadata)
    try:
        async for event in call:
            out.events.append(event)
    except grpc.aio.AioRpcError as exc:
        out.code, out.details = exc.code(), exc.details() or ""
    out.elapsed_s = time.monotonic() - started
    return out


def truncation_problem(out: Streamed, expected: str) -> str | None:
    """Why `out` is not a complete answer or an explicit error: None when it is fine.
    A stream must end with exactly one done or error event; a done stream's text
    is the whole expected answer; an error stream's text is a prefix of it and
    its error event says how many characters were sent (the call then also ends
    with that error's status). A call refused before any event (a status and
    nothing else) is explicit too."""
    end = out.terminal
    if out.code != grpc.StatusCode.OK:
        if not out.events:
            return None
        if end != "error":
            # Explicit to the caller (a failed status), but the contract wants the error event first.
            return f"status {out.code.name} after {out.kinds[-3:]} without an error event"
    if end is None:
        return f"no single terminal event (silent truncation): {out.kinds[-5:]}"
    if end == "done":
        if out.text != expected:
            return f"done but text differs: {out.text!r} != {expected!r}"
        return None
    error = out.of("error")[0]
    if not expected.startswith(out.text):
        return f"error after text that is not a prefix of the answer: {out.text!r}"
    if error.chars_sent != len(out.text):
        return f"error event says {error.chars_sent} chars sent, stream carried {len(out.text)}"
    return None


# -- load --------------------------------------------------------------------

@dataclass
class LoadResult:
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    @property
    def total(self) -> int:
        return self.ok + len(self.errors)

    @property
    def rate(self) -> float:
        return self.total / max(1e-9, (self.ended or time.monotonic()) - self.started)


async def steady_load(
    one: Callable[[int], Awaitable[str | None]],
    *,
    rate_per_s: float,
    duration_s: float,
    concurrency: int = 32,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Calls `one(i)` at `rate_per_s` (open loop, capped at `concurrency` in
    flight) for `duration_s`; `one` returns None when the request was fine, else
    what was wrong."""
    result = LoadResult()
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def run(i: int) -> None:
        t0 = loop.time()
        try:
            problem = await one(i)
        except Exception as exc:  # noqa: BLE001  (every failure is a finding)
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            gate.release()
        result.latencies.append(loop.time() - t0)
        if problem is None:
            result.ok += 1
        else:
            result.errors.append(problem)

    i = 0
    while loop.time() - begin < duration_s and not (stop and stop.is_set()):
        due = begin + i / rate_per_s
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        await gate.acquire()
        task = asyncio.create_task(run(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.gather(*tasks)
    result.ended = time.monotonic()
    return result


# -- a whole mesh as processes, for synchronous tests (Hypothesis) and module fixtures --

@dataclass
class MeshProcs:
    addresses: dict[str, str]  # service → host:port (gateway: its HTTP host:port)
    logs: Path
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)  # service (and "fake") → process id
    fake_port: int = 0  # the fake LLM server's port

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _grpc_serving(address: str, timeout: float = 0.5) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _http_serving(address: str) -> bool:
    import httpx  # noqa: PLC0415

    try:
        return httpx.get(f"http://{address}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def run_mesh(tmp: Path, names: Sequence[str], *, database_url: str | None = None, fake_tokens: int = 8,
             backend_timeout_s: float = 2.0, **env_extra: str):
    """`names` (and a fake LLM server as the router's only backend), each as
    `switchboard serve <name>` on free ports; yields once all are SERVING."""
    import subprocess  # noqa: PLC0415

    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    from switchboard.mesh import SERVICES  # noqa: PLC0415

    ports = {s.name: free_port() for s in SERVICES}
    fake_port = free_port()
    config = write_backends(tmp / "switchboard.toml", [
        backend_table("fake", f"http://127.0.0.1:{fake_port}", first_token_s=backend_timeout_s,
                      between_tokens_s=backend_timeout_s, total_s=backend_timeout_s * 3)])
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp / "data"), SWITCHBOARD_CONFIG=str(config),
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", SWITCHBOARD_SHUTDOWN_GRACE_S="2",
        **({"SWITCHBOARD_DATABASE_URL": database_url} if database_url else {}),
        **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **env_extra,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "fake.log", "wb") as out:
            procs.append(subprocess.Popen(
                [PY, "-m", "switchboard.testing.fake_backend", "--port", str(fake_port), "--tokens", str(fake_tokens)],
                cwd=REPO, env=env, stdout=out, stderr=out))
        for name in names:
            with open(logs / f"{name}.log", "wb") as out:
                procs.append(subprocess.Popen([PY, "-m", "switchboard.cli", "serve", name],
                                              cwd=REPO, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL))
        addresses = {name: f"127.0.0.1:{ports[name]}" for name in names}
        end = time.monotonic() + 120
        for name, address in addresses.items():
            ready = _http_serving if name == "gateway" else _grpc_serving
            while not ready(address):
                if time.monotonic() > end:
                    raise AssertionError(f"{name} not SERVING:\n" + (logs / f"{name}.log").read_text()[-3000:])
                time.sleep(0.1)
        pids = {"fake": procs[0].pid, **{name: p.pid for name, p in zip(names, procs[1:], strict=True)}}
        yield MeshProcs(addresses, logs, env, pids, fake_port)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
