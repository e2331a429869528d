"""One call through real service processes is one trace: the gateway's HTTP
SERVER span → its gRPC CLIENT span → the cache's gRPC SERVER span, linked
parent to child across processes (W3C trace context in HTTP headers and gRPC
metadata), exported over OTLP to an in-process collector, with the services'
names on their spans and the trace id in their log lines."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from obs_support import CLIENT, SERVER, base_env, free_port, parent_of, processes, running_collector, start_process, tracing_env

STATS = "/switchboard.cache.v1.CacheService/Stats"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


async def test_gateway_to_cache_is_one_trace_with_linked_spans_and_logged_ids(tmp_path: Path, data_dir: Path) -> None:
    async with running_collector() as collector, processes() as started:
        cache_port, gateway_port, gateway_metrics = free_port(), free_port(), free_port()
        env = base_env(
            data_dir,
            **tracing_env(collector),
            SWITCHBOARD_CACHE_PORT=str(cache_port),
            SWITCHBOARD_GATEWAY_METRICS_PORT=str(gateway_metrics),
            SWITCHBOARD_LOG_LEVEL="DEBUG",
        )
        started.append(cache := await start_process("cache", cache_port, env, tmp_path))
        started.append(gateway := await start_process("gateway", gateway_port, env, tmp_path))

        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://{gateway.address}/v1/cache/stats", timeout=10)
        assert response.status_code == 200, response.text

        def request_spans() -> list:
            names = {(s.service, s.name, s.kind) for s in collector.spans}
            wanted = {("switchboard-cache", STATS, SERVER), ("switchboard-gateway", STATS, CLIENT)}
            if not wanted <= names or not any(s.service == "switchboard-gateway" and s.kind == SERVER
                                              for s in collector.spans):
                return []
            return collector.spans

        spans = await collector.wait_for(request_spans, what="gateway and cache spans")
        # Exactly one trace: nothing else happened in either service (probes are untraced).
        assert len({s.trace_id for s in spans}) == 1, spans
        (http_server,) = [s for s in spans if s.service == "switchboard-gateway" and s.kind == SERVER]
        (grpc_client,) = [s for s in spans if s.service == "switchboard-gateway" and s.kind == CLIENT]
        (grpc_server,) = [s for s in spans if s.service == "switchboard-cache" and s.kind == SERVER]
        assert http_server.parent_id == ""  # the gateway started the trace
        assert "/v1/cache/stats" in http_server.name or http_server.attributes.get("url.path") == "/v1/cache/stats"
        assert parent_of(grpc_client, spans) == http_server
        assert parent_of(grpc_server, spans) == grpc_client
        assert grpc_server.attributes["rpc.service"] == "switchboard.cache.v1.CacheService"
        assert grpc_server.resource["service.version"]

        # The cache's log line for the call carries this trace and the server span.
        lines = [line for line in cache.log_lines() if line.get("msg") == "rpc" and line.get("method") == STATS]
        assert lines, cache.stderr()
        assert lines[-1]["trace_id"] == grpc_server.trace_id
        assert lines[-1]["span_id"] == grpc_server.span_id
        assert lines[-1]["code"] == "OK"

        # The gateway's HTTP server metrics, on its own scrape port.
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{gateway_metrics}/metrics", timeout=5)).text
        assert "\nhttp_server_" in text and 'service_name="switchboard-gateway"' in text, text[:2000]


async def test_an_incoming_traceparent_is_continued_across_both_processes(tmp_path: Path, data_dir: Path) -> None:
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with running_collector() as collector, processes() as started:
        cache_port, gateway_port = free_port(), free_port()
        env = base_env(data_dir, **tracing_env(collector), SWITCHBOARD_CACHE_PORT=str(cache_port),
                       OTEL_RESOURCE_ATTRIBUTES="deployment.environment=obs-test")
        started.append(await start_process("cache", cache_port, env, tmp_path))
        started.append(gateway := await start_process("gateway", gateway_port, env, tmp_path))
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"http://{gateway.address}/v1/cache/stats",
                headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
                timeout=10,
            )
        assert response.status_code == 200

        def both() -> list:
            services = {(s.service, s.kind) for s in collector.spans}
            done = {("switchboard-cache", SERVER), ("switchboard-gateway", SERVER)} <= services
            return collector.spans if done else []

        spans = await collector.wait_for(both, what="both services' spans")
        assert {s.trace_id for s in collector.spans} == {trace_id}
        (http_server,) = [s for s in spans if s.service == "switchboard-gateway" and s.kind == SERVER]
        assert http_server.parent_id == caller_span
        assert all(s.resource["deployment.environment"] == "obs-test" for s in spans)


async def test_sql_and_redis_calls_are_children_of_the_rpc_that_made_them(
    tmp_path: Path, data_dir: Path, database_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with running_collector() as collector, processes() as started:
        ports = {name: free_port() for name in ("cache", "learning", "gateway")}
        env = base_env(
            data_dir, **tracing_env(collector),
            SWITCHBOARD_DATABASE_URL=database_url, SWITCHBOARD_REDIS_URL=redis_url,
            SWITCHBOARD_CACHE_REDIS_PREFIX=redis_prefix,
            **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        )
        for name in ("cache", "learning", "gateway"):
            started.append(await start_process(name, ports[name], env, tmp_path))
        gateway = started[-1]
        async with httpx.AsyncClient() as client:
            for path in ("/v1/cache/stats", "/v1/learning/insights"):
                response = await client.get(f"http://{gateway.address}{path}", timeout=10)
                assert response.status_code == 200, (path, response.text)

        def below(service: str, rpc: str, system: str) -> list:
            servers = [s for s in collector.spans if s.service == service and s.name == rpc and s.kind == SERVER]
            return [(server, s) for server in servers for s in collector.spans
                    if s.attributes.get("db.system") == system and parent_of(s, collector.spans) == server]

        (stats, redis_span), *_ = await collector.wait_for(
            lambda: below("switchboard-cache", STATS, "redis"), what="a Redis span under the cache's Stats")
        (insights, sql_span), *_ = await collector.wait_for(
            lambda: below("switchboard-learning", "/switchboard.learning.v1.LearningService/GetInsights",
                          "postgresql"), what="a SQL span under learning's GetInsights")
        assert redis_span.kind == sql_span.kind == CLIENT
        assert redis_span.service == "switchboard-cache" and sql_span.service == "switchboard-learning"
        roots = await collector.wait_for(
            lambda: {s.trace_id for s in collector.spans if s.service == "switchboard-gateway" and s.kind == SERVER}
            if len([s for s in collector.spans if s.service == "switchboard-gateway" and s.kind == SERVER]) == 2
            else set(), what="both gateway spans")
        assert {stats.trace_id, insights.trace_id} == roots  # two requests, two traces, rooted at the gateway
