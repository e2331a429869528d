"""All six services as real processes, with API keys on, a backend key, and
each its own scrape endpoint, through one session of REST calls:

- every service's scrape endpoint has its golden signals and its domain
  metrics under the documented names (router: tokens, time to first token,
  overhead, attempts, fallbacks, breaker state; cache: lookups by hit/miss;
  monitor: restarts and alerts; gateway: HTTP server metrics);
- every service's own log lines for a traced call carry that call's trace
  and span ids (the SERVER span the collector received);
- no key (the gateway's, the mesh's, the backend's) appears in any span or
  any log line, and no prompt in any span or any log line;
- background polling (monitor probes, health watches, the router's monitor
  subscription) makes no traces."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import httpx

from obs_support import (
    CLIENT,
    PATIENT_PEERS,
    ROUTER_GENERATE,
    SERVER,
    Process,
    Span,
    background_calls,
    base_env,
    free_port,
    processes,
    running_collector,
    scrape,
    start_process,
    tracing_env,
    value,
    write_backends,
)
from switchboard.mesh import SERVICES
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend

CACHE_LOOKUP = "/switchboard.cache.v1.CacheService/Lookup"
CACHE_STORE = "/switchboard.cache.v1.CacheService/Store"
RECOMMEND = "/switchboard.learning.v1.LearningService/Recommend"
MONITOR_STATUS = "/switchboard.monitor.v1.MonitorService/GetStatus"
GENERATE_BRIEF = "/switchboard.briefs.v1.BriefService/GenerateBrief"

GOLDEN = ("rpc_server_call_duration_seconds_bucket", "switchboard_rpc_server_requests_total",
          "switchboard_rpc_server_active_calls")
DOMAIN = {
    "router": ("switchboard_router_tokens_total", "switchboard_router_time_to_first_token_seconds_bucket",
               "switchboard_router_overhead_seconds_bucket", "switchboard_router_attempts_total",
               "switchboard_router_fallbacks_total", "switchboard_breaker_state"),
    "cache": ("switchboard_cache_lookups_total",),
    "monitor": ("switchboard_monitor_restarts_total", "switchboard_monitor_alerts_total"),
}


def texts_of(spans: list[Span]) -> list[str]:
    """Everything a span exports as text: name, attributes, event attributes, resource."""
    out = []
    for s in spans:
        out.append(s.name)
        out += [f"{k}={v}" for k, v in s.attributes.items()]
        out += [f"{name} {k}={v}" for name, attrs in s.events for k, v in attrs.items()]
        out += [f"{k}={v}" for k, v in s.resource.items()]
    return out


async def test_every_service_measures_logs_with_ids_and_keeps_secrets(tmp_path: Path) -> None:
    gateway_key, mesh_key, backend_key = (f"sk-obs-{who}-{uuid.uuid4().hex}" for who in ("gw", "mesh", "backend"))
    prompt = f"tell me about PROMPT-{uuid.uuid4().hex} please"
    async with FakeBackend() as fake, running_collector() as collector, processes() as started:
        names = [entry.name for entry in SERVICES]
        ports = {name: free_port() for name in names}
        metrics_ports = {name: free_port() for name in names}
        config = write_backends(tmp_path / "switchboard.toml", fake.url, ("primary", "secondary"), "OBS_BACKEND_KEY")
        env = base_env(
            tmp_path, **tracing_env(collector), **PATIENT_PEERS,
            SWITCHBOARD_CONFIG=str(config), OBS_BACKEND_KEY=backend_key, SWITCHBOARD_LOG_LEVEL="DEBUG",
            SWITCHBOARD_API_KEYS=f"{gateway_key}=acme,{mesh_key}=acme", SWITCHBOARD_MESH_API_KEY=mesh_key,
            **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()},
            **{f"SWITCHBOARD_{name.upper()}_METRICS_PORT": str(port) for name, port in metrics_ports.items()},
        )
        for name in ("cache", "learning", "router", "monitor", "briefs", "gateway"):
            started.append(await start_process(name, ports[name], env, tmp_path))
        by_name: dict[str, Process] = {p.name: p for p in started}
        gateway = by_name["gateway"]
        auth = {"authorization": f"Bearer {gateway_key}"}

        async with httpx.AsyncClient(base_url=f"http://{gateway.address}", headers=auth, timeout=30) as http:
            body = {"model": "auto", "stream": True, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}
            fake.set_fault("http_error:503", times=1)  # the first backend fails: a fallback
            first = await http.post("/v1/chat/completions", json=body)
            assert first.status_code == 200 and "data: [DONE]" in first.text, first.text
            await collector.wait_for(lambda: [s for s in collector.spans if s.name == CACHE_STORE and s.kind == SERVER],
                                     what="the answer stored in the cache")
            second = await http.post("/v1/chat/completions", json=body)  # the same question: a cache hit
            assert second.status_code == 200, second.text
            for method, path, payload, status in (
                ("GET", "/v1/monitor/status", None, 200),
                ("POST", "/v1/briefs/owners/owner-1/briefs:generate", {"kind": "BRIEF_KIND_EVENING"}, 200),
                ("POST", "/v1/cache:invalidate", {}, 400),  # neither key nor namespace: an error, counted
            ):
                response = await http.request(method, path, json=payload)
                assert response.status_code == status, (path, response.text)
        # The supervisor's report of a restart (gRPC only): a restart and an alert.
        async with grpc.aio.insecure_channel(by_name["monitor"].address) as channel:
            await monitor_pb2_grpc.MonitorServiceStub(channel).ReportRestart(
                monitor_pb2.ReportRestartRequest(service="cache", pid=4242, previous_pid=4241, attempt=1,
                                                 reason=monitor_pb2.RESTART_REASON_PROCESS_EXITED),
                metadata=(("authorization", f"Bearer {mesh_key}"),), timeout=10)

        # --- every service's SERVER span of its call, with its log line -----------------
        wanted = {"router": ROUTER_GENERATE, "cache": CACHE_LOOKUP, "learning": RECOMMEND,
                  "monitor": MONITOR_STATUS, "briefs": GENERATE_BRIEF}

        def served() -> dict[str, Span]:
            found = {svc: next((s for s in collector.spans if s.service == f"switchboard-{svc}"
                                and s.kind == SERVER and s.name == rpc), None) for svc, rpc in wanted.items()}
            chat = [s for s in collector.spans if s.service == "switchboard-gateway" and s.kind == SERVER
                    and "/v1/chat/completions" in s.name]
            generates = [s for s in collector.spans if s.name == ROUTER_GENERATE and s.kind == SERVER]
            if None in found.values() or not chat or len(generates) < 2:
                return {}
            return {**found, "gateway": chat[0]}  # type: ignore[dict-item]

        spans = await collector.wait_for(served, what="a SERVER span from every service")
        for svc, span in spans.items():
            lines = by_name[svc].log_lines()
            if svc == "gateway":
                mine = [x for x in lines if x.get("msg") == "http" and x.get("path") == "/v1/chat/completions"]
            else:
                mine = [x for x in lines if x.get("msg") == "rpc" and x.get("method") == span.name]
            ids = {(x.get("trace_id"), x.get("span_id")) for x in mine}
            assert (span.trace_id, span.span_id) in ids, (svc, span, mine)

        # The second question was answered from the cache, and the span says so.
        hit = [s for s in collector.spans if s.name == ROUTER_GENERATE and s.kind == SERVER
               and s.attributes.get("switchboard.cache.hit") is True]
        assert len(hit) == 1 and hit[0].attributes["switchboard.backend.reason"] == "cached answer"

        # --- metrics on every scrape endpoint -------------------------------------------
        for name in names:
            text = await scrape(metrics_ports[name])
            assert value(text, "target_info", service_name=f"switchboard-{name}") == 1, name
            expected = ("http_server_",) if name == "gateway" else GOLDEN + DOMAIN.get(name, ())
            for metric in expected:
                assert f"\n{metric}" in text, (name, metric)
            if name == "cache":
                assert value(text, "switchboard_cache_lookups_total", switchboard_cache_result="hit") == 1
                assert value(text, "switchboard_cache_lookups_total", switchboard_cache_result="miss") == 1
                assert value(text, "switchboard_rpc_server_errors_total", rpc_method="Invalidate",
                             rpc_response_status_code="INVALID_ARGUMENT") == 1
            if name == "router":
                assert value(text, "switchboard_router_fallbacks_total", switchboard_fallback_reason="SERVER_ERROR") == 1
                for backend in ("primary", "secondary"):
                    assert value(text, "switchboard_breaker_state", switchboard_breaker=backend) == 0  # closed
            if name == "monitor":
                assert value(text, "switchboard_monitor_restarts_total", switchboard_service="cache") == 1

        # --- no key in any span or log line; no prompt either ----------------------------
        secrets = (gateway_key, mesh_key, backend_key)
        for text in texts_of(collector.spans):
            assert not any(secret in text for secret in secrets), text
            assert "PROMPT-" not in text, text
        for running in started:
            stderr = running.stderr()
            assert not any(secret in stderr for secret in secrets), running.name
            assert "PROMPT-" not in stderr, (running.name, [x for x in stderr.splitlines() if "PROMPT-" in x])
        assert fake.requests and all(r.headers.get("authorization") == f"Bearer {backend_key}"
                                     for r in fake.requests if r.path.endswith("/chat/completions"))

        # --- polling makes no traces --------------------------------------------------------
        assert background_calls(collector.spans) == [], background_calls(collector.spans)
        assert not [s for s in collector.spans if s.name.startswith("/grpc.health.v1.Health/")]
        assert not [s for s in collector.spans if s.kind == CLIENT and s.name == "GET"]  # backend probes
