"""`python -m bench.probe`: a quick A/B run of section 1's mesh for developers.

Starts the same servers as section 1 (`overhead_mesh`), runs the chosen paths
at the chosen loads, and prints latency and each process's CPU per request,
so a change to the request path can be compared back to back in a minute
instead of a full `make bench`. Optionally records the servers with py-spy
(raw stacks into --spy-dir, a summary printed). Nothing is written to
BENCHMARKS.md; this VM's speed varies, so compare runs made back to back.

    python -m bench.probe --paths router,gateway --loads idle,100,250
    python -m bench.probe --env SWITCHBOARD_ROUTER_RECOMMEND_DRAWS=0 --loads 100
    python -m bench.probe --paths gateway --loads 100 --spy router,gateway --native
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import load
from bench.load import RunResult, closed_loop, open_loop, settle
from bench.procs import fresh_database
from bench.profiles import PROFILES
from bench.sections import Ctx, overhead_mesh
from bench.spy import profile_during


def _row(label: str, r: RunResult) -> str:
    d = r.to_dict()
    lat, usage = d["latency_ms"], d["usage"] or {}
    cpu = usage.get("cpu_s", {})
    per = " ".join(f"{k}={v / max(r.ok, 1) * 1000:.2f}" for k, v in cpu.items() if v > 0.001)
    p50, p99 = lat["p50"], lat["p99"]
    return (f"{r.target:8} {label:10} {d['achieved_rate']:7.1f}/s err={d['error_count']:<5}"
            f" p50={p50 if p50 is None else round(p50, 2)} p99={p99 if p99 is None else round(p99, 2)}"
            f" | CPU ms/req: {per} client={usage.get('client_cpu_s', 0) / max(r.ok, 1) * 1000:.2f}")


async def _main(args: argparse.Namespace) -> None:
    env = dict(kv.split("=", 1) for kv in args.env)
    profile = replace(PROFILES["full"], warmup=args.warmup)
    with tempfile.TemporaryDirectory() as work, fresh_database() as database_url:
        ctx = Ctx(profile, Path(work), Path(work) / "results", database_url, None)
        out: dict[str, Any] = {"notes": [], "unavailable": {}}
        async with overhead_mesh(ctx, out, extra_env=env) as m:
            for note in out["notes"] + [f"{k}: {v}" for k, v in out["unavailable"].items()]:
                print("note:", note)
            paths = [p for p in args.paths.split(",") if p in m.calls]
            for _ in range(args.repeat):
                for load in args.loads.split(","):
                    for path in paths:
                        call, procs = m.calls[path], m.procs_for(path)
                        if load == "idle":
                            r = await closed_loop(path, call, 1, args.seconds, procs=procs)
                        elif load.startswith("c"):
                            r = await closed_loop(path, call, int(load[1:]), args.seconds, procs=procs)
                        else:
                            r = await open_loop(path, call, float(load), args.seconds, procs=procs)
                        print(_row(load, r), flush=True)
                        await settle(m.procs)
            if args.spy:
                await _spy(args, m)


async def _spy(args: argparse.Namespace, m: Any) -> None:
    names = args.spy.split(",")
    procs = [p for p in m.procs if p.name in names]
    path = args.paths.split(",")[-1]
    load = args.loads.split(",")[-1]
    if path not in m.calls:
        print(f"py-spy: {path} is not available")
        return
    call = m.calls[path]
    seconds = args.seconds
    if load == "idle" or load.startswith("c"):
        work = closed_loop(path, call, 1 if load == "idle" else int(load[1:]), seconds + 1, procs=m.procs)
    else:
        work = open_loop(path, call, float(load), seconds + 1, procs=m.procs)
    summary = await profile_during(procs, seconds, work, Path(args.spy_dir), rate=args.spy_rate, native=args.native)
    for name, s in summary.items():
        print(f"py-spy {name}: {s}")
    print(f"raw stacks in {args.spy_dir}/<process>.txt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", default="direct,router,gateway", help="comma list of direct, router, gateway, gateway+limit")
    ap.add_argument("--loads", default="idle,100", help="comma list: idle, a rate (open loop) or cN (N workers)")
    ap.add_argument("--seconds", type=float, default=6.0, help="per load level")
    ap.add_argument("--repeat", type=int, default=1, help="run every level this many times")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--env", action="append", default=[], help="K=V for every service (repeatable)")
    ap.add_argument("--spy", default="", help="comma list of processes to record with py-spy after the runs")
    ap.add_argument("--spy-dir", default="/tmp/spy")
    ap.add_argument("--spy-rate", type=int, default=200)
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    load.run(_main(ap.parse_args()))


if __name__ == "__main__":
    main()
