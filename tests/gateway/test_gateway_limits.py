"""Per-key rate limiting (token bucket on a driven clock: 429 + Retry-After),
CORS on and off, and the docs page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.gateway.limits import RateLimiter, retry_after_header
from services.gateway.settings import GatewaySettings
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import GrpcApp


def test_token_bucket() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)  # one token comes back every 0.5 s
    assert limiter.acquire("b") == 0.0  # buckets are per client
    clock.advance(0.5)
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") > 0
    clock.advance(3600)
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills only up to the burst
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"


def test_buckets_are_bounded() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_clients=2)
    limiter.acquire("a")
    limiter.acquire("b")
    assert limiter.acquire("a") > 0  # "a" is now the most recent
    limiter.acquire("c")  # drops "b", the least recent
    assert limiter.acquire("a") > 0 and limiter.acquire("b") == 0.0


class _Router(router_pb2_grpc.RouterServiceServicer):
    async def ListBackends(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return router_pb2.ListBackendsResponse()


@pytest.fixture
async def router_address(serve: Any) -> str:
    running = await serve("router", app=GrpcApp(
        service_names=["switchboard.router.v1.RouterService"],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, _Router())]))
    return str(running.address)


async def _gateway(serve: Any, tmp_path: Path, router_address: str, clock: ManualClock | None = None,
                   **settings: Any) -> httpx.AsyncClient:
    gw = await serve("gateway", clock=clock, settings=GatewaySettings(
        data_dir=tmp_path, router_address=router_address, shutdown_grace_s=1, **settings))
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.port}", timeout=10)


@pytest.fixture
async def limited(serve: Any, tmp_path: Path, router_address: str) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock]]:
    clock = ManualClock()
    client = await _gateway(serve, tmp_path, router_address, clock, api_keys="ka=a,kb=b",
                            gateway_rate_limit_per_s=0.5, gateway_rate_limit_burst=2)
    async with client:
        yield client, clock


async def test_rate_limit_per_key_with_retry_after(limited: tuple[httpx.AsyncClient, ManualClock]) -> None:
    http, clock = limited
    a, b = {"authorization": "Bearer ka"}, {"authorization": "Bearer kb"}
    assert [(await http.get("/v1/router/backends", headers=a)).status_code for _ in range(2)] == [200, 200]
    refused = await http.get("/v1/router/backends", headers=a)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    openai_refused = await http.get("/v1/models", headers=a)
    assert openai_refused.status_code == 429 and openai_refused.json()["error"]["type"] == "rate_limit_error"
    assert (await http.get("/v1/router/backends", headers=b)).status_code == 200  # another key, its own bucket
    assert (await http.get("/healthz")).status_code == 200  # probes are never limited
    assert (await http.get("/v1/router/backends")).status_code == 401  # no key: refused before counting
    clock.advance(1.9)
    assert (await http.get("/v1/router/backends", headers=a)).status_code == 429
    clock.advance(0.1)
    assert (await http.get("/v1/router/backends", headers=a)).status_code == 200


async def test_rate_limit_by_address_when_auth_is_off(serve: Any, tmp_path: Path, router_address: str) -> None:
    async with await _gateway(serve, tmp_path, router_address, ManualClock(), gateway_rate_limit_per_s=1,
                              gateway_rate_limit_burst=1) as http:
        assert (await http.get("/v1/models")).status_code == 200
        assert (await http.get("/v1/models")).status_code == 429


async def test_cors_off_by_default(serve: Any, tmp_path: Path, router_address: str) -> None:
    async with await _gateway(serve, tmp_path, router_address) as http:
        reply = await http.get("/v1/models", headers={"origin": "http://app.example"})
        preflight = await http.options("/v1/models", headers={
            "origin": "http://app.example", "access-control-request-method": "GET"})
    assert reply.status_code == 200 and "access-control-allow-origin" not in reply.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_from_settings(serve: Any, tmp_path: Path, router_address: str) -> None:
    async with await _gateway(serve, tmp_path, router_address, api_keys="ka=a",
                              gateway_cors_origins="http://app.example, http://other.example") as http:
        preflight = await http.options("/v1/chat/completions", headers={
            "origin": "http://app.example", "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"})
        assert preflight.status_code == 200  # answered before the key check: browsers send no key here
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        refused = await http.get("/v1/models", headers={"origin": "http://app.example"})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://app.example"
        stranger = await http.options("/v1/models", headers={
            "origin": "http://evil.example", "access-control-request-method": "GET"})
        assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_GATEWAY_CORS_ORIGINS", "http://a.example,http://b.example")
    assert GatewaySettings(data_dir=tmp_path).gateway_cors_origins == ["http://a.example", "http://b.example"]
