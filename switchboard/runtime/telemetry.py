"""OpenTelemetry setup shared by every service: resource, tracer provider,
library instrumentation, span links for background work, attribute names.

Spans always get ids (so trace ids reach the logs and propagate to peers), but
are recorded and exported only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
(or the traces-only variant) is set; otherwise nothing is exported and nothing
is said about it, and spans are not even recorded: a recorded span costs
~0.1 ms of CPU (attributes, events, the span object), and a routed request
makes about ten of them across the mesh, for nobody to read. Nor is
OpenTelemetry's gRPC, ASGI and aiohttp instrumentation installed then: the
lean interceptors of `trace_context` carry the context instead (`server_interceptor`,
`client_interceptors`, `wrap_asgi`). So tracing is configured per mesh, not per
service: a service without an endpoint passes its "not sampled" decision on to
the peers it calls.
`OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn export off even
with an endpoint. `OTEL_EXPORTER_OTLP_PROTOCOL` (or `…_TRACES_PROTOCOL`) picks
the transport: `grpc` (the default; Jaeger and the OpenTelemetry collector take
it on 4317) or `http/protobuf` (4318); anything else fails start-up. The exporter
reads the other `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, insecure,
certificates) itself.

The resource's `service.name` is `switchboard-<svc>`, unless
`OTEL_RESOURCE_ATTRIBUTES` names one, unless `OTEL_SERVICE_NAME` does;
`service.version` is switchboard's; every other `OTEL_RESOURCE_ATTRIBUTES`
entry is added.

What is traced when spans are recorded (an exporter is configured), once
`instrument_libraries` has run in a service process: gRPC server and client
calls (the bootstrap's and `PeerChannels`' interceptors; health is left out), HTTP client calls through httpx (monitor probes, briefs
delivery) and the router's backend calls through aiohttp (`http_client_trace_config`;
the W3C `traceparent` header goes with them), Redis commands, SQL statements on engines
from `switchboard.db.create_engine_for`, and the gateway's HTTP requests (ASGI).
Context crosses every hop as W3C trace context in gRPC metadata / HTTP headers.

What is not traced: a dependency call made outside any request or named
operation (a root CLIENT span: health watches, monitor probes, the router's
monitor subscription and its retries, housekeeping SQL) is not sampled, so
background polling does not bury the requests in Jaeger. Background work worth
a trace opens its own INTERNAL span (`start_linked_span`, or
`tracer().start_as_current_span`), and its calls are traced under it. Such
dropped spans still have ids (log lines carry them); setting the standard
`OTEL_TRACES_SAMPLER` replaces this rule with the SDK's sampler.

Domain code annotates the current span with the attribute names below
(`trace.get_current_span().set_attribute(BACKEND, name)`), and links background
work to the request that caused it with `capture_context` / `start_linked_span`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from switchboard import __version__
from switchboard.runtime.call_details import with_metadata
from switchboard.runtime.health import HEALTH_PREFIX
from switchboard.runtime.trace_context import GRPC_SCOPE, TraceContextAsgi, TraceContextServer, trace_context_client


TRACER_NAME = "switchboard"

# --- GenAI semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/) ---
GEN_AI_SYSTEM = "gen_ai.system"  # "openai", "anthropic", "ollama", "mock"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"  # "chat"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  # "input" | "output" (metric attribute)

# --- switchboard's own span attributes ---
BACKEND = "switchboard.backend"  # backend name as configured
BACKEND_REASON = "switchboard.backend.reason"  # why it was chosen: "recommended", "pinned", "order", ...
ATTEMPT = "switchboard.attempt"  # 1-based attempt number in the chain
OUTCOME = "switchboard.outcome"  # learning's Outcome name: SUCCESS, TIMEOUT, ...
FALLBACK_REASON = "switchboard.fallback.reason"  # why the chain moved on
BREAKER = "switchboard.breaker"  # breaker name (backend, "redis")
BREAKER_STATE = "switchboard.breaker.state"  # closed, open, half_open, forced_open, disabled
CACHE_HIT = "switchboard.cache.hit"  # bool
RECOMMENDATION = "switchboard.recommendation"  # the backend learning recommended ("" when none)
TOPIC = "switchboard.topic"
REQUEST_ID = "switchboard.request_id"
TENANT = "switchboard.tenant"
DEGRADED = "switchboard.degraded"  # bool: answered in a degraded mode

# --- span event names ---
EVENT_ATTEMPT = "switchboard.attempt"  # one per backend attempt: BACKEND, ATTEMPT, OUTCOME
EVENT_BACKEND_SWITCH = "switchboard.backend_switch"  # BACKEND (to), FALLBACK_REASON
EVENT_FIRST_TOKEN = "switchboard.first_token"
EVENT_BREAKER_TRANSITION = "switchboard.breaker_transition"  # BREAKER, BREAKER_STATE

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def sdk_disabled(env: Mapping[str, str] = os.environ) -> bool:
    return _true(env.get("OTEL_SDK_DISABLED"))


def exporter_configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether spans are exported: an OTLP endpoint is set and export is not off."""
    if sdk_disabled(env) or env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name) for name in _ENDPOINT_VARS)


def _parse_resource_attributes(text: str) -> dict[str, str]:
    """`OTEL_RESOURCE_ATTRIBUTES`: "k1=v1,k2=v2", values percent-encoded (the spec's W3C Baggage form)."""
    attributes: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = urllib.parse.unquote(value.strip())
    return attributes


def build_resource(service: str, env: Mapping[str, str] = os.environ) -> Resource:
    """The resource every signal of `service` carries."""
    attributes: dict[str, Any] = {SERVICE_NAME: f"switchboard-{service}", SERVICE_VERSION: __version__}
    attributes.update(_parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    if env.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = env["OTEL_SERVICE_NAME"]
    # Resource.create adds telemetry.sdk.*; the explicit attributes win over what it detects.
    return Resource.create(attributes)


class _NoBackgroundCalls(Sampler):
    """The root-span rule (see the module docstring): a request (SERVER) or a
    named operation (INTERNAL, …) starts a trace; a lone dependency call (CLIENT) does not."""

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NoBackgroundCalls"


def build_sampler(env: Mapping[str, str] = os.environ) -> Sampler | None:
    """Children follow their parent's decision (local or remote); roots follow
    `_NoBackgroundCalls`. None when `OTEL_TRACES_SAMPLER` is set: the SDK then
    builds the standard sampler it names."""
    if env.get("OTEL_TRACES_SAMPLER", "").strip():
        return None
    return ParentBased(root=_NoBackgroundCalls())


OTLP_PROTOCOLS = ("grpc", "http/protobuf")


def otlp_protocol(signal: str, env: Mapping[str, str] = os.environ) -> str:
    """The OTLP transport for `signal` ("traces", "metrics"):
    `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
    else grpc. Raises ValueError on a protocol switchboard cannot speak."""
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if not env.get(name, "").strip():
        name = "OTEL_EXPORTER_OTLP_PROTOCOL"
    value = env.get(name, "").strip().lower() or "grpc"
    if value not in OTLP_PROTOCOLS:
        raise ValueError(f"{name}={value!r} is not supported; use one of {', '.join(OTLP_PROTOCOLS)}")
    return value


def build_tracer_provider(
    service: str, env: Mapping[str, str] = os.environ, resource: Resource | None = None
) -> TracerProvider:
    """A provider for `service`, exporting over OTLP only when configured.
    Raises ValueError on an unsupported OTLP protocol."""
    exporting = exporter_configured(env)
    # No exporter: every span is non-recording; the SDK still gives it fresh ids.
    sampler = build_sampler(env) if exporting else ALWAYS_OFF
    provider = TracerProvider(resource=resource or build_resource(service, env), sampler=sampler)
    if exporting:
        exporter: Any
        if otlp_protocol("traces", env) == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

            exporter = OTLPSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter as GrpcSpanExporter,
            )

            exporter = GrpcSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


# --- gRPC client spans for server streams ---

_GRPC_STATUS_CODE = "rpc.grpc.status_code"


class TracedUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    """The CLIENT span of a server-streaming call, ended when the call ends.

    Stands in for OpenTelemetry's aio unary-stream client interceptor, which
    ends its span only once the caller has iterated the stream to the end: a
    caller that reads with `read()` and cancels after the last event it needs
    (the gateway's SSE relay) would leave the span open and never exported,
    breaking the trace between the gateway and the router. The call itself is
    returned untouched, so `read()`, `cancel()` and `async for` behave as usual.
    A cancelled call is not an error (the caller chose to stop)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self._tracer = trace.get_tracer(GRPC_SCOPE, None, tracer_provider)
        self._finishing: set[asyncio.Task[None]] = set()

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        method = client_call_details.method
        method = method.decode() if isinstance(method, bytes) else method
        service, _, name = method.lstrip("/").partition("/")
        span = self._tracer.start_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        carrier: dict[str, str] = {}
        inject(carrier, context=trace.set_span_in_context(span))
        details = with_metadata(client_call_details, carrier.items())
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            _end_with(span, getattr(exc, "code", lambda: grpc.StatusCode.UNKNOWN)(), str(exc))
            raise
        call.add_done_callback(self._on_done(span))
        return call

    def _on_done(self, span: trace.Span) -> Callable[[Any], None]:
        def done(call: Any) -> None:
            task = asyncio.ensure_future(self._finish(span, call))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

        return done

    @staticmethod
    async def _finish(span: trace.Span, call: Any) -> None:
        try:
            code, details = await call.code(), await call.details()
        except BaseException:  # noqa: BLE001  (the span must end whatever happens)
            code, details = grpc.StatusCode.UNKNOWN, ""
        _end_with(span, code, details)


def _end_with(span: trace.Span, code: Any, details: str) -> None:
    if isinstance(code, grpc.StatusCode):
        span.set_attribute(_GRPC_STATUS_CODE, code.value[0])
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {details}"))
    span.end()


def records_spans(tracer_provider: Any) -> bool:
    """False for a provider built to drop every span (`build_tracer_provider`
    without an exporter: the ALWAYS_OFF sampler). Any other provider, even one
    whose sampler happens to drop everything, counts as recording."""
    return getattr(tracer_provider, "sampler", None) is not ALWAYS_OFF


def instruments_libraries(tracer_provider: Any, meter_provider: Any) -> bool:
    """Whether OpenTelemetry's HTTP instrumentation (ASGI middleware, aiohttp
    trace config) pays its way: it records spans, or its HTTP metrics are
    wanted. Otherwise only the trace context is passed on."""
    return meter_provider is not None or records_spans(tracer_provider)


def server_interceptor(tracer_provider: Any) -> grpc.aio.ServerInterceptor:
    """The tracing interceptor for a gRPC server: OpenTelemetry's when spans are
    recorded, else `TraceContextServer` (trace context and ids only, at a
    fraction of the cost). Not health: its Watch is written in the
    context.write style the aio interceptor cannot wrap, and probes every
    second are noise in traces."""
    if not records_spans(tracer_provider):
        return TraceContextServer(tracer_provider, untraced=(HEALTH_PREFIX,))
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters  # noqa: PLC0415

    return aio_server_interceptor(tracer_provider=tracer_provider, filter_=filters.negate(filters.health_check()))


def client_interceptors(tracer_provider: Any) -> list[grpc.aio.ClientInterceptor]:
    """Tracing interceptors for a channel to a peer: OpenTelemetry's for unary
    calls and client streams, `TracedUnaryStream` for server streams; when
    spans are not recorded, only the trace context is passed on."""
    if not records_spans(tracer_provider):
        return trace_context_client()
    from opentelemetry.instrumentation.grpc import aio_client_interceptors  # noqa: PLC0415

    chain: list[grpc.aio.ClientInterceptor] = [
        i for i in aio_client_interceptors(tracer_provider=tracer_provider)
        if not isinstance(i, grpc.aio.UnaryStreamClientInterceptor)
    ]
    chain.append(TracedUnaryStream(tracer_provider))
    return chain


# --- library instrumentation (once per service process) ---


def instrument_libraries(tracer_provider: TracerProvider, meter_provider: Any = None) -> None:
    """Traces httpx and Redis calls process-wide (they patch the libraries, so
    only the process entry point calls this, never an in-process test). SQL is
    traced per engine (`instrument_engine`), the gateway by `wrap_asgi`. Redis
    only when spans are recorded: its spans carry no context anywhere, and the
    wrapper costs ~15% of a cache lookup's Redis call for nothing."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    kwargs: dict[str, Any] = {"tracer_provider": tracer_provider}
    if meter_provider is not None:
        kwargs["meter_provider"] = meter_provider
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(**kwargs)
    if records_spans(tracer_provider) and not RedisInstrumentor().is_instrumented_by_opentelemetry:
        RedisInstrumentor().instrument(tracer_provider=tracer_provider)


def http_client_trace_config(tracer_provider: TracerProvider, meter_provider: Any = None) -> Any:
    """An aiohttp `TraceConfig` for one session (the router's backend client):
    a CLIENT span per request, `traceparent` injected, the HTTP client duration
    metric, as httpx's instrumentation gives. Per session rather than by patching
    aiohttp globally. Only URL, method, host, port and status become attributes:
    no header (API keys) and no body (prompts) is captured, and the URL's
    credentials and signature parameters are redacted."""
    from opentelemetry.instrumentation._semconv import (  # noqa: PLC0415
        _OpenTelemetrySemanticConventionStability,
        _OpenTelemetryStabilitySignalType,
    )
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config  # noqa: PLC0415

    # The attribute names follow OTEL_SEMCONV_STABILITY_OPT_IN, as the instrumentors' do.
    _OpenTelemetrySemanticConventionStability._initialize()
    mode = _OpenTelemetrySemanticConventionStability._get_opentelemetry_stability_opt_in_mode(
        _OpenTelemetryStabilitySignalType.HTTP
    )
    return create_trace_config(tracer_provider=tracer_provider, meter_provider=meter_provider, sem_conv_opt_in_mode=mode)


def instrument_engine(sync_engine: Any, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Traces every statement on one SQLAlchemy engine (an AsyncEngine's
    `.sync_engine`). Uses the global providers unless given: in a service
    process those are the service's; elsewhere they are no-ops."""
    from opentelemetry import metrics  # noqa: PLC0415
    from opentelemetry.instrumentation.sqlalchemy import __version__ as sa_version  # noqa: PLC0415
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: PLC0415

    scope = "opentelemetry.instrumentation.sqlalchemy"
    tracer = trace.get_tracer(scope, sa_version, tracer_provider)
    meter = metrics.get_meter(scope, sa_version, meter_provider)
    usage = meter.create_up_down_counter(
        "db.client.connections.usage", unit="connections", description="Connections in use or idle."
    )
    # The instrumentor's singleton `instrument(engine=…)` takes one engine per
    # process; its EngineTracer is what it attaches to each engine.
    EngineTracer(tracer, sync_engine, usage)


def wrap_asgi(app: Any, tracer_provider: Any, meter_provider: Any = None, excluded: Iterable[str] = ()) -> Any:
    """`app` inside OpenTelemetry's ASGI middleware: one SERVER span per HTTP
    request (the parent of the gRPC calls made while serving it), continuing
    an incoming `traceparent`, and a DEBUG `http` line per request inside it
    (`AccessLog`). Paths in `excluded` (probes) are neither traced nor logged.
    When spans are not recorded and there is no meter provider for its HTTP
    server metrics, `TraceContextAsgi` carries the trace context instead, for
    a fraction of the cost."""
    excluded = tuple(excluded)
    if not instruments_libraries(tracer_provider, meter_provider):
        return TraceContextAsgi(AccessLog(app, excluded), tracer_provider, excluded)
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # noqa: PLC0415

    return OpenTelemetryMiddleware(
        AccessLog(app, excluded),
        excluded_urls=",".join(excluded) or None,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        # A span per ASGI message is noise (an SSE stream would make hundreds).
        exclude_spans=["receive", "send"],
    )


class AccessLog:
    """One DEBUG line per HTTP request (method, path without the query, status,
    duration), written inside the request's span so it carries its trace and
    span ids: the HTTP counterpart of `RpcMetrics`' `rpc` line. Paths in
    `excluded` (probes) are not logged."""

    def __init__(self, app: Any, excluded: Iterable[str] = ()) -> None:
        self._app = app
        self._excluded = tuple(excluded)
        self._log = logging.getLogger("switchboard.http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        wanted = scope.get("type") == "http" and scope.get("path") not in self._excluded
        if not wanted or not self._log.isEnabledFor(logging.DEBUG):
            await self._app(scope, receive, send)
            return
        status = 0

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 0))
            await send(message)

        started = time.perf_counter()
        try:
            await self._app(scope, receive, sending)
        finally:
            elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
            self._log.debug("http", extra={"method": scope.get("method", ""), "path": scope.get("path", ""),
                                           "status": status, "duration_ms": elapsed_ms})


# --- background work linked to the requests that caused it ---


def capture_context() -> SpanContext | None:
    """The current span's context, to keep with work done later (the router's
    outcome queue): pass what it returns to `start_linked_span`. None outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return ctx if ctx.is_valid else None


@contextlib.contextmanager
def start_linked_span(
    name: str,
    links: Iterable[SpanContext | None],
    *,
    attributes: Mapping[str, Any] | None = None,
    tracer_provider: Any = None,
) -> Iterator[trace.Span]:
    """A new root span (its own trace) for background work, linked to the spans
    (requests) it serves, and current while the block runs, so the calls made
    inside (e.g. learning.RecordInteractions) are its children. A batch of
    outcomes from many requests makes one span with one link per request.

        with start_linked_span("router.send_outcomes", [r.trace_context for r in batch]):
            await sink.send(batch)
    """
    seen: set[tuple[int, int]] = set()
    span_links = []
    for ctx in links:
        if ctx is None or not ctx.is_valid or (ctx.trace_id, ctx.span_id) in seen:
            continue
        seen.add((ctx.trace_id, ctx.span_id))
        span_links.append(Link(ctx))
    with tracer(tracer_provider).start_as_current_span(
        name,
        context=otel_context.Context(),  # no parent: background work is not part of any one request
        kind=SpanKind.INTERNAL,
        links=span_links,
        attributes=dict(attributes or {}),
    ) as span:
        yield span


def tracer(tracer_provider: Any = None) -> trace.Tracer:
    """switchboard's tracer, for domain spans (`with tracer().start_as_current_span("chain.attempt")`)."""
    return trace.get_tracer(TRACER_NAME, __version__, tracer_provider)
