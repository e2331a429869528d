"""Load and soak through the gateway's OpenAI-compatible endpoint: the mesh
(gateway → router → cache, learning on PostgreSQL, a fake LLM server) as
processes; steady open-loop load, a third of it streamed, each answer checked
word for word. Zero errors; after warm-up each server's memory grows less than
10% and its own file descriptors do not grow (all but its callers'
connections and the router's pooled backend connections, which a pool opens
under load and closes when idle; those are reported, the pool bounded). Rates and latency percentiles
go to RELIABILITY.md.

Short form (CI): 30 s at 25 requests/s (warm-up 10 s). Long form (slow): 10
minutes at 25 requests/s (warm-up 60 s)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
import pytest

from rel_support import percentiles, record, run_mesh, sample, steady_load
from switchboard.testing import infra
from switchboard.testing.fake_backend import fake_answer

SERVERS = ["gateway", "router", "cache", "learning"]
TOKENS = 8


@dataclass(frozen=True)
class Form:
    duration_s: float
    warmup_s: float
    rate_per_s: float


FORMS = {"short": Form(30, 10, 25), "long": Form(600, 60, 25)}


@pytest.mark.parametrize("form", [pytest.param("short", marks=pytest.mark.timeout(300)),
                                  pytest.param("long", marks=[pytest.mark.slow, pytest.mark.timeout(1200)])])
async def test_steady_load_through_the_gateway_no_errors_no_growth(tmp_path_factory, postgres_server_url, form) -> None:
    spec = FORMS[form]
    with infra.fresh_database(postgres_server_url) as database_url, run_mesh(
        tmp_path_factory.mktemp("soak"), SERVERS, database_url=database_url, fake_tokens=TOKENS,
        backend_timeout_s=15.0,  # a starved machine must not turn into degraded answers
        SWITCHBOARD_CACHE_MAX_ENTRIES="500", SWITCHBOARD_LOG_LEVEL="WARNING",
    ) as mesh:
        base = f"http://{mesh.addresses['gateway']}"
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in SERVERS}
        pooled: list[int] = []  # the router's connections to the backend
        began = time.monotonic()
        stop = asyncio.Event()

        async def sampler() -> None:
            while not stop.is_set():
                for name in SERVERS:
                    port = int(mesh.addresses[name].rsplit(":", 1)[1])
                    s = sample(mesh.pids[name], port, mesh.fake_port)
                    samples[name].append((time.monotonic() - began, s.rss, s.own_fds))
                    if name == "router":
                        pooled.append(s.pooled)
                await asyncio.sleep(1.0)

        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

            async def one(i: int) -> str | None:
                # Mostly new questions; every tenth repeats one (cache hits).
                prompt = f"soak question {i if i % 10 else i // 10}"
                expected = fake_answer([("user", prompt)], tokens=TOKENS)
                body = {"model": "auto", "messages": [{"role": "user", "content": prompt}], "stream": i % 3 == 0}
                if not body["stream"]:
                    reply = await http.post("/v1/chat/completions", json=body)
                    if reply.status_code != 200:
                        return f"HTTP {reply.status_code}: {reply.text[:200]}"
                    text = reply.json()["choices"][0]["message"]["content"]
                    return None if text == expected else f"wrong answer {text!r} != {expected!r}"
                parts, done = [], False
                async with http.stream("POST", "/v1/chat/completions", json=body) as streamed:
                    if streamed.status_code != 200:
                        return f"HTTP {streamed.status_code}"
                    async for line in streamed.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        data = line.removeprefix("data: ")
                        if data == "[DONE]":
                            done = True
                            continue
                        chunk = json.loads(data)
                        if "error" in chunk:
                            return f"stream error: {chunk['error']}"
                        for choice in chunk.get("choices", []):
                            parts.append(choice.get("delta", {}).get("content") or "")
                if not done:
                    return "stream ended without [DONE]"
                return None if "".join(parts) == expected else f"wrong streamed answer {''.join(parts)!r}"

            sampling = asyncio.create_task(sampler())
            load = await steady_load(one, rate_per_s=spec.rate_per_s, duration_s=spec.duration_s, concurrency=48)
            stop.set()
            await sampling

    def at(name: str, t: float) -> tuple[int, int]:
        """(rss, fds) of the first sample at or after t seconds."""
        for when, rss, fds in samples[name]:
            if when >= t:
                return rss, fds
        return samples[name][-1][1:]

    growth = {}
    for name in SERVERS:
        rss0, fds0 = at(name, spec.warmup_s)
        rss1, fds1 = samples[name][-1][1:]
        peak_fds = max(f for w, _, f in samples[name] if w >= spec.warmup_s)
        series = samples[name][:: max(1, len(samples[name]) // 10)]  # about ten points, for the shape of growth
        growth[name] = {"rss_mb_after_warmup": round(rss0 / 2**20, 1), "rss_mb_end": round(rss1 / 2**20, 1),
                        "rss_mb_series": [(round(w), round(r / 2**20, 1)) for w, r, _ in series],
                        "rss_growth_pct": round(100 * (rss1 - rss0) / rss0, 1),
                        "fds_after_warmup": fds0, "fds_end": fds1, "fds_peak": peak_fds}
    record(f"soak through the gateway ({form}: {spec.duration_s:g} s at {spec.rate_per_s:g}/s)",
           requests=load.total, errors=len(load.errors), achieved_rate_per_s=round(load.rate, 1),
           streamed_share="1/3", **percentiles(load.latencies), processes=growth,
           router_backend_connections_max=max(pooled), first_errors=load.errors[:3])
    assert not load.errors, load.errors[:10]
    for name, g in growth.items():
        assert g["rss_growth_pct"] < 10, (name, g)
        assert g["fds_end"] <= g["fds_after_warmup"] + 2, (name, g)
    assert max(pooled) <= 200  # the router's backend pool stays within its bound
