"""`python -m bench`: runs every section, writes bench/results/*.json (raw,
git-ignored), bench/plots/*.png and BENCHMARKS.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, report
from bench.machine import describe
from bench.procs import ROOT, fresh_database, redis_available, redis_server_url
from bench.profiles import PROFILES, Profile
from bench.sections import SECTIONS, Ctx, run_section


def _log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(
    profile: Profile,
    sections: list[str],
    *,
    results_dir: Path,
    workdir: Path,
    log: Any = _log,
) -> dict[str, Any]:
    """Runs `sections` and returns the results document (also used by the tests)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    redis_url = redis_server_url()
    if not redis_available(redis_url):
        redis_url = None
    with fresh_database() as database_url:
        results: dict[str, Any] = {
            "started_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "profile": profile.__dict__,
            "machine": describe(database_url, redis_url),
            "sections": {},
        }
        ctx = Ctx(profile, workdir, results_dir, database_url, redis_url, log=log)
        for name in sections:
            log(f"section {name}")
            results["sections"][name] = await run_section(name, ctx)
            s = results["sections"][name]
            log(f"section {name}: {'done' if s.get('available') else 'not available: ' + str(s.get('reason'))}"
                f" ({s['seconds']:.0f} s)")
    results["seconds"] = time.monotonic() - t0
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def write_outputs(results: dict[str, Any], *, results_dir: Path, plot_dir: Path, markdown: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(" ", "_").replace(":", "")
    text = json.dumps(results, indent=1, default=str)
    (results_dir / f"results-{stamp}.json").write_text(text)
    (results_dir / "latest.json").write_text(text)
    rel = os.path.relpath(plot_dir, markdown.parent)
    plots = report.make_plots(results, plot_dir, rel)
    markdown.write_text(report.render(results, plots, report.bounds_md(results)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run (short levels, small data)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None, help="full (default), quick or smoke")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the Markdown report")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="raw JSON (git-ignored)")
    parser.add_argument("--plots", type=Path, default=ROOT / "bench" / "plots", help="PNG plots (committed)")
    parser.add_argument("--profile-seconds", type=float, default=None,
                        help="py-spy recording per missed target (default: 6 in full runs, 0 = never in quick)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (printed path)")
    parser.add_argument("--render-only", type=Path, default=None, metavar="JSON",
                        help="re-render BENCHMARKS.md and the plots from a results file; measures nothing")
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(args.render_only.read_text())
        write_outputs(results, results_dir=args.results, plot_dir=args.plots, markdown=args.out)
        _log(f"wrote {args.out}")
        return 0
    profile = PROFILES[args.profile or ("quick" if args.quick else "full")]
    if args.profile_seconds is not None:
        profile = dataclasses.replace(profile, profile_s=args.profile_seconds)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    try:
        results = load.run(run(profile, sections, results_dir=args.results, workdir=workdir))
    finally:
        if args.keep_logs:
            _log(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(results, results_dir=args.results, plot_dir=args.plots, markdown=args.out)
    _log(f"wrote {args.out} in {results['seconds'] / 60:.1f} min")
    return 0
