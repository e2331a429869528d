"""The load generator: open loop at a fixed offered rate, or closed loop with
N workers, around any `Call` (an async function doing one request).

Open loop: arrival times are drawn before the run (Poisson, or uniform) and
every request is started at its scheduled time whether or not earlier ones
have finished, and its latency is measured from the *scheduled* time. A
client that falls behind therefore shows up as latency instead of silently
sending less (coordinated omission); the lag between the scheduled and the
actual start is reported separately, so a saturated client can be told apart
from a slow server. Run the generator on `new_event_loop()` (`run`): the
default one starts a scheduled request up to a millisecond late.
"""

from __future__ import annotations

import asyncio
import math
import random
import select
import selectors
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psutil

from bench.procs import Proc

now = time.perf_counter
_T = TypeVar("_T")
_FD_SETSIZE = 1024


class PreciseEpollSelector(selectors.EpollSelector):
    """epoll's time-out counts whole milliseconds (the selectors module rounds
    up), so on asyncio's default loop a timer fires up to ~1 ms late (~0.6 ms at
    the median here), and an open-loop request, timed from its schedule, is
    billed for the load generator's own lateness. select() on the epoll
    descriptor takes a time-out in microseconds (the kernel's timer slack, ~50 µs,
    remains); epoll is then read without waiting. select() cannot watch a
    descriptor numbered FD_SETSIZE (1024) or above: then it waits as epoll does."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0 and self.fileno() < _FD_SETSIZE:
            select.select([self.fileno()], [], [], timeout)
            timeout = 0
        return super().select(timeout)


def new_event_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop(PreciseEpollSelector())


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run` on the generator's event loop (`new_event_loop`)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


@dataclass(slots=True)
class Outcome:
    """What one successful call reports; a failed call raises."""

    first_token_at: float | None = None  # perf_counter() of the first token; None for unary calls
    tokens: int = 0
    reported_overhead_s: float | None = None  # the router's own figure (DoneEvent.overhead)


Call = Callable[[], Awaitable[Outcome]]


class CallError(Exception):
    """A request that completed at the transport level but failed (HTTP 5xx, ErrorEvent...)."""


def error_kind(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            return f"grpc {code().name}"
        except Exception:  # noqa: BLE001
            pass
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, CallError):
        return str(exc)[:60]
    return type(exc).__name__


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max/mean in milliseconds."""
    v = sorted(values)
    out: dict[str, float | None] = {
        f"p{q}": (None if (x := percentile(v, q)) is None else x * 1000) for q in (50, 95, 99)
    }
    out["max"] = v[-1] * 1000 if v else None
    out["mean"] = sum(v) / len(v) * 1000 if v else None
    return out


@dataclass
class Usage:
    """CPU and memory of the server processes (and of this client) over a run."""

    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_max: dict[str, int] = field(default_factory=dict)
    rss_start: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    wall_s: float = 0.0
    machine_busy_s: float = 0.0  # CPU seconds used by everything on the machine meanwhile


class Sampler:
    """Reads the processes' CPU times before/after and their RSS every `every` s."""

    def __init__(self, procs: Sequence[Proc], every: float = 0.2) -> None:
        self.procs = list(procs)
        self.every = every
        self._me = psutil.Process()
        self._task: asyncio.Task[None] | None = None
        self.usage = Usage()

    async def __aenter__(self) -> Sampler:
        self._t0 = now()
        self._cpu0 = {p.name: p.cpu_seconds() for p in self.procs}
        self.usage.rss_start = {p.name: p.rss() for p in self.procs}
        self.usage.rss_max = dict(self.usage.rss_start)
        t = self._me.cpu_times()
        self._me0 = t.user + t.system
        self._busy0 = _machine_busy()
        self._task = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.take()

    def take(self) -> None:
        for p in self.procs:
            self.usage.rss_max[p.name] = max(self.usage.rss_max.get(p.name, 0), p.rss())

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self.take()
        self.usage.wall_s = now() - self._t0
        self.usage.cpu_s = {p.name: p.cpu_seconds() - self._cpu0[p.name] for p in self.procs}
        t = self._me.cpu_times()
        self.usage.client_cpu_s = t.user + t.system - self._me0
        self.usage.machine_busy_s = _machine_busy() - self._busy0


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


@dataclass
class RunResult:
    """One load level against one target."""

    target: str
    mode: str  # "open" | "closed"
    offered_rate: float | None
    concurrency: int | None
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: list[float] = field(default_factory=list)  # s, per successful request
    ttft: list[float] = field(default_factory=list)  # s, per successful streamed request
    lag: list[float] = field(default_factory=list)  # s, actual start - scheduled start (open loop)
    overhead: list[float] = field(default_factory=list)  # s, self-reported by the router
    tokens: int = 0
    elapsed_s: float = 0.0  # first scheduled start to last completion
    usage: Usage | None = None

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def client_status(self) -> str:
        """Whether the client kept its schedule: 'ok', or what went wrong."""
        notes = []
        if self.mode == "open" and self.lag:
            lag99 = percentile(sorted(self.lag), 99) or 0.0
            if lag99 > 0.010:
                notes.append(f"client behind schedule (p99 start lag {lag99 * 1000:.0f} ms)")
        if self.usage and self.usage.wall_s > 0:
            share = self.usage.client_cpu_s / self.usage.wall_s
            if share > 0.85:
                notes.append(f"client CPU {share:.0%} of a core")
        if self.mode == "open" and self.offered_rate and self.achieved_rate < 0.95 * self.offered_rate:
            notes.append(f"achieved {self.achieved_rate:.0f}/s of {self.offered_rate:.0f}/s offered")
        return "; ".join(notes) or "ok"

    def to_dict(self) -> dict[str, Any]:
        u = self.usage
        return {
            "target": self.target,
            "mode": self.mode,
            "offered_rate": self.offered_rate,
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "achieved_rate": self.achieved_rate,
            "elapsed_s": self.elapsed_s,
            "latency_ms": summary(self.latency),
            "ttft_ms": summary(self.ttft),
            "lag_ms": summary(self.lag),
            "overhead_ms": summary(self.overhead),
            "tokens": self.tokens,
            "client_status": self.client_status(),
            "usage": None
            if u is None
            else {
                "cpu_s": u.cpu_s,
                "rss_max": u.rss_max,
                "rss_start": u.rss_start,
                "client_cpu_s": u.client_cpu_s,
                "wall_s": u.wall_s,
                "machine_busy_s": u.machine_busy_s,
                # CPU used meanwhile by processes that are not part of this benchmark (other work on the box).
                "others_cores": max(0.0, u.machine_busy_s - sum(u.cpu_s.values()) - u.client_cpu_s) / u.wall_s
                if u.wall_s
                else None,
            },
        }


def _record(result: RunResult, started: float, out: Outcome, ended: float) -> None:
    result.ok += 1
    result.latency.append(ended - started)
    if out.first_token_at is not None:
        result.ttft.append(out.first_token_at - started)
    if out.reported_overhead_s is not None:
        result.overhead.append(out.reported_overhead_s)
    result.tokens += out.tokens


def arrival_times(rate: float, duration: float, *, poisson: bool = True, seed: int = 1) -> list[float]:
    """Offsets (s) of the requests of an open-loop run."""
    rng = random.Random(seed)
    times, t = [], 0.0
    while True:
        t += rng.expovariate(rate) if poisson else 1.0 / rate
        if t >= duration:
            return times
        times.append(t)


async def open_loop(
    target: str,
    call: Call,
    rate: float,
    duration: float,
    *,
    procs: Sequence[Proc] = (),
    poisson: bool = True,
    timeout: float = 15.0,
    max_in_flight: int = 5000,
    seed: int = 1,
) -> RunResult:
    """Starts requests at `rate`/s for `duration` s; latency from the schedule."""
    result = RunResult(target, "open", rate, None, duration)
    offsets = arrival_times(rate, duration, poisson=poisson, seed=seed)
    tasks: set[asyncio.Task[None]] = set()
    last_end = 0.0

    async def one(scheduled: float) -> None:
        nonlocal last_end
        started = now()
        result.lag.append(started - scheduled)
        try:
            out = await asyncio.wait_for(call(), timeout)
        except Exception as exc:  # noqa: BLE001  (every failure is counted, none stops the run)
            ended = now()
            # Cancelling a gRPC call on time-out can surface as CANCELLED: it is still our time-out.
            result.errors["timeout" if ended - started >= timeout else error_kind(exc)] += 1
            last_end = max(last_end, ended)
            return
        ended = now()
        last_end = max(last_end, ended)
        _record(result, scheduled, out, ended)

    async with Sampler(procs) as sampler:
        t0 = now() + 0.02
        for offset in offsets:
            scheduled = t0 + offset
            delay = scheduled - now()
            if delay > 0:
                await asyncio.sleep(delay)
            result.sent += 1
            if len(tasks) >= max_in_flight:
                result.errors["client: too many in flight"] += 1
                continue
            task = asyncio.create_task(one(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    result.usage = sampler.usage
    result.elapsed_s = max(last_end - t0, duration)
    return result


async def closed_loop(
    target: str,
    call: Call,
    concurrency: int,
    duration: float,
    *,
    procs: Sequence[Proc] = (),
    timeout: float = 30.0,
) -> RunResult:
    """`concurrency` workers, each starting its next request when the last one ends,
    until `duration` s have passed (requests in flight then are finished and counted)."""
    result = RunResult(target, "closed", None, concurrency, duration)
    last_end = 0.0

    async def worker(stop_at: float) -> None:
        nonlocal last_end
        while now() < stop_at:
            started = now()
            result.sent += 1
            try:
                out = await asyncio.wait_for(call(), timeout)
            except Exception as exc:  # noqa: BLE001
                ended = now()
                result.errors["timeout" if ended - started >= timeout else error_kind(exc)] += 1
                last_end = max(last_end, ended)
                continue
            ended = now()
            last_end = max(last_end, ended)
            _record(result, started, out, ended)

    async with Sampler(procs) as sampler:
        t0 = now()
        await asyncio.gather(*(worker(t0 + duration) for _ in range(concurrency)))
    result.usage = sampler.usage
    result.elapsed_s = max(last_end - t0, 1e-9)
    return result


async def warm_up(call: Call, requests: int = 100, concurrency: int = 4) -> str | None:
    """A few requests first (connections, lazy imports, first-call paths);
    None if most worked, else the first error."""
    counter = iter(range(requests))
    errors: list[str] = []

    async def worker() -> None:
        for _ in counter:
            try:
                await asyncio.wait_for(call(), 15.0)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{error_kind(exc)}: {exc}"[:300])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if len(errors) * 2 > requests:
        return f"{len(errors)} of {requests} failed, first: {errors[0]}"
    return None


async def settle(procs: Sequence[Proc], *, idle_cores: float = 0.1, max_s: float = 15.0) -> float:
    """Waits until the servers are (nearly) idle again after a run, so work
    left over from an overloaded level (timed-out requests still being served)
    does not land in the next one; returns the seconds waited."""
    t0 = now()
    while now() - t0 < max_s:
        before = sum(p.cpu_seconds() for p in procs)
        await asyncio.sleep(0.25)
        if (sum(p.cpu_seconds() for p in procs) - before) / 0.25 < idle_cores:
            break
    return now() - t0
