"""Golden signals per service and RPC (latency histogram, traffic, errors by
code, in flight) on each service's Prometheus scrape endpoint and over OTLP,
and the domain instruments under their documented names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from obs_support import (
    base_env,
    free_port,
    processes,
    running_collector,
    scrape,
    start_process,
    tracing_env,
    value,
)
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime import metrics as m
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings
from switchboard.runtime.telemetry import build_resource
from switchboard.testing.services import start_service


async def test_a_service_process_serves_golden_signals_on_its_scrape_port_and_over_otlp(tmp_path: Path) -> None:
    async with running_collector() as collector, processes() as started:
        port, metrics_port = free_port(), free_port()
        env = base_env(tmp_path, **tracing_env(collector), SWITCHBOARD_CACHE_METRICS_PORT=str(metrics_port))
        started.append(cache := await start_process("cache", port, env, tmp_path))
        async with grpc.aio.insecure_channel(cache.address) as channel:
            stub = cache_pb2_grpc.CacheServiceStub(channel)
            await stub.Stats(cache_pb2.StatsRequest())
            await stub.Stats(cache_pb2.StatsRequest())
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Invalidate(cache_pb2.InvalidateRequest())  # neither key nor namespace
            assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT

        text = await scrape(metrics_port)
        svc = {"rpc_service": "switchboard.cache.v1.CacheService"}
        # Latency histogram, by method and code.
        assert value(text, "rpc_server_call_duration_seconds_count", **svc, rpc_method="Stats",
                     rpc_response_status_code="OK") == 2
        assert value(text, "rpc_server_call_duration_seconds_bucket", **svc, rpc_method="Stats",
                     rpc_response_status_code="OK", le="+Inf") == 2
        # Traffic.
        assert value(text, "switchboard_rpc_server_requests_total", **svc, rpc_method="Stats") == 2
        assert value(text, "switchboard_rpc_server_requests_total", **svc, rpc_method="Invalidate") == 1
        # Errors by code; none for the calls that succeeded.
        assert value(text, "switchboard_rpc_server_errors_total", **svc, rpc_method="Invalidate",
                     rpc_response_status_code="INVALID_ARGUMENT") == 1
        assert value(text, "switchboard_rpc_server_errors_total", **svc, rpc_method="Stats") is None
        # In flight: nothing now.
        assert value(text, "switchboard_rpc_server_active_calls", **svc, rpc_method="Stats") == 0
        # The health checks that found it SERVING are not counted.
        assert "grpc.health.v1.Health" not in text
        assert value(text, "target_info", service_name="switchboard-cache") == 1
        # How far behind its event loop runs (the overload signal): measured, small when idle.
        lag = value(text, "switchboard_event_loop_lag_seconds")
        assert lag is not None and 0 <= lag < 1
        assert any(line.get("msg") == "metrics" and line.get("url") == f"http://127.0.0.1:{metrics_port}/metrics"
                   for line in cache.log_lines())

        # The same instruments go out over OTLP.
        await collector.wait_for(
            lambda: {m.RPC_DURATION, m.RPC_REQUESTS, m.RPC_ERRORS, m.RPC_ACTIVE} <= collector.metric_names("switchboard-cache"),
            what="OTLP metrics",
        )


# --- in process: in-flight calls and streams -------------------------------------------

HOLD = "/obs.Probe/Hold"
STREAM = "/obs.Probe/Stream"


class Probe:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def hold(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.entered.set()
        await self.release.wait()
        return request

    async def stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for i in range(3):
            yield bytes([i])
        if request == b"fail":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")

    def register(self, _: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("obs.Probe", {
            "Hold": grpc.unary_unary_rpc_method_handler(self.hold),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
        }),))


async def test_in_flight_calls_and_streams_are_measured(tmp_path: Path) -> None:
    metrics_port = free_port()
    exported = m.start_metrics(build_resource("obs"), scrape_port=metrics_port, env={})
    assert exported.provider is not None and exported.scrape_port == metrics_port
    probe = Probe()
    runtime = Runtime(MeshSettings(data_dir=tmp_path, shutdown_grace_s=1.0), meter_provider=exported.provider)
    running = await start_service("cache", runtime, GrpcApp(["obs.Probe"], [(probe.register, None)]))
    try:
        assert running.channel is not None
        held = asyncio.ensure_future(running.channel.unary_unary(HOLD)(b"x"))
        await probe.entered.wait()
        labels = {"rpc_service": "obs.Probe", "rpc_method": "Hold"}
        assert value(await scrape(metrics_port), "switchboard_rpc_server_active_calls", **labels) == 1
        probe.release.set()
        assert await held == b"x"
        text = await scrape(metrics_port)
        assert value(text, "switchboard_rpc_server_active_calls", **labels) == 0
        assert value(text, "rpc_server_call_duration_seconds_count", **labels, rpc_response_status_code="OK") == 1

        # Server streams: measured over the whole stream, errors by their code.
        assert [r async for r in running.channel.unary_stream(STREAM)(b"ok")] == [b"\x00", b"\x01", b"\x02"]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            _ = [r async for r in running.channel.unary_stream(STREAM)(b"fail")]
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        text = await scrape(metrics_port)
        stream = {"rpc_service": "obs.Probe", "rpc_method": "Stream"}
        assert value(text, "rpc_server_call_duration_seconds_count", **stream, rpc_response_status_code="OK") == 1
        assert value(text, "switchboard_rpc_server_errors_total", **stream,
                     rpc_response_status_code="FAILED_PRECONDITION") == 1
        assert value(text, "switchboard_rpc_server_active_calls", **stream) == 0
    finally:
        await running.stop()
        exported.shutdown()
    with pytest.raises(httpx.HTTPError):
        await scrape(metrics_port)  # the endpoint closed with the provider


async def test_domain_instruments_appear_under_their_documented_names() -> None:
    metrics_port = free_port()
    exported = m.start_metrics(build_resource("router"), scrape_port=metrics_port, env={})
    try:
        domain = m.MeshMetrics(exported.provider)
        domain.tokens(12, backend="fast", model="gpt-x", system="openai")
        domain.tokens(5, backend="fast", model="gpt-x", system="openai", token_type="input")
        domain.time_to_first_token(0.2, backend="fast", model="gpt-x")
        domain.router_overhead(0.003, backend="fast")
        domain.attempt(backend="fast", outcome="SUCCESS")
        domain.fallback(from_backend="slow", to_backend="fast", reason="TIMEOUT")
        domain.outcomes_dropped(2)
        domain.cache_lookup(hit=True)
        domain.cache_lookup(hit=False)
        domain.cache_lookup(hit=False)
        domain.breaker_state("slow", "open")
        domain.restart(service="learning")
        domain.alert(severity="critical", kind="service_down")
        with pytest.raises(ValueError, match="unknown breaker state"):
            domain.breaker_state("slow", "ajar")

        text = await scrape(metrics_port)
        assert value(text, "switchboard_router_tokens_total", switchboard_backend="fast", gen_ai_token_type="output",
                     gen_ai_system="openai", gen_ai_request_model="gpt-x") == 12
        assert value(text, "switchboard_router_tokens_total", gen_ai_token_type="input") == 5
        assert value(text, "switchboard_router_time_to_first_token_seconds_count", switchboard_backend="fast") == 1
        assert value(text, "switchboard_router_time_to_first_token_seconds_sum") == pytest.approx(0.2)
        assert value(text, "switchboard_router_overhead_seconds_count") == 1
        assert value(text, "switchboard_router_attempts_total", switchboard_outcome="SUCCESS") == 1
        assert value(text, "switchboard_router_fallbacks_total", switchboard_backend="slow",
                     switchboard_fallback_to="fast", switchboard_fallback_reason="TIMEOUT") == 1
        assert value(text, "switchboard_router_outcomes_dropped_total") == 2
        assert value(text, "switchboard_cache_lookups_total", switchboard_cache_result="hit") == 1
        assert value(text, "switchboard_cache_lookups_total", switchboard_cache_result="miss") == 2
        assert value(text, "switchboard_breaker_state", switchboard_breaker="slow") == m.BREAKER_STATES["open"]
        assert value(text, "switchboard_breaker_transitions_total", switchboard_breaker="slow",
                     switchboard_breaker_state="open") == 1
        assert value(text, "switchboard_monitor_restarts_total", switchboard_service="learning") == 1
        assert value(text, "switchboard_monitor_alerts_total", switchboard_alert_severity="critical",
                     switchboard_alert_kind="service_down") == 1
        assert value(text, "target_info", service_name="switchboard-router") == 1
    finally:
        exported.shutdown()


def test_without_a_meter_provider_the_instruments_are_no_ops() -> None:
    domain = m.MeshMetrics(None)
    domain.tokens(3, backend="b")
    domain.breaker_state("b", "closed", transition=False)
    assert m.start_metrics(build_resource("x"), scrape_port=0, env={}).provider is None
