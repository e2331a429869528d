"""The benchmark harness runs end to end on a tiny load (bench/, `make bench`).
Nothing here asserts a performance number: only that the code paths work and
that the report says what was and was not measured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import report
from bench import targets as T
from bench.http import HttpPool
from bench.load import closed_loop, open_loop, settle, warm_up
from bench.procs import Mesh
from bench.profiles import SMOKE
from bench.sections import Ctx, run_section
from bench.spy import summarise
from switchboard.testing.fake_backend import FakeBackend

pytestmark = pytest.mark.timeout(180)


async def test_load_generator_streams_from_a_fake_backend() -> None:
    async with FakeBackend(tokens=5) as fb:
        host, port = fb.url.removeprefix("http://").split(":")
        pool = HttpPool(host, int(port))
        call = T.direct_chat(pool)
        assert await warm_up(call, requests=3, concurrency=1) is None
        opened = await open_loop("direct", call, rate=40, duration=0.3)
        closed = await closed_loop("direct", call, concurrency=2, duration=0.2)
        await pool.close()
    for run in (opened, closed):
        d = run.to_dict()
        assert d["errors"] == {}
        assert d["ok"] == d["sent"]
        assert d["latency_ms"]["p50"] is not None and d["ttft_ms"]["p99"] is not None
        assert run.tokens == 5 * run.ok  # every answer read to its end


async def test_overhead_section_measures_every_path_and_renders(tmp_path: Path) -> None:
    ctx = Ctx(SMOKE, tmp_path / "work", tmp_path / "results", database_url=None, redis_url=None, log=lambda _: None)
    section = await run_section("overhead", ctx)
    assert section["available"], section.get("reason")
    paths = {r["target"] for r in section["runs"]}
    assert "direct" in paths
    # Paths that did not answer are named with a reason instead of failing the run.
    for path in ("router", "gateway"):
        assert path in paths or path in section["unavailable"]
    results = {
        "started_at": "now",
        "seconds": 1.0,
        "profile": SMOKE.__dict__,
        "machine": {k: "-" for k in ("cpu_model", "logical_cpus", "physical_cores", "ram_gib", "os", "python",
                                     "grpcio", "protobuf", "uvicorn", "starlette", "httpx", "sqlalchemy",
                                     "psycopg", "postgresql", "redis", "load_average_at_start")},
        "sections": {"overhead": section, "relay": {"available": False, "reason": "router Generate not implemented"}},
    }
    plots = report.make_plots(results, tmp_path / "plots", "plots")
    text = report.render(results, plots, report.bounds_md(results))
    assert "## 1. Overhead per request" in text
    assert "| idle | direct |" in text
    assert "Not available: router Generate not implemented" in text
    assert "## 4. Learning\n\nNot run in this invocation." in text
    assert all((tmp_path / p).exists() for p in plots.values())


async def test_replicas_section_spreads_calls_over_routers_and_renders(tmp_path: Path) -> None:
    ctx = Ctx(SMOKE, tmp_path / "work", tmp_path / "results", database_url=None, redis_url=None, log=lambda _: None)
    section = await run_section("replicas", ctx)
    assert section["available"], section.get("reason")
    two = [r for r in section["runs"] if r["replicas"] == 2]
    assert two and all(r["error_count"] == 0 for r in two)
    flat_out = next(r for r in two if r["mode"] == "closed")
    cpu = flat_out["usage"]["cpu_s"]  # the gateway's round robin kept both routers busy (idle costs ~nothing)
    assert cpu["router-1"] > 0.2 * cpu["router-2"] and cpu["router-2"] > 0.2 * cpu["router-1"], cpu
    pinned = section["pinned"]
    if len(os.sched_getaffinity(0)) >= 2:
        assert pinned is not None and pinned["ok"] > 0 and pinned["router_cpu"] in os.sched_getaffinity(0)
    results = {"machine": {"logical_cpus": 2}, "profile": SMOKE.__dict__, "sections": {"replicas": section}}
    text = report.replicas_md(results, {})
    assert "| 2 | 20/s |" in text
    assert pinned is None or "**One router process on a CPU of its own**" in text


async def test_floors_section_measures_each_library_operation_and_renders(tmp_path: Path, redis_url: str) -> None:
    ctx = Ctx(SMOKE, tmp_path / "work", tmp_path / "results", database_url=None, redis_url=redis_url,
              log=lambda _: None)
    section = await run_section("floors", ctx)
    assert section["available"], section.get("reason")
    groups = {i["group"] for i in section["items"]}
    assert groups == {"HTTP client", "tracing", "Redis"}
    assert all(i["cpu_us"] > 0 and i["wall_us"] > 0 for i in section["items"])
    results = {"machine": {"logical_cpus": 2}, "profile": SMOKE.__dict__, "sections": {"floors": section}}
    assert "| HTTP client | aiohttp: the same request" in report.floors_md(results, {})
    assert "**Libraries (section 7).**" in report.bounds_md(results)


async def test_a_service_without_the_rpc_is_reported_not_available(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path)
    try:
        cache = await mesh.service("cache")  # answers gRPC, but is not a RouterService
        await settle([cache], max_s=1.0)
        channels = T.Channels(cache.address, count=1)
        why = await T.router_answers(channels)
        await channels.close()
    finally:
        mesh.stop_all()
    assert why == "router Generate not implemented"


def test_py_spy_output_is_summarised_by_layer() -> None:
    raw = "\n".join([
        "main (app.py:1);Handle._run (asyncio/events.py:80);0x7f (grpc/_cython/cygrpc.so);sendmsg (libc.so.6) 6",
        "main (app.py:1);stream (services/router/chain.py:9) 3",
        "main (app.py:1);epoll_wait (libc.so.6) 50",
        "not a sample line",
    ])
    summary = summarise(raw)
    assert summary["samples"] == 9  # waiting in epoll is not CPU
    assert dict(summary["layers"]) == {"gRPC (grpc.aio + C core)": 6 / 9, "service code": 3 / 9}
    assert summary["top"][0] == ("sendmsg (libc.so.6)", 6 / 9)
