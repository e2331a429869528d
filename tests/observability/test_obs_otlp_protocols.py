"""The standard `OTEL_EXPORTER_OTLP_PROTOCOL` chooses the transport: gRPC
(default) or HTTP with protobuf bodies; a protocol switchboard cannot speak
fails start-up with a clear message."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
import pytest

from obs_support import (
    REPO,
    SERVER,
    base_env,
    free_port,
    processes,
    running_http_collector,
    start_process,
    tracing_env,
)
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime import metrics as m
from switchboard.runtime import telemetry as t

STATS = "/switchboard.cache.v1.CacheService/Stats"


def test_the_protocol_comes_from_the_signal_variable_then_the_general_one() -> None:
    assert t.otlp_protocol("traces", {}) == "grpc"
    assert t.otlp_protocol("traces", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == "http/protobuf"
    both = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}
    assert (t.otlp_protocol("traces", both), t.otlp_protocol("metrics", both)) == ("http/protobuf", "grpc")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported"):
        t.otlp_protocol("traces", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_each_protocol_gets_its_span_exporter() -> None:
    # (metrics: the process test below receives them over HTTP)
    for protocol, module in (("grpc", "proto.grpc"), ("http/protobuf", "proto.http")):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
        provider = t.build_tracer_provider("cache", env=env)
        (processor,) = provider._active_span_processor._span_processors  # noqa: SLF001
        assert module in type(processor.span_exporter).__module__  # type: ignore[attr-defined]
        provider.shutdown()


async def test_a_service_process_exports_over_otlp_http(tmp_path: Path) -> None:
    async with running_http_collector() as collector, processes() as started:
        port = free_port()
        env = base_env(tmp_path, **{**tracing_env(collector), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
        started.append(cache := await start_process("cache", port, env, tmp_path))
        async with grpc.aio.insecure_channel(cache.address) as channel:
            await cache_pb2_grpc.CacheServiceStub(channel).Stats(cache_pb2.StatsRequest())
        await collector.wait_for(lambda: [s for s in collector.spans if s.name == STATS and s.kind == SERVER],
                                 what="the Stats span over OTLP/HTTP")
        await collector.wait_for(lambda: m.RPC_REQUESTS in collector.metric_names("switchboard-cache"),
                                 what="metrics over OTLP/HTTP")


async def test_an_unsupported_protocol_fails_start_up_with_a_clear_message(tmp_path: Path) -> None:
    env = base_env(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1", OTEL_EXPORTER_OTLP_PROTOCOL="http/json")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cache", "--port", str(free_port()), env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported" in out.decode(), out.decode()
    assert "Traceback" not in out.decode()
