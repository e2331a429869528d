"""The shared tracing setup, in process: the resource, nothing exported (and
nothing said) without an endpoint, W3C trace context through server streams,
and background work linked to the requests that caused it."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from switchboard.runtime import metrics as m
from switchboard.runtime import telemetry as t
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.logs import JsonFormatter, TextFormatter
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.services import start_service

# --- resource ---------------------------------------------------------------------------


def test_service_name_defaults_to_switchboard_svc_with_the_version() -> None:
    attrs = t.build_resource("router", env={}).attributes
    assert attrs["service.name"] == "switchboard-router"
    assert attrs["service.version"]


def test_otel_resource_attributes_are_merged_and_otel_service_name_wins() -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=ai%20platform,service.name=from-attrs"}
    attrs = t.build_resource("cache", env=env).attributes
    assert attrs["deployment.environment"] == "prod"
    assert attrs["team"] == "ai platform"  # values are percent-decoded
    assert attrs["service.name"] == "from-attrs"
    attrs = t.build_resource("cache", env={**env, "OTEL_SERVICE_NAME": "edge-cache"}).attributes
    assert attrs["service.name"] == "edge-cache"
    assert attrs["deployment.environment"] == "prod"


# --- nothing exported, nothing said, without an endpoint -----------------------------------


def _processors(provider: TracerProvider) -> tuple[Any, ...]:
    return provider._active_span_processor._span_processors  # noqa: SLF001  (no public accessor)


def test_no_endpoint_means_no_exporter_and_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = t.build_tracer_provider("router", env={})
    with provider.get_tracer("x").start_as_current_span("work", kind=SpanKind.SERVER) as span:
        # Not recorded (nobody would read it), but it has ids for the logs and for peers.
        assert not span.is_recording()
        assert span.get_span_context().is_valid
    provider.shutdown()
    assert _processors(provider) == ()
    assert m.start_metrics(t.build_resource("router", env={}), env={}).provider is None
    assert caplog.records == []


@pytest.mark.parametrize("off", [{"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true"}])
def test_export_can_be_switched_off_with_the_standard_variables(off: dict[str, str]) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", **off}
    assert not t.exporter_configured(env)
    assert _processors(t.build_tracer_provider("router", env=env)) == ()


def test_an_endpoint_means_an_otlp_exporter() -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        provider = t.build_tracer_provider("router", env={var: "http://127.0.0.1:1"})
        (processor,) = _processors(provider)
        assert type(processor.span_exporter).__name__ == "OTLPSpanExporter"  # type: ignore[attr-defined]
    assert m.exporter_configured({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:1"})
    assert not m.exporter_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1", "OTEL_METRICS_EXPORTER": "none"})


# --- W3C trace context through a server stream ---------------------------------------------


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_trace_context_flows_through_a_server_stream_into_the_calls_it_makes(
    tmp_path: Path, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """caller → Relay/Stream (server stream) → while streaming, Echo/Ping on a
    second server: one trace, each span the child of the one before."""
    provider, exporter = spans
    settings = MeshSettings(data_dir=tmp_path, shutdown_grace_s=1.0)

    async def ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    def register_echo(_: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "obs.Echo", {"Ping": grpc.unary_unary_rpc_method_handler(ping)}),))

    echo = await start_service("cache", Runtime(settings, tracer_provider=provider),
                               GrpcApp(["obs.Echo"], [(register_echo, None)]))
    peers = PeerChannels(settings, provider)
    echo_channel = grpc.aio.insecure_channel(echo.address, interceptors=peers.interceptors())

    async def relay(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for i in range(3):
            yield await echo_channel.unary_unary("/obs.Echo/Ping")(bytes([i]))

    def register_relay(_: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "obs.Relay", {"Stream": grpc.unary_stream_rpc_method_handler(relay)}),))

    relay_service = await start_service("router", Runtime(settings, tracer_provider=provider),
                                        GrpcApp(["obs.Relay"], [(register_relay, None)]))
    caller = grpc.aio.insecure_channel(relay_service.address, interceptors=peers.interceptors())
    try:
        with provider.get_tracer("test").start_as_current_span("caller") as root:
            got = [r async for r in caller.unary_stream("/obs.Relay/Stream")(b"")]
        assert got == [b"\x00", b"\x01", b"\x02"]
    finally:
        await caller.close()
        await echo_channel.close()
        await relay_service.stop()
        await echo.stop()

    finished = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    trace_id = root.get_span_context().trace_id
    assert {s.context.trace_id for s in finished} == {trace_id}
    (stream_client,) = [s for s in finished if s.name == "/obs.Relay/Stream" and s.kind is SpanKind.CLIENT]
    (stream_server,) = [s for s in finished if s.name == "/obs.Relay/Stream" and s.kind is SpanKind.SERVER]
    ping_clients = [s for s in finished if s.name == "/obs.Echo/Ping" and s.kind is SpanKind.CLIENT]
    ping_servers = [s for s in finished if s.name == "/obs.Echo/Ping" and s.kind is SpanKind.SERVER]
    assert stream_client.parent is not None and stream_client.parent.span_id == root.get_span_context().span_id
    assert stream_server.parent is not None and by_id[stream_server.parent.span_id] is stream_client
    assert len(ping_clients) == len(ping_servers) == 3
    for client in ping_clients:
        assert client.parent is not None and by_id[client.parent.span_id] is stream_server
    for server in ping_servers:
        assert server.parent is not None and by_id[server.parent.span_id].name == "/obs.Echo/Ping"
        assert by_id[server.parent.span_id].kind is SpanKind.CLIENT


async def test_without_recorded_spans_the_trace_context_still_crosses_every_hop(tmp_path: Path) -> None:
    """No exporter (every span dropped): the lean interceptors stand in for
    OpenTelemetry's, and each hop still continues the caller's trace id, has a
    span id of its own for its logs, and passes both on — unary and streamed."""
    from switchboard.runtime.trace_context import TraceContextServer  # noqa: PLC0415

    quiet = t.build_tracer_provider("obs", env={})
    assert not t.records_spans(quiet) and isinstance(t.server_interceptor(quiet), TraceContextServer)
    assert t.records_spans(TracerProvider()) and not isinstance(t.server_interceptor(TracerProvider()), TraceContextServer)
    settings = MeshSettings(data_dir=tmp_path, shutdown_grace_s=1.0)
    seen: list[tuple[str, trace.SpanContext, str]] = []  # (where, current span, traceparent received)

    def received(context: grpc.aio.ServicerContext) -> str:
        return dict(context.invocation_metadata() or ()).get("traceparent", "")

    baggage: list[str] = []

    async def ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(("echo", trace.get_current_span().get_span_context(), received(context)))
        baggage.append(dict(context.invocation_metadata() or ()).get("baggage", ""))
        return request

    def register_echo(_: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "obs.Echo", {"Ping": grpc.unary_unary_rpc_method_handler(ping)}),))

    echo = await start_service("cache", Runtime(settings, tracer_provider=quiet),
                               GrpcApp(["obs.Echo"], [(register_echo, None)]))
    peers = PeerChannels(settings, quiet)
    echo_channel = grpc.aio.insecure_channel(echo.address, interceptors=peers.interceptors())

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(("relay", trace.get_current_span().get_span_context(), received(context)))
        return await echo_channel.unary_unary("/obs.Echo/Ping")(request)

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        seen.append(("relay", trace.get_current_span().get_span_context(), received(context)))
        for i in range(2):
            yield await echo_channel.unary_unary("/obs.Echo/Ping")(bytes([i]))

    def register_relay(_: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("obs.Relay", {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        }),))

    relay = await start_service("router", Runtime(settings, tracer_provider=quiet),
                                GrpcApp(["obs.Relay"], [(register_relay, None)]))
    caller = grpc.aio.insecure_channel(relay.address)  # a foreign client: traceparent by hand
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        await caller.unary_unary("/obs.Relay/Unary")(b"x", metadata=(("traceparent", incoming), ("baggage", "k=v")))
        assert [r async for r in caller.unary_stream("/obs.Relay/Stream")(b"", metadata=(("traceparent", incoming),))]
        await caller.unary_unary("/obs.Relay/Unary")(b"y")  # no context sent: a new trace, still with ids
    finally:
        await caller.close()
        await echo_channel.close()
        await relay.stop()
        await echo.stop()

    assert [w for w, _, _ in seen] == ["relay", "echo", "relay", "echo", "echo", "relay", "echo"]
    caller_trace = int("0af7651916cd43dd8448eb211c80319c", 16)
    calls = [seen[0:2], seen[2:5], seen[5:7]]
    for (_, relay_span, got), *echoes in calls[:2]:
        assert relay_span.is_valid and relay_span.trace_id == caller_trace and got == incoming
        assert relay_span.span_id != int("b7ad6b7169203331", 16)  # a span id of its own
        for _, echo_span, passed in echoes:
            # The relay passed on the caller's trace with its own span as the parent, not sampled.
            assert passed == f"00-{caller_trace:032x}-{relay_span.span_id:016x}-00"
            assert echo_span.trace_id == caller_trace and echo_span.span_id not in (relay_span.span_id, 0)
    (_, fresh, got), (_, echo_span, passed) = calls[2]
    assert got == "" and fresh.is_valid and fresh.trace_id != caller_trace
    assert echo_span.trace_id == fresh.trace_id and passed.split("-")[2] == f"{fresh.span_id:016x}"
    assert not any(s.is_remote or s.trace_flags.sampled for _, s, _ in seen)
    assert baggage == ["k=v", "", "", ""]  # baggage goes on with the context it came in, and only there


# --- background work linked to requests -------------------------------------------------------


def test_background_work_is_its_own_trace_linked_to_the_requests(spans: tuple[TracerProvider, Any]) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    assert t.capture_context() is None  # outside any span
    captured = []
    for name in ("request-1", "request-2"):
        with tracer.start_as_current_span(name):
            captured.append(t.capture_context())
    captured.append(captured[0])  # the same request twice: one link
    captured.append(None)  # a record made outside any request

    with tracer.start_as_current_span("unrelated-current-span"):
        with t.start_linked_span("router.send_outcomes", captured, attributes={"batch.size": 4},
                                 tracer_provider=provider) as batch:
            with tracer.start_as_current_span("learning.RecordInteractions"):
                pass

    finished = {s.name: s for s in exporter.get_finished_spans()}
    batch_span = finished["router.send_outcomes"]
    assert batch_span.parent is None  # not a child of whatever was current
    request_traces = {finished["request-1"].context.trace_id, finished["request-2"].context.trace_id}
    assert batch_span.context.trace_id not in request_traces
    assert [(link.context.trace_id, link.context.span_id) for link in batch_span.links] == [
        (c.trace_id, c.span_id) for c in captured[:2] if c is not None
    ]
    assert batch_span.attributes is not None and batch_span.attributes["batch.size"] == 4
    child = finished["learning.RecordInteractions"]
    assert child.parent is not None and child.parent.span_id == batch.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


# --- what starts a trace --------------------------------------------------------------------


def test_a_lone_dependency_call_starts_no_trace_but_requests_and_named_work_do(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    _, exporter = spans
    provider = TracerProvider(sampler=t.build_sampler(env={}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    # A poll, a probe, a subscription retry: a root CLIENT span is not recorded …
    with tracer.start_as_current_span("/grpc.health.v1.Health/Watch", kind=SpanKind.CLIENT) as poll:
        assert not poll.is_recording()
        # … but still has ids (for log lines), and what it propagates says "not sampled".
        assert poll.get_span_context().is_valid and not poll.get_span_context().trace_flags.sampled
        with tracer.start_as_current_span("below the poll") as below:
            assert not below.is_recording()
    # A request, or named background work, starts a trace; the calls made inside are in it.
    for kind in (SpanKind.SERVER, SpanKind.INTERNAL):
        with tracer.start_as_current_span(f"root {kind.name}", kind=kind):
            with tracer.start_as_current_span("call", kind=SpanKind.CLIENT) as call:
                assert call.is_recording()
    # A remote parent's decision is followed either way.
    for sampled in (True, False):
        remote = trace.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=trace.TraceFlags(int(sampled)))
        ctx = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        with tracer.start_as_current_span("served", context=ctx, kind=SpanKind.SERVER) as served:
            assert served.is_recording() is sampled
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["call", "call", "root INTERNAL", "root SERVER", "served"]


def test_otel_traces_sampler_replaces_the_rule() -> None:
    env = {"OTEL_TRACES_SAMPLER": "always_on"}
    assert t.build_sampler(env) is None  # the SDK reads the variable itself
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    assert "NoBackgroundCalls" in t.build_tracer_provider("router", env=endpoint).sampler.get_description()


# --- log lines carry the ids -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_carry_the_trace_and_span_ids(fmt: str, spans: tuple[TracerProvider, Any]) -> None:
    provider, _ = spans
    formatter = JsonFormatter("router") if fmt == "json" else TextFormatter("router")
    record = logging.makeLogRecord({"msg": "backend attempt failed", "levelno": logging.INFO, "levelname": "INFO"})
    assert "trace_id" not in formatter.format(record)  # outside a span: none
    with provider.get_tracer("test").start_as_current_span("work") as span:
        line = formatter.format(record)
    ctx = span.get_span_context()
    ids = {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
    if fmt == "json":
        assert ids.items() <= json.loads(line).items()
    else:
        assert f"trace_id={ids['trace_id']}" in line and f"span_id={ids['span_id']}" in line


class FormattedLines(logging.Handler):
    """Formats each record as it is emitted (as the process's stderr handler
    does, inside whatever span is current) and keeps the JSON lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("gateway"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_each_http_request_logs_one_debug_line_inside_its_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404 if scope["path"] == "/missing" else 200,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = t.wrap_asgi(app, provider, excluded=("/healthz",))
    logger = logging.getLogger("switchboard.http")
    handler, level = FormattedLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://gw") as client:
            assert (await client.get("/v1/cache/stats?secret=x")).status_code == 200
            assert (await client.get("/missing")).status_code == 404
            assert (await client.get("/healthz")).status_code == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = handler.lines
    assert [(x["msg"], x["method"], x["path"], x["status"]) for x in lines] == [
        ("http", "GET", "/v1/cache/stats", 200), ("http", "GET", "/missing", 404)]  # no query string
    served = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(served) == 2  # /healthz: neither traced nor logged
    for line, span in zip(lines, served, strict=True):
        assert line["span_id"] == format(span.context.span_id, "016x")
        assert line["trace_id"] == format(span.context.trace_id, "032x")


async def test_without_recorded_spans_an_http_request_continues_the_callers_trace() -> None:
    """No exporter and no meter provider: the lean ASGI wrapper stands in for
    OpenTelemetry's middleware; each request still runs in a span of its own in
    the caller's trace (a new trace without one), and its log line says so."""
    from switchboard.runtime.trace_context import TraceContextAsgi  # noqa: PLC0415

    current: list[trace.SpanContext] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        current.append(trace.get_current_span().get_span_context())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = t.wrap_asgi(app, t.build_tracer_provider("obs", env={}), excluded=("/healthz",))
    assert isinstance(wrapped, TraceContextAsgi)
    logger = logging.getLogger("switchboard.http")
    handler, level = FormattedLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://gw") as client:
            assert (await client.get("/v1/models", headers={"traceparent": incoming})).status_code == 200
            assert (await client.get("/v1/models")).status_code == 200
            assert (await client.get("/healthz", headers={"traceparent": incoming})).status_code == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    continued, fresh, probe = current
    assert continued.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
    assert continued.span_id not in (0, int("b7ad6b7169203331", 16)) and not continued.is_remote
    assert fresh.is_valid and fresh.trace_id != continued.trace_id
    assert not probe.is_valid  # /healthz: outside any span, and not logged
    assert [(x["path"], x["trace_id"], x["span_id"]) for x in handler.lines] == [
        ("/v1/models", format(c.trace_id, "032x"), format(c.span_id, "016x")) for c in (continued, fresh)]
