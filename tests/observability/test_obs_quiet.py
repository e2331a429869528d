"""Embedded default: no OTLP endpoint, no scrape port. Every service process
then exports nothing and says nothing about telemetry, even after serving
calls (spans are still made, for the trace ids in its logs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from obs_support import Collector, base_env, free_port, processes, running_collector, start_process, write_backends
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.mesh import SERVICES
from switchboard.testing.fake_backend import FakeBackend

# ":4317" as a port: a bare "4317" also occurs inside numbers in DEBUG lines.
TELEMETRY_WORDS = ("otlp", "opentelemetry", "exporter", "telemetry", "collector", ":4317", "/metrics")


@contextlib.asynccontextmanager
async def default_endpoint_watch() -> AsyncIterator[Collector | None]:
    """A collector where an exporter without a configured endpoint would send
    (localhost:4317, the OTLP default); None when that port is taken here."""
    try:
        async with running_collector("localhost:4317") as collector:
            yield collector
    except RuntimeError:
        yield None


async def test_a_process_without_an_endpoint_is_silent_about_telemetry(tmp_path: Path) -> None:
    async with processes() as started:
        port = free_port()
        env = base_env(tmp_path, SWITCHBOARD_LOG_LEVEL="DEBUG")
        started.append(cache := await start_process("cache", port, env, tmp_path))
        async with grpc.aio.insecure_channel(cache.address) as channel:
            await cache_pb2_grpc.CacheServiceStub(channel).Stats(cache_pb2.StatsRequest())
        assert await cache.stop() == 0
    lines = cache.log_lines()
    # It did log, with trace ids (so an exporter, had there been one, had spans to send) …
    (rpc,) = [line for line in lines if line.get("msg") == "rpc"]
    assert len(rpc["trace_id"]) == 32
    # … but not a word about exporting them, not even at shutdown.
    stderr = cache.stderr().lower()
    for word in TELEMETRY_WORDS + ("export", "metrics"):
        assert word not in stderr, (word, cache.stderr())


async def test_no_service_exports_or_mentions_telemetry_without_an_endpoint(tmp_path: Path) -> None:
    async with default_endpoint_watch() as watch, FakeBackend() as fake, processes() as started:
        names = [entry.name for entry in SERVICES]
        ports = {name: free_port() for name in names}
        config = write_backends(tmp_path / "switchboard.toml", fake.url, ("primary",))
        env = base_env(tmp_path, SWITCHBOARD_CONFIG=str(config), SWITCHBOARD_LOG_LEVEL="DEBUG",
                       **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        for name in ("cache", "learning", "router", "monitor", "briefs", "gateway"):
            started.append(await start_process(name, ports[name], env, tmp_path))
        gateway = started[-1]
        caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        async with httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=30) as http:
            chat = await http.post("/v1/chat/completions", json={
                "model": "auto", "stream": True, "temperature": 0, "messages": [{"role": "user", "content": "hello"}]},
                headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
            assert chat.status_code == 200, chat.text
            # Nothing recorded, yet the caller's trace reached the backend, passed on
            # by the gateway and the router (not sampled: nobody records it).
            (asked,) = [r for r in fake.requests if r.path.endswith("/chat/completions")]
            assert asked.headers["traceparent"].startswith(f"00-{caller_trace}-")
            assert asked.headers["traceparent"].endswith("-00")
            assert (await http.get("/v1/monitor/status")).status_code == 200
            brief = await http.post("/v1/briefs/owners/o/briefs:generate", json={"kind": "BRIEF_KIND_EVENING"})
            assert brief.status_code == 200, brief.text
        for running in started:
            assert await running.stop() == 0, running.stderr()

    for running in started:
        # Each served calls, with ids in its lines …
        assert any(len(line.get("trace_id", "")) == 32 for line in running.log_lines()), running.name
        if running.name in ("gateway", "router"):  # … the caller's, on the chat request's path
            assert any(line.get("trace_id") == caller_trace for line in running.log_lines()), running.name
        # … and never says a word about exporting them, not even at shutdown.
        stderr = running.stderr().lower()
        for word in TELEMETRY_WORDS:
            assert word not in stderr, (running.name, word, [x for x in stderr.splitlines() if word in x])
    if watch is None:
        pytest.skip("localhost:4317 is taken here: the logs were checked, the default endpoint could not be")
    assert watch.spans == [] and watch.metrics == []  # nothing went to the OTLP default endpoint
