"""Embedded default: no OTLP endpoint, no scrape port. A service process then
exports nothing and says nothing about telemetry, even after serving calls
(spans are still made, for the trace ids in its logs)."""

from __future__ import annotations

from pathlib import Path

import grpc

from obs_support import base_env, free_port, processes, start_process
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc

TELEMETRY_WORDS = ("otlp", "opentelemetry", "export", "exporter", "telemetry", "metrics", "collector", "4317")


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
    for word in TELEMETRY_WORDS:
        assert word not in stderr, (word, cache.stderr())
