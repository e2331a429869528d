"""Backends: token-free probes against the fake LLM server (OpenAI, Ollama and
Anthropic paths and headers), a backend going down and coming back as seen by
the router's view (WatchBackendHealth: full view first, then the full view with
`changed` after every change), HTTP errors, stale_after, the configuration."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import httpx
import pytest

from monitor_support import StartMonitor
from services.health.backend_probe import BackendProber, BackendTarget, discover_backends
from services.health.model import Status
from services.router.backends.config import BackendKind
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.runtime.clock import SystemClock
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.infra import free_port


async def test_probes_use_each_kind_of_models_list_and_spend_no_tokens() -> None:
    async with FakeBackend() as fb, httpx.AsyncClient() as client:
        targets = [
            BackendTarget("oa", BackendKind.openai, fb.url + "/v1", "sk-openai"),
            BackendTarget("ol", BackendKind.ollama, fb.url),
            BackendTarget("an", BackendKind.anthropic, fb.url, "sk-ant"),
        ]
        for target in targets:
            result = await BackendProber(target, client, SystemClock(), timeout_s=2).probe()
            assert result.status is Status.HEALTHY and result.latency_s is not None and result.detail == ""
        requests = list(fb.requests)
        assert [(r.method, r.path) for r in requests] == [("GET", "/v1/models"), ("GET", "/api/tags"), ("GET", "/v1/models")]
        assert all(r.wire is None and r.tokens_sent == 0 for r in requests)  # probes, not generations
        assert requests[0].headers["authorization"] == "Bearer sk-openai"
        assert requests[2].headers["x-api-key"] == "sk-ant" and requests[2].headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in requests[1].headers

        fb.set_fault("http_error:503", probes=True)
        result = await BackendProber(targets[0], client, SystemClock(), timeout_s=2).probe()
        assert (result.status, result.detail) == (Status.UNHEALTHY, "HTTP 503")
        fb.set_fault("rate_limit:1", probes=True)
        assert (await BackendProber(targets[1], client, SystemClock(), timeout_s=2).probe()).status is Status.DEGRADED
        fb.set_fault("stall", probes=True)
        result = await BackendProber(targets[2], client, SystemClock(), timeout_s=0.3).probe()
        assert (result.status, result.detail) == (Status.UNREACHABLE, "no answer within 0.3 s")
        fb.clear_fault()

    closed = BackendTarget("gone", BackendKind.openai, f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient() as client:
        result = await BackendProber(closed, client, SystemClock(), timeout_s=1).probe()
    assert (result.status, result.detail) == (Status.UNREACHABLE, "connection refused")
    mock = await BackendProber(BackendTarget("m", BackendKind.mock, ""), httpx.AsyncClient(), SystemClock(), timeout_s=1).probe()
    assert mock.status is Status.HEALTHY


async def _next(call: grpc.aio.UnaryStreamCall, timeout: float = 10.0) -> pb.WatchBackendHealthResponse:
    message = await asyncio.wait_for(call.read(), timeout)
    assert message is not grpc.aio.EOF
    return message


async def _until(call: grpc.aio.UnaryStreamCall, backend: str, status: int, timeout: float = 10.0) -> pb.WatchBackendHealthResponse:
    deadline = time.monotonic() + timeout
    while True:
        message = await _next(call, max(0.1, deadline - time.monotonic()))
        view = {b.backend: b for b in message.backends}
        if backend in message.changed and view[backend].status == status:
            return message


async def test_backend_down_and_up_through_watch_backend_health(start_monitor: StartMonitor) -> None:
    fb = await FakeBackend().start()
    port = fb.port
    try:
        monitor, _ = await start_monitor(backends=[
            BackendTarget("fake-openai", BackendKind.openai, fb.url),
            BackendTarget("mock", BackendKind.mock, ""),
        ])
        assert monitor.channel is not None
        stub = monitor_pb2_grpc.MonitorServiceStub(monitor.channel)
        for _ in range(100):
            view = await stub.GetBackendHealth(pb.GetBackendHealthRequest())
            if all(b.status == pb.TARGET_STATUS_HEALTHY for b in view.backends):
                break
            await asyncio.sleep(0.05)
        assert [(b.backend, b.status) for b in view.backends] == [
            ("fake-openai", pb.TARGET_STATUS_HEALTHY), ("mock", pb.TARGET_STATUS_HEALTHY)]
        assert view.stale_after.ToTimedelta().total_seconds() == pytest.approx(2 * 0.25 + 1.0)
        only = await stub.GetBackendHealth(pb.GetBackendHealthRequest(backends=["mock"]))
        assert [b.backend for b in only.backends] == ["mock"]

        call = stub.WatchBackendHealth(pb.WatchBackendHealthRequest())
        first = await _next(call)
        assert [b.backend for b in first.backends] == ["fake-openai", "mock"] and list(first.changed) == []
        assert not first.HasField("stale_after")  # no heartbeats asked: the open stream is the signal

        down_at = time.monotonic()
        await fb.stop()
        down = await _until(call, "fake-openai", pb.TARGET_STATUS_UNREACHABLE)
        health = {b.backend: b for b in down.backends}["fake-openai"]
        print(f"\nbackend down: UNREACHABLE after {(time.monotonic() - down_at) * 1000:.0f} ms "
              f"(probe interval 250 ms; {health.detail})")
        assert health.consecutive_failures >= 1 and health.detail == "connection refused"
        assert {b.backend: b.status for b in down.backends}["mock"] == pb.TARGET_STATUS_HEALTHY  # the full view

        fb = FakeBackend(port=port)
        await fb.start()
        up_at = time.monotonic()
        up = await _until(call, "fake-openai", pb.TARGET_STATUS_HEALTHY)
        print(f"backend up: HEALTHY after {(time.monotonic() - up_at) * 1000:.0f} ms")
        assert {b.backend: b for b in up.backends}["fake-openai"].HasField("probe_latency")
        call.cancel()

        request = pb.WatchBackendHealthRequest(backends=["fake-openai"])
        request.heartbeat_interval.FromMilliseconds(100)
        beats = stub.WatchBackendHealth(request)
        first, second = await _next(beats), await _next(beats)
        assert [b.backend for b in second.backends] == ["fake-openai"] and list(second.changed) == []
        assert second.stale_after.ToTimedelta().total_seconds() == pytest.approx(1.2)
        beats.cancel()
    finally:
        await fb.stop()


async def test_backends_come_from_the_routers_configuration(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        '[[backends]]\nname = "local"\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n\n'
        '[[backends]]\nname = "claude"\nkind = "anthropic"\nbase_url = "https://api.anthropic.com"\n'
        'model = "claude-x"\napi_key_env = "TEST_ANTHROPIC_KEY"\n'
    )
    async with httpx.AsyncClient() as client:
        found = await discover_backends(config, {"TEST_ANTHROPIC_KEY": "sk-test"}, client)
        assert [(b.name, b.kind, b.api_key) for b in found] == [
            ("local", BackendKind.openai, None), ("claude", BackendKind.anthropic, "sk-test")]
        with pytest.raises(ValueError, match="TEST_ANTHROPIC_KEY is not set"):
            await discover_backends(config, {}, client)
        defaults = await discover_backends(None, {}, client)  # no Ollama here, no keys: the router's mock
        assert [(b.name, b.kind) for b in defaults] == [("mock", BackendKind.mock)]


async def test_backend_watch_ends_cleanly_when_the_monitor_shuts_down(start_monitor: StartMonitor) -> None:
    monitor, _ = await start_monitor(backends=[BackendTarget("mock", BackendKind.mock, "")])
    assert monitor.channel is not None
    call = monitor_pb2_grpc.MonitorServiceStub(monitor.channel).WatchBackendHealth(pb.WatchBackendHealthRequest())
    first = await _next(call)
    assert [b.backend for b in first.backends] == ["mock"]
    monitor.runtime.stopping.set()  # shutdown begins: the router sees the stream end and falls back on its breakers
    assert await asyncio.wait_for(call.read(), 10) == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
