"""The benchmark's sections (issue 11's list, 1–6). Each starts the servers it
needs as separate processes, measures, stops them, and returns a plain dict
for the report. A section whose service does not answer (not started, RPC
UNIMPLEMENTED...) returns `available: False` with the reason instead of failing
the run, so the harness works while services are still landing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from bench import floors as floor_ops
from bench import targets as T
from bench.http import HttpPool
from bench.load import Call, RunResult, closed_loop, now, open_loop, settle, warm_up
from bench.procs import ROOT, Mesh, Proc, StartFailed, log_count, log_problems, pinned, redis_cleanup
from bench.profiles import Profile
from bench.spy import profile_during

Section = Callable[["Ctx"], Awaitable[dict[str, Any]]]


@dataclass
class Ctx:
    profile: Profile
    workdir: Path
    results_dir: Path
    database_url: str | None
    redis_url: str | None
    log: Callable[[str], None] = print


def _unavailable(reason: str, **extra: Any) -> dict[str, Any]:
    return {"available": False, "reason": reason, **extra}


def _run_dict(r: RunResult, **labels: Any) -> dict[str, Any]:
    d = r.to_dict()
    d.update(labels)
    return d


async def _level(
    label: str, target: str, call: Call, procs: list[Proc], *, mode: str, value: float, duration: float,
    timeout: float = 10.0, router: T.Channels | None = None,
) -> dict[str, Any]:
    """One load level, then a wait until the servers are idle again and, with
    `router`, its breakers reset (the run records which had tripped)."""
    if mode == "open":
        r = await open_loop(target, call, value, duration, procs=procs, timeout=timeout)
    else:
        r = await closed_loop(target, call, int(value), duration, procs=procs, timeout=timeout)
    await settle(procs)
    d = _run_dict(r, level=label)
    if router is not None:
        d["breakers_tripped"] = await T.reset_breakers(router.channels[0])
    return d


async def _try_start(mesh: Mesh, name: str, notes: list[str], **kw: Any) -> Proc | None:
    try:
        return await mesh.service(name, **kw)
    except StartFailed as exc:
        notes.append(f"{name} did not start: {str(exc)[:300]}")
        return None


# -- 1. overhead per request ------------------------------------------------------------------


@dataclass
class OverheadMesh:
    """Section 1's servers and the calls that drive each path."""

    procs: list[Proc]
    calls: dict[str, Call]
    router: T.Channels | None
    path_procs: dict[str, list[Proc]] = field(default_factory=dict)

    def procs_for(self, path: str) -> list[Proc]:
        """The processes a path's runs measure (the limited gateway's runs: it, not the other)."""
        return self.path_procs.get(path, self.procs)


# Section 1's path through the gateway with SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT on; run
# only where it can matter (offered loads of 250/s and more, and flat out).
LIMITED = "gateway+limit"


@contextlib.asynccontextmanager
async def overhead_mesh(
    ctx: Ctx, out: dict[str, Any], *, extra_env: dict[str, str] | None = None,
) -> AsyncIterator[OverheadMesh]:
    """Starts section 1's mesh (fake backend, cache, learning, router with two
    backends, gateway) and warms every path up; a path that does not answer is
    left out and named in out["unavailable"]. `extra_env` goes to every service
    (A/B runs of a setting with bench/probe.py)."""
    p = ctx.profile
    mesh = Mesh(ctx.workdir / "overhead")
    mesh.database_url = ctx.database_url
    env = dict(extra_env or {})
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        fb = await mesh.fake_backend("backend", tokens=p.request_tokens)
        url = f"http://127.0.0.1:{fb.port}"
        procs: list[Proc] = [fb]
        for svc in ("cache", "learning"):
            proc = await _try_start(mesh, svc, out["notes"], extra_env=env)
            if proc:
                procs.append(proc)
        direct_pool = HttpPool("127.0.0.1", fb.port)
        closers.append(direct_pool.close)
        calls: dict[str, Call] = {"direct": T.direct_chat(direct_pool)}
        # Two backends (both this fake) so the router asks learning for an order, as in production.
        config = mesh.router_config([("fake-a", url), ("fake-b", url)])
        router = await _try_start(mesh, "router", out["notes"], extra_env={**env, "SWITCHBOARD_CONFIG": str(config)})
        router_channels: T.Channels | None = None
        if router is None:
            out["unavailable"]["router"] = "router did not start"
        else:
            procs.append(router)
            channels = router_channels = T.Channels(router.address)
            closers.append(channels.close)
            why = await T.router_answers(channels)
            if why:
                out["unavailable"]["router"] = why
            else:
                calls["router"] = T.router_generate(channels)
        gateway = await _try_start(mesh, "gateway", out["notes"], extra_env=env)
        if gateway is None:
            out["unavailable"]["gateway"] = "gateway did not start"
        else:
            procs.append(gateway)
            gw_pool = HttpPool("127.0.0.1", gateway.port)
            closers.append(gw_pool.close)
            call = T.gateway_chat(gw_pool)
            try:
                await asyncio.wait_for(call(), 10)
            except Exception as exc:  # noqa: BLE001
                out["unavailable"]["gateway"] = f"gateway /v1/chat/completions failed: {exc}"[:300]
            else:
                calls["gateway"] = call
        # A second gateway with the adaptive limit on (opt-in), for the overloaded levels.
        path_procs: dict[str, list[Proc]] = {}
        limited = await _try_start(mesh, "gateway", out["notes"], replica=1,
                                   extra_env={**env, "SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT": "true"})
        if limited is not None:
            limited.name = "gateway"  # its CPU goes in the gateway column of its own runs
            lim_pool = HttpPool("127.0.0.1", limited.port)
            closers.append(lim_pool.close)
            calls[LIMITED] = T.gateway_chat(lim_pool)
            path_procs[LIMITED] = [*(pr for pr in procs if pr.name != "gateway"), limited]
        for name, call in calls.items():
            err = await warm_up(call, p.warmup)
            if err:
                out["notes"].append(f"warm-up of {name}: {err}")
        yield OverheadMesh(procs, calls, router_channels, path_procs)
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        mesh.stop_all()


async def overhead(ctx: Ctx) -> dict[str, Any]:
    """Backend directly vs router (gRPC Generate) vs gateway (OpenAI-compatible
    REST), streaming, at fixed offered loads and a closed-loop maximum."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "notes": [], "unavailable": {}}
    async with overhead_mesh(ctx, out) as m:
        levels: list[tuple[str, str, float, float]] = [("idle", "closed", 1, p.idle_s)]
        levels += [(f"{r:g}/s", "open", r, p.run_s) for r in p.rates]
        levels += [(f"max (C={p.closed_concurrency})", "closed", p.closed_concurrency, p.run_s)]
        for label, mode, value, duration in levels:
            for name, call in m.calls.items():
                if name == LIMITED and (label == "idle" or (mode == "open" and value < 250)):
                    continue
                ctx.log(f"  overhead: {name} at {label}")
                out["runs"].append(await _level(label, name, call, m.procs_for(name), mode=mode, value=value,
                                                 duration=duration, timeout=p.request_timeout_s, router=m.router))
        out["processes"] = {pr.name: pr.pid for pr in m.procs}
        await _profile_if_missed(ctx, out, m.procs, m.calls)
    return out


def _run(out: dict[str, Any], target: str, level: str) -> dict[str, Any] | None:
    return next((r for r in out.get("runs", []) if r["target"] == target and r["level"] == level), None)


def overhead_missed(out: dict[str, Any]) -> list[str]:
    """Which of the request-path targets were missed (for profiling and the report)."""
    missed = []
    gw, direct = _run(out, "gateway", "100/s"), _run(out, "direct", "100/s")
    if gw and direct and gw["latency_ms"]["p50"] is not None and direct["latency_ms"]["p50"] is not None:
        if gw["latency_ms"]["p50"] - direct["latency_ms"]["p50"] >= 2 or (
            gw["latency_ms"]["p99"] - direct["latency_ms"]["p99"] >= 10
        ):
            missed.append("gateway added latency at 100/s")
    for target in ("router", "gateway"):
        r = _run(out, target, "1000/s")
        if r and (r["error_count"] or r["achieved_rate"] < 0.97 * 1000):
            missed.append(f"{target} sustains 1000/s")
    return missed


async def _profile(
    ctx: Ctx, out: dict[str, Any], label: str, procs: list[Proc], load: Callable[[float], Awaitable[Any]]
) -> None:
    """py-spy on `procs` while `load(seconds)` runs; into out["profiles"][label].
    Native stacks (so time in gRPC's C core and in system calls is visible);
    py-spy pauses the process per sample, so nothing measured here is reported
    as a latency."""
    seconds = ctx.profile.profile_s
    if seconds <= 0:
        return
    ctx.log(f"  profiling: {label}")
    slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
    out.setdefault("profiles", {})[label] = await profile_during(
        procs, seconds, load(seconds + 1.0), ctx.results_dir / "profiles" / slug, native=True
    )
    await asyncio.sleep(0.5)


async def _profile_if_missed(ctx: Ctx, out: dict[str, Any], procs: list[Proc], calls: dict[str, Call]) -> None:
    missed = overhead_missed(out)
    out["missed"] = missed
    if not missed or "gateway" not in calls:
        return
    servers = [pr for pr in procs if pr.name in ("router", "gateway", "learning", "backend")]
    call, c = calls["gateway"], ctx.profile.closed_concurrency
    # Under the loads the targets name: 100/s (latency) and flat out (throughput).
    await _profile(ctx, out, "gateway path at 100/s", servers, lambda s: open_loop("gateway", call, 100, s))
    await _profile(ctx, out, f"gateway path flat out (C={c})", servers, lambda s: closed_loop("gateway", call, c, s))


# -- 2. token relay ---------------------------------------------------------------------------


async def relay(ctx: Ctx) -> dict[str, Any]:
    """Tokens per second through the router with 1…1000 concurrent streams, CPU
    seconds per 1,000 tokens and memory per open stream; the backend read
    directly at the same concurrency alongside."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "holds": [], "notes": [], "tokens_per_answer": p.relay_tokens}
    mesh = Mesh(ctx.workdir / "relay")
    mesh.database_url = ctx.database_url
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        fast = await mesh.fake_backend("backend", tokens=p.relay_tokens)
        slow = await mesh.fake_backend("slow-backend", tokens=p.hold_tokens, token_delay_s=p.hold_token_delay_s)
        peers = [pr for svc in ("cache", "learning") if (pr := await _try_start(mesh, svc, out["notes"]))]
        config = mesh.router_config(
            [("relay", f"http://127.0.0.1:{fast.port}"), ("slow", f"http://127.0.0.1:{slow.port}")]
        )
        router = await _try_start(mesh, "router", out["notes"], extra_env={"SWITCHBOARD_CONFIG": str(config)})
        if router is None:
            return _unavailable("router did not start", notes=out["notes"])
        channels = T.Channels(router.address)
        closers.append(channels.close)
        why = await T.router_answers(channels, pinned="relay")
        if why:
            return _unavailable(why, notes=out["notes"])
        procs = [fast, router, *peers]
        call = T.router_generate(channels, pinned="relay", timeout=120)
        await warm_up(call, p.warmup // 4 or 1)
        # Memory per open stream first, on a fresh process (the allocator keeps
        # freed memory, so a later baseline would hide growth).
        for c in p.relay_concurrency:
            ctx.log(f"  relay: holding {c} open streams")
            out["holds"].append(await _hold_streams(channels, router, c, timeout=p.hold_timeout_s))
            await asyncio.sleep(1.0)
        direct_pool = HttpPool("127.0.0.1", fast.port)
        closers.append(direct_pool.close)
        paths: list[tuple[str, Call]] = [("router", call), ("direct", T.direct_chat(direct_pool))]
        base = await mesh.baseline(tokens=p.relay_tokens)
        base_channels = T.Channels(base.address)
        closers.append(base_channels.close)
        paths.append(("bare grpc.aio", T.router_generate(base_channels, timeout=120)))
        procs.append(base)
        server_of = {"router": "router", "direct": "backend", "bare grpc.aio": "baseline"}
        for c in p.relay_concurrency:
            for name, target_call in paths:
                ctx.log(f"  relay: {name} with {c} concurrent streams")
                r = await closed_loop(name, target_call, c, p.relay_s, procs=procs, timeout=120)
                d = _run_dict(r, level=str(c))
                d["server"] = server_of[name]
                d["tokens_per_s"] = r.tokens / r.elapsed_s if r.elapsed_s else 0
                cpu = r.usage.cpu_s.get(server_of[name]) or 0
                d["server_cpu_s_per_1k_tokens"] = cpu / r.tokens * 1000 if r.tokens else None
                out["runs"].append(d)
                await settle(procs)
        # What bounds tokens/s: the router relaying 100 streams.
        await _profile(ctx, out, "router relaying 100 streams", [router],
                       lambda s: closed_loop("router", call, 100, s, timeout=120))
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        mesh.stop_all()
    return out


async def _hold_streams(channels: T.Channels, router: Proc, count: int, timeout: float) -> dict[str, Any]:
    """Opens `count` Generate streams on the slow backend, waits until each has
    its first token, reads the router's RSS, then cancels them."""
    from switchboard.router.v1 import router_pb2, router_pb2_grpc  # noqa: PLC0415

    await asyncio.sleep(0.3)
    base = router.rss()
    started = 0
    all_started = asyncio.Event()
    request = router_pb2.GenerateRequest(prompt=T.PROMPT, user_id="bench-hold", pinned_backend="slow")
    stubs = [router_pb2_grpc.RouterServiceStub(c) for c in channels.channels]

    async def one(i: int) -> None:
        nonlocal started
        counted = False
        async for event in stubs[i % len(stubs)].Generate(request, timeout=timeout + 30):
            if not counted and event.WhichOneof("event") == "token":
                counted = True
                started += 1
                if started == count:
                    all_started.set()

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    t0 = now()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_started.wait(), timeout)
    ramp = now() - t0
    peak = 0
    for _ in range(3):
        await asyncio.sleep(0.1)
        peak = max(peak, router.rss())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": count,
        "open": started,
        "ramp_s": ramp,
        "rss_before": base,
        "rss_open": peak,
        "bytes_per_stream": (peak - base) / started if started else None,
    }


# -- 3. cache hit path ------------------------------------------------------------------------


async def cache(ctx: Ctx) -> dict[str, Any]:
    """Cache Lookup hits over gRPC and through the gateway's REST route, with the
    in-memory store and with Redis; and a whole Generate answered from the cache."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "notes": []}
    mesh = Mesh(ctx.workdir / "cache")
    closers: list[Callable[[], Awaitable[None]]] = []
    key = "bench-" + uuid.uuid4().hex
    value = (b"An answer of about a kilobyte, as a cached LLM reply would be. " * 16)[:1024]
    stores = ["memory"] + (["redis"] if ctx.redis_url else [])
    if not ctx.redis_url:
        out["notes"].append("Redis not reachable: in-memory store only")
    try:
        cache_proc: Proc | None = None
        gateway = await _try_start(mesh, "gateway", out["notes"])
        fb = await mesh.fake_backend("backend", tokens=p.request_tokens)
        for store in stores:
            if cache_proc is not None:
                mesh.stop(cache_proc)
            if store == "redis":
                mesh.redis_url = ctx.redis_url
            cache_proc = await _try_start(mesh, "cache", out["notes"])
            if cache_proc is None:
                if store == "memory":
                    return _unavailable("cache did not start", notes=out["notes"])
                continue
            channels = T.Channels(cache_proc.address, count=2)
            closers.append(channels.close)
            try:
                await T.cache_store(channels.channels[0], key, value)
            except grpc.aio.AioRpcError as exc:
                return _unavailable(f"cache Store failed: {exc.code().name}: {exc.details()}", notes=out["notes"])
            calls: dict[str, tuple[Call, list[Proc]]] = {"gRPC Lookup": (T.cache_lookup(channels, key), [cache_proc])}
            if gateway is not None:
                pool = HttpPool("127.0.0.1", gateway.port)
                closers.append(pool.close)
                rest = T.cache_lookup_rest(pool, key)
                try:
                    await rest()
                    calls["REST GET /v1/cache/entries/{key}"] = (rest, [cache_proc, gateway])
                except Exception as exc:  # noqa: BLE001
                    out["notes"].append(f"REST lookup through the gateway failed: {exc}")
            router_call = await _router_cache_hit(mesh, fb, out["notes"], closers)
            if router_call is not None:
                calls["router Generate, cache hit"] = router_call
            if store == "memory":
                # The floor: the same Lookup on a bare grpc.aio server (a dict, no interceptors).
                base = await mesh.baseline(tokens=1)
                base_channels = T.Channels(base.address, count=2)
                closers.append(base_channels.close)
                await T.cache_store(base_channels.channels[0], key, value)
                calls["bare grpc.aio Lookup"] = (T.cache_lookup(base_channels, key), [base])
            for call, _ in calls.values():
                await warm_up(call, p.warmup)
            # Levels outer, paths inner: an overload that trips the cache's Redis breaker
            # (it then answers degraded misses for a while) cannot spoil the lighter rows.
            for label, mode, v, dur in (
                ("idle", "closed", 1, p.idle_s),
                (f"{p.cache_rate:g}/s", "open", p.cache_rate, p.run_s),
                (f"max (C={p.closed_concurrency})", "closed", p.closed_concurrency, p.run_s),
            ):
                for path, (call, procs) in calls.items():
                    if (path.startswith("router") or path.startswith("bare")) and mode != "closed":
                        continue
                    ctx.log(f"  cache: {store} {path} {label}")
                    out["runs"].append(
                        await _level(label, path, call, procs, mode=mode, value=v, duration=dur,
                                     timeout=p.request_timeout_s) | {"store": store}
                    )
                    await asyncio.sleep(0.3)
            idle = next((r for r in out["runs"] if r["store"] == store and r["target"] == "gRPC Lookup"
                         and r["level"] == "idle"), None)
            if idle and (idle["latency_ms"]["p50"] or 0) >= 1.0:
                out.setdefault("missed", []).append(f"cache hit over gRPC ({store}) p50 < 1 ms")
                lookup = calls["gRPC Lookup"][0]
                await _profile(ctx, out, f"cache Lookup one at a time ({store})", [cache_proc],
                               lambda s, lookup=lookup: closed_loop("gRPC Lookup", lookup, 1, s))
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        mesh.stop_all()
        if ctx.redis_url:
            redis_cleanup(ctx.redis_url, mesh.redis_prefix)
    return out


async def _router_cache_hit(
    mesh: Mesh, fb: Proc, notes: list[str], closers: list[Callable[[], Awaitable[None]]]
) -> tuple[Call, list[Proc]] | None:
    """A router (restarted against the current cache) answering a temperature-0
    prompt it has answered before: the cache-hit path end to end."""
    for pr in [pr for pr in mesh.procs if pr.name == "router"]:
        mesh.stop(pr)
    config = mesh.router_config([("fake", f"http://127.0.0.1:{fb.port}")], tag="router-cache")
    router = await _try_start(mesh, "router", notes, extra_env={"SWITCHBOARD_CONFIG": str(config)})
    if router is None:
        return None
    channels = T.Channels(router.address, count=2)
    closers.append(channels.close)
    prompt = "A deterministic question " + uuid.uuid4().hex[:6]
    fill = T.router_generate(channels, temperature=0.0, prompt=prompt)
    try:
        await fill()
    except Exception as exc:  # noqa: BLE001
        notes.append(f"router Generate for the cache-hit path failed: {exc}"[:300])
        return None
    await asyncio.sleep(0.5)  # the router stores in the background
    hit = _expect_hit(channels, prompt)
    try:
        await hit()
    except Exception as exc:  # noqa: BLE001
        notes.append(f"router did not answer from the cache: {exc}"[:300])
        return None
    cache_proc = next(pr for pr in mesh.procs if pr.name == "cache")
    return hit, [router, cache_proc]


def _expect_hit(channels: T.Channels, prompt: str) -> Call:
    from switchboard.router.v1 import router_pb2, router_pb2_grpc  # noqa: PLC0415

    from bench.load import CallError, Outcome  # noqa: PLC0415

    request = router_pb2.GenerateRequest(prompt=prompt, user_id="bench-user", temperature=0.0)
    stub = router_pb2_grpc.RouterServiceStub(channels.channels[0])

    async def call() -> Outcome:
        out = Outcome()
        hit = False
        why = ""
        async for event in stub.Generate(request, timeout=10):
            kind = event.WhichOneof("event")
            if kind == "start":
                hit = event.start.cache_hit
                why = event.start.degraded_reason
            elif kind == "token":
                if out.first_token_at is None:
                    out.first_token_at = now()
                out.tokens += 1
            elif kind == "done":
                out.reported_overhead_s = event.done.overhead.seconds + event.done.overhead.nanos * 1e-9
            elif kind == "error":
                raise CallError(f"ErrorEvent {event.error.code}")
        if not hit:
            raise CallError(f"not a cache hit ({why or 'no reason given'})")
        return out

    return call


# -- 4. learning ------------------------------------------------------------------------------


async def learning(ctx: Ctx) -> dict[str, Any]:
    """Recommend latency (alone, and while interactions pour in), RecordInteraction
    throughput into PostgreSQL (unary, batched, streamed), and the adaptive-
    routing simulation (bench/learning_sim.py)."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "record": [], "notes": []}
    out["sim"] = await _learning_sim(ctx)
    if not ctx.database_url:
        out["notes"].append("PostgreSQL not reachable: learning runs on its embedded SQLite store")
    mesh = Mesh(ctx.workdir / "learning")
    mesh.database_url = ctx.database_url
    out["store"] = "PostgreSQL" if ctx.database_url else "SQLite"
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        proc = await _try_start(mesh, "learning", out["notes"])
        if proc is None:
            return _unavailable("learning did not start", notes=out["notes"], sim=out["sim"])
        channels = T.Channels(proc.address)
        closers.append(channels.close)
        probe = T.recommend(channels)
        try:
            await T.seed_interactions(channels.channels[0], p.seed_interactions)
        except grpc.aio.AioRpcError as exc:
            out["notes"].append(f"seeding with RecordInteractions failed: {exc.code().name}: {exc.details()}")
        try:
            await probe()
        except Exception as exc:  # noqa: BLE001
            out["recommend_unavailable"] = f"Recommend: {exc}"[:300]
        else:
            await warm_up(probe, p.warmup)
            levels: list[tuple[str, str, float, float]] = [("idle", "closed", 1, p.idle_s)]
            levels += [(f"{r:g}/s", "open", r, p.run_s) for r in p.recommend_rates]
            levels += [(f"max (C={p.closed_concurrency})", "closed", p.closed_concurrency, p.run_s)]
            for label, mode, v, dur in levels:
                ctx.log(f"  learning: Recommend {label}")
                out["runs"].append(await _level(label, "Recommend", probe, [proc], mode=mode, value=v, duration=dur,
                                                 timeout=p.request_timeout_s))
                await asyncio.sleep(0.3)
            # Recommend while RecordInteraction runs flat out next to it.
            counts: dict[str, int] = {}
            ctx.log(f"  learning: Recommend at {p.recommend_under_load_rate:g}/s during RecordInteraction")
            rec, writes = await asyncio.gather(
                open_loop("Recommend", probe, p.recommend_under_load_rate, p.run_s, procs=[proc]),
                closed_loop("RecordInteraction", T.record_interaction(channels, counts), 8, p.run_s),
            )
            d = _run_dict(rec, level=f"{p.recommend_under_load_rate:g}/s + writes")
            d["concurrent_writes_per_s"] = writes.achieved_rate
            out["runs"].append(d)
            worst = max(
                (r["latency_ms"]["p99"] or 0) for r in out["runs"] if r["mode"] == "open" or r["level"] == "idle"
            )
            if worst >= 2.0:
                out.setdefault("missed", []).append("Recommend p99 < 2 ms")
                rate = 500.0 if 500 in p.recommend_rates else p.recommend_rates[0]
                await _profile(ctx, out, f"Recommend at {rate:g}/s", [proc],
                               lambda s: open_loop("Recommend", probe, rate, s))
        for form, make, conc in (
            ("RecordInteraction (unary)", lambda c: T.record_interaction(channels, c), p.closed_concurrency),
            ("RecordInteractions (batches of 100)", lambda c: T.record_batch(channels, c, 100), 4),
            ("StreamInteractions (500 per stream)", lambda c: T.record_stream(channels, c, 500), 2),
        ):
            counts = {}
            call = make(counts)
            try:
                await call()
            except Exception as exc:  # noqa: BLE001
                out["record"].append({"form": form, "available": False, "reason": str(exc)[:300]})
                continue
            counts.clear()
            before = _count_rows(ctx.database_url)
            ctx.log(f"  learning: {form}")
            r = await closed_loop(form, call, conc, p.record_s, procs=[proc], timeout=60)
            await asyncio.sleep(1.0)
            after = _count_rows(ctx.database_url)
            d = _run_dict(r, form=form, concurrency=conc)
            d["available"] = True
            d["interactions_per_s"] = r.tokens / r.elapsed_s if r.elapsed_s else 0
            d["durability"] = dict(counts)
            d["rows_added"] = None if before is None or after is None else after - before
            d["cpu_ms_per_interaction"] = (r.usage.cpu_s.get("learning", 0) / r.tokens * 1000) if r.tokens else None
            out["record"].append(d)
            await asyncio.sleep(0.5)
            if form.startswith("RecordInteraction (") and d["interactions_per_s"] < 5000:
                out.setdefault("missed", []).append("RecordInteraction ≥ 5,000/s")
                await _profile(ctx, out, f"RecordInteraction flat out (C={conc})", [proc],
                               lambda s, form=form, call=call, conc=conc: closed_loop(form, call, conc, s))
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        mesh.stop_all()
    return out


def _count_rows(database_url: str | None, table: str = "learning_interactions") -> int | None:
    if not database_url:
        return None
    import psycopg  # noqa: PLC0415

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608  (our constant)
            return int(row[0]) if row else None
    except Exception:  # noqa: BLE001
        return None


async def _learning_sim(ctx: Ctx) -> dict[str, Any]:
    script = ROOT / "bench" / "learning_sim.py"
    if not script.exists():
        return _unavailable("bench/learning_sim.py not present")
    out_json = ctx.results_dir / "learning_sim.json"
    cmd = [sys.executable, "-m", "bench.learning_sim", "--out", str(out_json), *ctx.profile.sim_args]
    ctx.log("  learning: simulation " + " ".join(cmd[2:]))
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), ctx.profile.sim_timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return _unavailable(f"simulation did not finish within {ctx.profile.sim_timeout_s:g} s")
    text = stdout.decode(errors="replace")
    if proc.returncode != 0:
        return _unavailable(f"simulation exited with {proc.returncode}: {text.strip()[-400:]}")
    return {
        "available": True,
        "command": "python " + " ".join(cmd[1:]).replace(str(ROOT) + "/", ""),
        "seconds": time.monotonic() - t0,
        "table": "\n".join(line for line in text.splitlines() if not line.startswith("wrote ")).strip(),
    }


DEALS_HEADER = "title,contact_email,value,currency,stage,probability,last_contact_at,next_step,expected_close"


# -- 5. briefs --------------------------------------------------------------------------------


async def briefs(ctx: Ctx) -> dict[str, Any]:
    """Generation time of the three briefs for an owner with 10,000 deals and 5,000 tasks."""
    from google.protobuf import timestamp_pb2  # noqa: PLC0415

    from switchboard.briefs.v1 import briefs_pb2 as B  # noqa: PLC0415
    from switchboard.briefs.v1 import briefs_pb2_grpc as BG  # noqa: PLC0415

    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "notes": [], "seed": {}}
    if not ctx.database_url:
        out["notes"].append("PostgreSQL not reachable: briefs runs on its embedded SQLite store")
    out["store"] = "PostgreSQL" if ctx.database_url else "SQLite"
    mesh = Mesh(ctx.workdir / "briefs")
    mesh.database_url = ctx.database_url
    try:
        proc = await _try_start(mesh, "briefs", out["notes"])
        if proc is None:
            return _unavailable("briefs did not start", notes=out["notes"])
        owner = "bench-owner-" + uuid.uuid4().hex[:6]
        async with grpc.aio.insecure_channel(
            proc.address,
            options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
        ) as channel:
            stub = BG.BriefServiceStub(channel)
            rng = random.Random(11)
            nowdt = datetime.now(UTC)
            try:
                t0 = now()
                contacts = ["name,email,company,time_zone"] + [
                    f"Contact {i},c{i}@example.com,Company {i % 97},UTC" for i in range(p.contacts)
                ]
                reply = await stub.ImportContactsCsv(
                    B.ImportContactsCsvRequest(owner_id=owner, csv_text="\n".join(contacts)), timeout=300
                )
                out["seed"]["contacts"] = {"rows": p.contacts, "imported": reply.imported, "errors": len(reply.errors),
                                           "seconds": now() - t0}
                stages = ["LEAD", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"]
                t0 = now()
                imported = errors = 0
                chunk = 2500
                for start in range(0, p.deals, chunk):
                    rows = [DEALS_HEADER]
                    for i in range(start, min(p.deals, start + chunk)):
                        last = nowdt - timedelta(days=rng.uniform(0, 60))
                        close = (nowdt + timedelta(days=rng.randint(-20, 60))).date().isoformat()
                        rows.append(
                            f"Deal {i},c{rng.randrange(p.contacts)}@example.com,{rng.randint(500, 250000)}.00,USD,"
                            f"{rng.choice(stages)},{rng.random():.2f},{last.isoformat()},Follow up {i},{close}"
                        )
                    reply = await stub.ImportDealsCsv(
                        B.ImportDealsCsvRequest(owner_id=owner, csv_text="\n".join(rows)), timeout=600
                    )
                    imported += reply.imported
                    errors += len(reply.errors)
                out["seed"]["deals"] = {"rows": p.deals, "imported": imported, "errors": errors, "seconds": now() - t0}
                t0 = now()
                sem = asyncio.Semaphore(16)
                task_errors = 0

                async def upsert(i: int) -> None:
                    nonlocal task_errors
                    due = timestamp_pb2.Timestamp()
                    due.FromDatetime(nowdt + timedelta(hours=rng.uniform(-24 * 7, 24 * 7)))
                    task = B.Task(title=f"Task {i}", due_at=due, priority=1 + i % 3,
                                  status=B.TASK_STATUS_DONE if i % 5 == 0 else B.TASK_STATUS_OPEN)
                    task.estimated.FromSeconds(60 * (5 + i % 40))
                    async with sem:
                        try:
                            await stub.UpsertTask(B.UpsertTaskRequest(owner_id=owner, task=task), timeout=60)
                        except grpc.aio.AioRpcError:
                            task_errors += 1

                await asyncio.gather(*(upsert(i) for i in range(p.tasks)))
                out["seed"]["tasks"] = {"rows": p.tasks, "imported": p.tasks - task_errors, "errors": task_errors,
                                        "seconds": now() - t0}
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return _unavailable("briefs import RPCs not implemented", notes=out["notes"])
                return _unavailable(f"seeding briefs failed: {exc.code().name}: {exc.details()}", notes=out["notes"])
            for kind_name in ("MORNING", "AFTERNOON", "EVENING"):
                kind = B.BriefKind.Value(f"BRIEF_KIND_{kind_name}")
                times, cpu = [], []
                size = 0
                for _ in range(p.brief_repeats):
                    ctx.log(f"  briefs: GenerateBrief {kind_name.lower()}")
                    c0 = proc.cpu_seconds()
                    t0 = now()
                    try:
                        reply = await stub.GenerateBrief(
                            B.GenerateBriefRequest(owner_id=owner, kind=kind, with_narrative=False), timeout=600
                        )
                    except grpc.aio.AioRpcError as exc:
                        out["runs"].append({"kind": kind_name.lower(), "available": False,
                                            "reason": f"{exc.code().name}: {exc.details()}"[:300]})
                        break
                    times.append(now() - t0)
                    cpu.append(proc.cpu_seconds() - c0)
                    size = len(reply.brief.text)
                else:
                    out["runs"].append({"kind": kind_name.lower(), "available": True, "seconds": times,
                                        "cpu_s": cpu, "text_chars": size, "rss_max": proc.rss()})
    finally:
        mesh.stop_all()
    return out


# -- 6. cost against the number of backends ---------------------------------------------------


async def backends(ctx: Ctx) -> dict[str, Any]:
    """The router with 1…16 configured backends (all the same fast fake):
    latency at a fixed rate, throughput flat out, CPU per request, memory."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "notes": []}
    mesh = Mesh(ctx.workdir / "backends")
    mesh.database_url = ctx.database_url
    try:
        fb = await mesh.fake_backend("backend", tokens=p.request_tokens)
        peers = [pr for svc in ("cache", "learning") if (pr := await _try_start(mesh, svc, out["notes"]))]
        url = f"http://127.0.0.1:{fb.port}"
        for n in p.backend_counts:
            config = mesh.router_config([(f"b{i:02d}", url) for i in range(n)], tag=f"router-{n}")
            router = await _try_start(mesh, "router", out["notes"], extra_env={"SWITCHBOARD_CONFIG": str(config)})
            if router is None:
                return _unavailable("router did not start", notes=out["notes"])
            channels = T.Channels(router.address)
            try:
                why = await T.router_answers(channels)
                if why:
                    return _unavailable(why, notes=out["notes"])
                call = T.router_generate(channels)
                await warm_up(call, p.warmup)
                idle_rss = router.rss()
                procs = [router, fb, *peers]
                for label, mode, v in (
                    (f"{p.backends_rate:g}/s", "open", p.backends_rate),
                    (f"max (C={p.closed_concurrency})", "closed", p.closed_concurrency),
                ):
                    ctx.log(f"  backends: {n} backends at {label}")
                    d = await _level(label, "router", call, procs, mode=mode, value=v, duration=p.run_s,
                                     timeout=p.request_timeout_s, router=channels)
                    d["backends"] = n
                    d["rss_idle"] = idle_rss
                    out["runs"].append(d)
                    await asyncio.sleep(0.3)
            finally:
                await channels.close()
                mesh.stop(router)
    finally:
        mesh.stop_all()
    return out


async def replicas(ctx: Ctx) -> dict[str, Any]:
    """How the router scales with processes: N router replicas behind one
    gateway (its channel round-robins over them) at a fixed rate and flat out;
    and one router process given a CPU of its own while everything else shares
    the other, which measures one process's ceiling per core."""
    p = ctx.profile
    out: dict[str, Any] = {"available": True, "runs": [], "notes": [], "pinned": None}
    mesh = Mesh(ctx.workdir / "replicas")
    mesh.database_url = ctx.database_url
    try:
        fb = await mesh.fake_backend("backend", tokens=p.request_tokens)
        peers = [pr for svc in ("cache", "learning") if (pr := await _try_start(mesh, svc, out["notes"]))]
        url = f"http://127.0.0.1:{fb.port}"
        # As in section 1: two backends, so every request also gets its order from learning.
        router_env = {"SWITCHBOARD_CONFIG": str(mesh.router_config([("fake-a", url), ("fake-b", url)]))}
        for n in p.replica_counts:
            routers = [await mesh.service("router", replica=i + 1, extra_env=router_env) for i in range(n)]
            address = "ipv4:" + ",".join(r.address for r in routers)
            gateway = await mesh.service("gateway", extra_env={"SWITCHBOARD_ROUTER_ADDRESS": address})
            pool = HttpPool("127.0.0.1", gateway.port)
            try:
                call = T.gateway_chat(pool)
                err = await warm_up(call, p.warmup)
                if err:
                    return _unavailable(f"gateway with {n} router replicas: {err}", notes=out["notes"])
                procs = [fb, *peers, *routers, gateway]
                for label, mode, v in (
                    (f"{p.replicas_rate:g}/s", "open", p.replicas_rate),
                    (f"max (C={p.closed_concurrency})", "closed", p.closed_concurrency),
                ):
                    ctx.log(f"  replicas: {n} router(s) at {label}")
                    d = await _level(label, "gateway", call, procs, mode=mode, value=v, duration=p.run_s,
                                     timeout=p.request_timeout_s)
                    d["replicas"] = n
                    out["runs"].append(d)
                    await asyncio.sleep(0.3)
            finally:
                await pool.close()
                for proc in (gateway, *routers):
                    mesh.stop(proc)
        out["pinned"] = await _pinned_router(ctx, mesh, router_env, [fb, *peers], out["notes"])
    finally:
        mesh.stop_all()
    return out


async def _pinned_router(
    ctx: Ctx, mesh: Mesh, router_env: dict[str, str], others: list[Proc], notes: list[str]
) -> dict[str, Any] | None:
    """One router on CPU 1, and the load generator, backend, cache and learning on
    CPU 0 (PostgreSQL and Redis stay unpinned), flat out over gRPC."""
    if len(os.sched_getaffinity(0)) < 2:
        notes.append("one router per core: not measured (fewer than 2 CPUs)")
        return None
    p = ctx.profile
    cpus = sorted(os.sched_getaffinity(0))
    mine, its = {cpus[0]}, {cpus[1]}
    router = await mesh.service("router", replica=1, extra_env=router_env, cpus=its)
    channels = T.Channels(router.address)
    try:
        with pinned([os.getpid(), *(proc.pid for proc in others)], mine):
            call = T.router_generate(channels)
            await warm_up(call, p.warmup)
            ctx.log(f"  replicas: one router pinned to CPU {cpus[1]}, flat out")
            d = await _level(f"max (C={p.closed_concurrency})", "router", call, [router, *others], mode="closed",
                             value=p.closed_concurrency, duration=p.run_s, timeout=p.request_timeout_s)
        d["router_cpu"] = cpus[1]
        return d
    finally:
        await channels.close()
        mesh.stop(router)


async def floors(ctx: Ctx) -> dict[str, Any]:
    """Single library operations on the request path, in the harness process (bench/floors.py)."""
    mesh = Mesh(ctx.workdir / "floors")
    try:
        return await floor_ops.measure(mesh, tokens=ctx.profile.request_tokens, repeat=ctx.profile.floor_repeat,
                                       redis_url=ctx.redis_url)
    finally:
        mesh.stop_all()


SECTIONS: dict[str, Section] = {
    "overhead": overhead,
    "relay": relay,
    "cache": cache,
    "learning": learning,
    "briefs": briefs,
    "backends": backends,
    "replicas": replicas,
    "floors": floors,
}


async def run_section(name: str, ctx: Ctx) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        result = await SECTIONS[name](ctx)
    except StartFailed as exc:
        result = _unavailable(f"a server did not start: {str(exc)[:400]}")
    except Exception as exc:  # noqa: BLE001  (one broken section must not lose the others)
        result = _unavailable(f"the section failed: {type(exc).__name__}: {str(exc)[:300]}",
                              traceback=traceback.format_exc()[-3000:])
    result["seconds"] = time.monotonic() - t0
    result["log_problems"] = log_problems(ctx.workdir / name)
    if name == "relay":
        # Streams the router could not open because its backend connection pool was full.
        result["pool_timeouts"] = log_count(ctx.workdir / name, "router", "connection pool exhausted")
    return result
