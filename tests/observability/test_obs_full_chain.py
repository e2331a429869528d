"""The whole request path as a person sees it in Jaeger: one REST call through
the gateway (OpenAI-compatible, streamed) is one trace across four real service
processes and the backend's HTTP call: gateway → router (server stream) →
cache and learning → backend HTTP, each span the child of the one that caused
it, each under its service's name. A fallback shows both attempts."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import httpx
from google.type import timeofday_pb2

from obs_support import (
    CLIENT,
    INTERNAL,
    PATIENT_PEERS,
    ROUTER_GENERATE,
    SERVER,
    Span,
    background_calls,
    backend_calls,
    base_env,
    free_port,
    one,
    parent_of,
    processes,
    running_collector,
    start_process,
    tracing_env,
    write_backends,
)
from switchboard.briefs.v1 import briefs_pb2, briefs_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend

GENERATE = ROUTER_GENERATE
LOOKUP = "/switchboard.cache.v1.CacheService/Lookup"
RECOMMEND = "/switchboard.learning.v1.LearningService/Recommend"


async def test_one_rest_call_is_one_trace_from_the_gateway_to_the_backend(tmp_path: Path) -> None:
    async with FakeBackend() as fake, running_collector() as collector, processes() as started:
        ports = {name: free_port() for name in ("cache", "learning", "router", "gateway", "monitor")}
        router_metrics = free_port()
        config = write_backends(tmp_path / "switchboard.toml", fake.url, ("primary", "secondary"))
        env = base_env(tmp_path, **tracing_env(collector), **PATIENT_PEERS, SWITCHBOARD_CONFIG=str(config),
                       SWITCHBOARD_ROUTER_METRICS_PORT=str(router_metrics),
                       **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        for name in ("cache", "learning", "router", "gateway"):
            started.append(await start_process(name, ports[name], env, tmp_path))
        router, gateway = started[-2:]

        async def ask(question: str) -> str:
            body = {"model": "auto", "stream": True, "temperature": 0,
                    "messages": [{"role": "user", "content": question}]}
            async with httpx.AsyncClient() as client:
                response = await client.post(f"http://{gateway.address}/v1/chat/completions", json=body, timeout=30)
            assert response.status_code == 200, response.text
            assert "data: [DONE]" in response.text
            return response.text

        def request_trace(marker_count: int, *, asks_learning: bool = True) -> list[Span]:
            """The trace of the `marker_count`-th chat request, once the spans of every hop are in.
            Only a request that finds none of learning's draws kept asks learning on its path."""
            roots = [s for s in collector.spans
                     if s.service == "switchboard-gateway" and s.kind == SERVER and "/v1/chat/completions" in s.name]
            if len(roots) < marker_count:
                return []
            spans = [s for s in collector.spans if s.trace_id == roots[marker_count - 1].trace_id]
            hops = {(s.service, s.name, s.kind) for s in spans}
            needed = {("switchboard-gateway", GENERATE, CLIENT), ("switchboard-router", GENERATE, SERVER),
                      ("switchboard-cache", LOOKUP, SERVER)}
            if asks_learning:
                needed.add(("switchboard-learning", RECOMMEND, SERVER))
            return spans if needed <= hops and backend_calls(spans) else []

        await ask("what is the capital of France?")
        spans = await collector.wait_for(lambda: request_trace(1), what="every hop of the request")

        # Every span the gateway made belongs to this one trace.
        assert {s.trace_id for s in collector.spans if s.service == "switchboard-gateway"} == {spans[0].trace_id}
        http_in = next(s for s in spans if s.service == "switchboard-gateway" and s.kind == SERVER)
        assert http_in.parent_id == ""
        gw_generate = one(spans, "gateway", GENERATE, CLIENT)
        router_generate = one(spans, "router", GENERATE, SERVER)
        assert parent_of(gw_generate, spans) == http_in
        assert parent_of(router_generate, spans) == gw_generate  # across the process boundary, server stream
        for peer, name in (("cache", LOOKUP), ("learning", RECOMMEND)):
            client = one(spans, "router", name, CLIENT)
            server = one(spans, peer, name, SERVER)
            assert parent_of(client, spans) == router_generate
            assert parent_of(server, spans) == client
        (backend_http,) = backend_calls(spans)
        assert parent_of(backend_http, spans) == router_generate
        assert str(backend_http.attributes.get("http.url", backend_http.attributes.get("url.full"))).startswith(fake.url)
        # The backend got W3C trace context naming that HTTP span as its parent.
        traceparent = fake.requests[-1].headers["traceparent"]
        assert traceparent.split("-")[1:3] == [backend_http.trace_id, backend_http.span_id]
        # The router's span says what it decided, in switchboard's and the GenAI conventions' terms.
        decided = router_generate.attributes
        assert decided["switchboard.backend"] in ("primary", "secondary")
        assert decided["switchboard.backend.reason"]
        assert decided["switchboard.cache.hit"] is False
        assert decided["gen_ai.system"] == "openai"
        assert decided["gen_ai.request.model"] == f"{decided['switchboard.backend']}-model"
        assert decided["gen_ai.usage.input_tokens"] > 0 and decided["gen_ai.usage.output_tokens"] > 0
        # Learning's recommendation was used, and is named.
        assert decided["switchboard.backend.reason"].startswith("recommended by learning"), decided
        order = decided["switchboard.recommendation.order"]
        assert sorted(order) == ["primary", "secondary"]
        assert decided["switchboard.recommendation"] == order[0] == decided["switchboard.backend"]
        (attempt,) = [a for n, a in router_generate.events if n == "switchboard.attempt"]
        assert attempt["switchboard.outcome"] == "SUCCESS" and attempt["switchboard.breaker.state"] == "closed"

        # Outcomes reach learning in the background, in a trace of their own
        # whose root links back to the request (Jaeger shows it as a reference).
        generate_ref = (router_generate.trace_id, router_generate.span_id)

        def delivered() -> tuple[Span, Span, Span] | None:
            """A batch span linked to this request, its call to learning, and learning's
            side of that call (a batch that failed is retried: any delivered one will do)."""
            every = collector.spans
            for batch in (s for s in every if s.name == "router.send_outcomes" and generate_ref in s.links):
                for call in (s for s in every if parent_of(s, every) == batch):
                    for server in (s for s in every if s.service == "switchboard-learning"
                                   and parent_of(s, every) == call):
                        return batch, call, server
            return None

        batch, record_client, _ = await collector.wait_for(delivered, what="the outcome batch linked to the request")
        assert batch.service == "switchboard-router" and batch.parent_id == "" and batch.trace_id != http_in.trace_id
        assert record_client.name == "/switchboard.learning.v1.LearningService/RecordInteractions"

        # A fallback: the first backend tried fails (503), the next one answers;
        # both attempts are HTTP spans in the request's one trace.
        fake.set_fault("http_error:503", times=1)
        await ask("and the capital of Spain?")
        spans = await collector.wait_for(lambda: request_trace(2, asks_learning=False), what="the fallback request")
        attempts = backend_calls(spans)
        assert len(attempts) == 2, spans
        router_generate = one(spans, "router", GENERATE, SERVER)
        assert all(parent_of(a, spans) == router_generate for a in attempts)
        codes = sorted(int(a.attributes.get("http.status_code", a.attributes.get("http.response.status_code", 0)))
                       for a in attempts)
        assert codes == [200, 503]
        outcomes = [a["switchboard.outcome"] for n, a in router_generate.events if n == "switchboard.attempt"]
        assert outcomes == ["SERVER_ERROR", "SUCCESS"], router_generate.events
        failed, answered = [a for n, a in router_generate.events if n == "switchboard.attempt"]
        assert failed["switchboard.fallback.reason"].startswith("SERVER_ERROR")
        assert failed["switchboard.fallback.to"] == answered["switchboard.backend"] != failed["switchboard.backend"]
        # The router's log line about the failed attempt (INFO, the default level) leads to this span.
        (line,) = [line for line in router.log_lines() if line.get("msg") == "backend attempt failed"]
        assert (line["trace_id"], line["span_id"]) == (router_generate.trace_id, router_generate.span_id)
        assert line["backend"] == failed["switchboard.backend"]

        # The router's domain metrics, on its scrape endpoint.
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{router_metrics}/metrics", timeout=5)).text
        for name in ("switchboard_router_tokens_total", "switchboard_router_time_to_first_token_seconds_bucket",
                     "switchboard_router_overhead_seconds_bucket", "switchboard_router_attempts_total",
                     "switchboard_router_fallbacks_total", "rpc_server_call_duration_seconds_bucket"):
            assert f"\n{name}{{" in text, name

        # No background noise: the router's monitor subscription (the monitor is
        # not running, so it retries) and other lone dependency calls make no traces.
        assert background_calls(collector.spans) == [], background_calls(collector.spans)


BRIEF_PEERS = (("learning", "/switchboard.learning.v1.LearningService/GetTimeSaved"),
               ("router", "/switchboard.router.v1.RouterService/Complete"))


def brief_trace(spans: list[Span], root: Span) -> list[Span]:
    """The spans of `root`'s trace once they cover briefs → learning, briefs →
    router and the router's backend call; [] until then."""
    spans = [s for s in spans if s.trace_id == root.trace_id]
    hops = {(s.service, s.kind, s.name) for s in spans}
    wanted = {("switchboard-briefs", CLIENT, rpc) for _, rpc in BRIEF_PEERS}
    wanted |= {(f"switchboard-{peer}", SERVER, rpc) for peer, rpc in BRIEF_PEERS}
    return spans if wanted <= hops and backend_calls(spans) else []


def assert_brief_calls_under(root: Span, spans: list[Span]) -> None:
    """Each peer's SERVER span is the child of a briefs CLIENT span below `root`."""
    for peer, rpc in BRIEF_PEERS:
        client = one(spans, "briefs", rpc, CLIENT)
        assert parent_of(one(spans, peer, rpc, SERVER), spans) == client
        ancestor: Span | None = client
        while ancestor is not None and ancestor != root:
            ancestor = parent_of(ancestor, spans)
        assert ancestor == root, (rpc, spans)


def zone_away_from_midnight() -> str:
    """A zone whose local date stays the same for the next minutes."""
    for name in ("UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "Australia/Sydney"):
        local = datetime.now(ZoneInfo(name))
        if time(1, 0) <= local.time() < time(23, 50):
            return name
    raise AssertionError("every candidate zone is near midnight")


async def test_a_brief_generation_is_one_trace_through_learning_and_the_router(tmp_path: Path) -> None:
    async with FakeBackend() as fake, running_collector() as collector, processes() as started:
        ports = {name: free_port() for name in ("cache", "learning", "router", "briefs", "gateway", "monitor")}
        config = write_backends(tmp_path / "switchboard.toml", fake.url, ("primary",))
        env = base_env(tmp_path, **tracing_env(collector), **PATIENT_PEERS, SWITCHBOARD_CONFIG=str(config),
                       SWITCHBOARD_BRIEFS_SCHEDULER_TICK_S="0.5",
                       **{f"SWITCHBOARD_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        for name in ("learning", "router", "briefs", "gateway"):
            started.append(await start_process(name, ports[name], env, tmp_path))
        briefs, gateway = started[-2:]
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://{gateway.address}/v1/briefs/owners/owner-1/briefs:generate",
                                         json={"kind": "BRIEF_KIND_EVENING", "withNarrative": True}, timeout=30)
        assert response.status_code == 200, response.text

        generate = "/switchboard.briefs.v1.BriefService/GenerateBrief"

        def requested() -> list[Span]:
            roots = [s for s in collector.spans if s.service == "switchboard-briefs" and s.name == generate]
            spans = brief_trace(collector.spans, roots[0]) if roots else []
            return spans if any(s.service == "switchboard-gateway" and s.kind == CLIENT for s in spans) else []

        spans = await collector.wait_for(requested, what="briefs → learning and briefs → router in one trace")
        briefs_server = one(spans, "briefs", generate, SERVER)
        assert parent_of(briefs_server, spans) == one(spans, "gateway", generate, CLIENT)
        assert_brief_calls_under(briefs_server, spans)  # briefs' own spans (SQL, the calls) sit under it

        # A scheduled brief (no request behind it) is one trace too, rooted at briefs' own span.
        zone = zone_away_from_midnight()
        evening = datetime.now(ZoneInfo(zone)) + timedelta(seconds=4)
        async with grpc.aio.insecure_channel(briefs.address) as channel:
            await briefs_pb2_grpc.BriefServiceStub(channel).UpdateOwnerSettings(briefs_pb2.UpdateOwnerSettingsRequest(
                owner_id="owner-2", settings=briefs_pb2.OwnerSettings(
                    time_zone=zone, narrative_enabled=True,
                    evening_time=timeofday_pb2.TimeOfDay(hours=evening.hour, minutes=evening.minute,
                                                         seconds=evening.second))))

        def scheduled() -> list[Span]:
            roots = [s for s in collector.spans if s.service == "switchboard-briefs" and s.name == "briefs.scheduled_brief"]
            return brief_trace(collector.spans, roots[0]) if roots else []

        spans = await collector.wait_for(scheduled, timeout=60, what="the scheduled brief's trace")
        root = next(s for s in spans if s.name == "briefs.scheduled_brief")
        assert root.parent_id == "" and root.kind == INTERNAL
        assert root.attributes["switchboard.brief.kind"] == "evening"
        assert_brief_calls_under(root, spans)
        assert background_calls(collector.spans) == [], background_calls(collector.spans)
