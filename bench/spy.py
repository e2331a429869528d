"""Sampling profiles of running servers with py-spy (attached by pid, no
restart), summarised as where their CPU goes: the busiest functions by own
time and the share of each layer (grpc, asyncio, HTTP, logging...)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

from bench.procs import Proc

# A sample's layer: the innermost frame that is neither libc/libpython nor an
# interpreter helper decides it (so a sendmsg() inside gRPC's C core counts as gRPC).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gRPC (grpc.aio + C core)", ("grpc/", "grpc_status", "grpc_health", "grpc_reflection")),
    ("protobuf", ("google/protobuf", "_message.", "upb")),
    ("OpenTelemetry", ("opentelemetry",)),
    ("logging", ("logging/", "switchboard/runtime/logs")),
    ("HTTP client (httpx/httpcore/h11)", ("httpx", "httpcore", "h11", "anyio")),
    ("HTTP server (uvicorn/starlette)", ("uvicorn", "starlette", "httptools")),
    ("SQL (SQLAlchemy/psycopg)", ("sqlalchemy", "psycopg")),
    ("pydantic", ("pydantic",)),
    ("JSON", ("json/", "_json")),
    ("asyncio event loop", ("asyncio/", "_asynciomodule", "selectors.py", "socket.py", "selector_events")),
    ("service code", ("services/",)),
    ("switchboard runtime", ("switchboard/",)),
)
# Leaves that wait rather than compute (py-spy --native cannot tell idle threads).
_WAITING = ("epoll_wait", "epoll_pwait", "poll", "select", "futex", "pthread_cond_wait", "pthread_cond_timedwait",
            "nanosleep", "clock_nanosleep", "sem_wait", "sem_timedwait", "__futex_abstimed_wait_common")
_TRANSPARENT = ("libc.so", "libpthread", "libpython", "ld-linux", "<frozen", "ceval.c", "call.c", "abstract.c")


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


def _frame(frame: str) -> tuple[str, str]:
    """'func (path/file.py:12)' → ('func', 'path/file.py')."""
    func, _, where = frame.partition(" (")
    return func, where.rstrip(")").rsplit(":", 1)[0]


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        _, path = _frame(frame)
        if any(t in path for t in _TRANSPARENT):
            continue
        for name, needles in LAYERS:
            if any(n in path for n in needles):
                return name
        return "other (stdlib, builtins)"
    return "other (stdlib, builtins)"


def summarise(raw: str, top: int = 10) -> dict[str, Any]:
    """py-spy's raw (collapsed) output → samples, top own-time functions, layer
    shares, and the share of samples inside a system call (libc leaf)."""
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = syscalls = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        func, path = _frame(frames[-1])
        if func in _WAITING:
            continue
        total += count
        short = "/".join(path.split("/")[-2:])
        if func.startswith("0x"):
            func = "native code"
        if "libc.so" in path:
            syscalls += count
        own[f"{func} ({short})"] += count
        layers[_layer(frames)] += count
    if total == 0:
        return {"samples": 0, "top": [], "layers": [], "syscalls": 0.0}
    return {
        "samples": total,
        "top": [(name, n / total) for name, n in own.most_common(top)],
        "layers": [(name, n / total) for name, n in layers.most_common()],
        "syscalls": syscalls / total,
    }


def inclusive(raw: str, under: str = "", top: int = 40) -> list[tuple[str, float]]:
    """Inclusive share of each frame (a frame counts once per sample however
    deep it recurs), over the samples that are not waiting; with `under`, only
    the frames below the first frame containing that text, as a share of all
    samples (so "where does this function's time go")."""
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if _frame(frames[-1])[0] in _WAITING:
            continue
        count = int(count_text)
        total += count
        if under:
            at = next((i for i, f in enumerate(frames) if under in f), None)
            if at is None:
                continue
            frames = frames[at:]
        for frame in set(frames):
            incl[frame] += count
    return [(f, n / total) for f, n in incl.most_common(top)] if total else []


async def profile_during(
    procs: Sequence[Proc], seconds: float, load: Awaitable[Any], outdir: Path, rate: int = 67,
    native: bool = False,
) -> dict[str, Any]:
    """Records every process in `procs` for `seconds` while `load` runs."""
    exe = py_spy()
    if exe is None:
        await load
        return {"error": "py-spy is not installed (pip install py-spy)"}
    outdir.mkdir(parents=True, exist_ok=True)
    spies = []
    for p in procs:
        out = outdir / f"{p.name}.txt"
        spy = await asyncio.create_subprocess_exec(
            exe, "record", "--pid", str(p.pid), "--duration", str(int(max(1, seconds))), "--rate", str(rate),
            "--format", "raw", *(["--native"] if native else ["--nonblocking"]), "-o", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        spies.append((p, out, spy))
    await load
    result: dict[str, Any] = {}
    for p, out, spy in spies:
        _, err = await spy.communicate()
        if spy.returncode != 0 or not out.exists():
            result[p.name] = {"error": (err or b"").decode(errors="replace").strip()[-300:] or "py-spy failed"}
            continue
        result[p.name] = summarise(out.read_text())
    return result


def main() -> None:
    """`python -m bench.spy FILE [--under TEXT] [--top N]`: inclusive view of a raw py-spy recording."""
    import argparse  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("file", type=Path)
    ap.add_argument("--under", default="")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    for frame, share in inclusive(args.file.read_text(), args.under, args.top):
        print(f"{share * 100:6.1f}%  {frame[:160]}")


if __name__ == "__main__":
    main()
