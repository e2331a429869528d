"""Metrics: golden signals for every RPC, the mesh's domain instruments, and
their export.

Export (a service process sets this up in `switchboard.runtime.entry`):
- a Prometheus scrape endpoint, `GET http://<host>:<port>/metrics`, when
  `SWITCHBOARD_<SVC>_METRICS_PORT` is set (0, the default, means none);
- OTLP every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60000) when
  `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_METRICS_ENDPOINT`) is set and neither
  `OTEL_METRICS_EXPORTER=none` nor `OTEL_SDK_DISABLED=true`, over gRPC or
  HTTP as `OTEL_EXPORTER_OTLP_PROTOCOL` (or `…_METRICS_PROTOCOL`) says;
- neither: no meter provider at all, every instrument is a no-op.

Golden signals, recorded by `RpcMetrics`, the server interceptor the bootstrap
installs on every gRPC service (grpc.health.v1 is left out, like in traces).
Attributes: `rpc.system`="grpc", `rpc.service`, `rpc.method`, and on the
duration and errors `rpc.response.status_code` (the code's name: "OK",
"UNAVAILABLE", …). The gateway gets OpenTelemetry's HTTP server metrics
(`http.server.*`) from the ASGI middleware instead.

| instrument (OTel name)                | kind           | unit | Prometheus name                                  |
|---------------------------------------|----------------|------|--------------------------------------------------|
| `rpc.server.call.duration`            | histogram      | s    | `rpc_server_call_duration_seconds_{bucket,sum,count}` |
| `switchboard.rpc.server.requests`     | counter        | call | `switchboard_rpc_server_requests_total`          |
| `switchboard.rpc.server.errors`       | counter        | call | `switchboard_rpc_server_errors_total`            |
| `switchboard.rpc.server.active_calls` | up-down counter| call | `switchboard_rpc_server_active_calls`            |

Domain instruments: call the `MeshMetrics` methods (`runtime.metrics` in every
service), never the names directly, so attributes stay consistent:

| instrument                              | kind      | unit  | method                    | attributes |
|-----------------------------------------|-----------|-------|---------------------------|------------|
| `switchboard.router.tokens`             | counter   | token | `tokens()`                | switchboard.backend, gen_ai.system, gen_ai.request.model, gen_ai.token.type |
| `switchboard.router.time_to_first_token`| histogram | s     | `time_to_first_token()`   | switchboard.backend, gen_ai.request.model |
| `switchboard.router.overhead`           | histogram | s     | `router_overhead()`       | switchboard.backend (the mesh's own time per request, upstream excluded) |
| `switchboard.router.attempts`           | counter   | 1     | `attempt()`               | switchboard.backend, switchboard.outcome |
| `switchboard.router.fallbacks`          | counter   | 1     | `fallback()`              | switchboard.backend (from), switchboard.fallback.to, switchboard.fallback.reason |
| `switchboard.router.outcomes_dropped`   | counter   | 1     | `outcomes_dropped()`      | (outcome queue overflow) |
| `switchboard.cache.lookups`             | counter   | 1     | `cache_lookup()`          | switchboard.cache.result = hit / miss (hit ratio = hit / all) |
| `switchboard.breaker.state`             | gauge     | 1     | `breaker_state()`         | switchboard.breaker; 0 closed, 1 half_open, 2 open, 3 forced_open, 4 disabled |
| `switchboard.breaker.transitions`       | counter   | 1     | `breaker_state()`         | switchboard.breaker, switchboard.breaker.state (the new one) |
| `switchboard.monitor.restarts`          | counter   | 1     | `restart()`               | switchboard.service (the one restarted) |
| `switchboard.monitor.alerts`            | counter   | 1     | `alert()`                 | switchboard.alert.severity, switchboard.alert.kind |
| `switchboard.gateway.concurrency_limit` | gauge     | request | `concurrency_limit()`   | (the adaptive limit on chat completions in flight, when on) |
| `switchboard.gateway.refused`           | counter   | request | `refused()`             | (chat completions refused at that limit: 503) |

Prometheus names: dots become underscores, the unit is appended (`_seconds`),
counters end in `_total`; `target_info` carries the resource (service.name).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from switchboard import __version__
from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor
from switchboard.runtime.health import HEALTH_PREFIX
from switchboard.runtime.telemetry import (
    BACKEND,
    BREAKER,
    BREAKER_STATE,
    FALLBACK_REASON,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_SYSTEM,
    GEN_AI_TOKEN_TYPE,
    OUTCOME,
    otlp_protocol,
    sdk_disabled,
)

log = logging.getLogger("switchboard.rpc")

METER_NAME = "switchboard"

# Golden signals.
RPC_DURATION = "rpc.server.call.duration"
RPC_REQUESTS = "switchboard.rpc.server.requests"
RPC_ERRORS = "switchboard.rpc.server.errors"
RPC_ACTIVE = "switchboard.rpc.server.active_calls"
EVENT_LOOP_LAG = "switchboard.event_loop.lag"

# Domain instruments (see the table above).
ROUTER_TOKENS = "switchboard.router.tokens"
ROUTER_TIME_TO_FIRST_TOKEN = "switchboard.router.time_to_first_token"
ROUTER_OVERHEAD = "switchboard.router.overhead"
ROUTER_ATTEMPTS = "switchboard.router.attempts"
ROUTER_FALLBACKS = "switchboard.router.fallbacks"
ROUTER_OUTCOMES_DROPPED = "switchboard.router.outcomes_dropped"
CACHE_LOOKUPS = "switchboard.cache.lookups"
BREAKER_STATE_GAUGE = "switchboard.breaker.state"
BREAKER_TRANSITIONS = "switchboard.breaker.transitions"
MONITOR_RESTARTS = "switchboard.monitor.restarts"
MONITOR_ALERTS = "switchboard.monitor.alerts"
GATEWAY_CONCURRENCY_LIMIT = "switchboard.gateway.concurrency_limit"
GATEWAY_REFUSED = "switchboard.gateway.refused"

# Metric attributes (span attributes come from telemetry.py).
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_STATUS = "rpc.response.status_code"
FALLBACK_TO = "switchboard.fallback.to"
CACHE_RESULT = "switchboard.cache.result"
SERVICE = "switchboard.service"
ALERT_SEVERITY = "switchboard.alert.severity"
ALERT_KIND = "switchboard.alert.kind"

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2, "forced_open": 3, "disabled": 4}

# Seconds, from a cache hit (~1 ms) to a long generation (minutes).
LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)

_UNTRACKED_PREFIXES = (HEALTH_PREFIX,)


# --- export -------------------------------------------------------------------------


def exporter_configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether metrics go out over OTLP."""
    if sdk_disabled(env) or env.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))


@dataclass
class MetricsExport:
    """A service's meter provider and its scrape endpoint; `provider` is None
    when nothing reads metrics (no scrape port, no OTLP endpoint)."""

    provider: MeterProvider | None = None
    scrape_port: int = 0  # the bound port; 0 when there is no endpoint
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def shutdown(self) -> None:
        """Flushes OTLP, closes the scrape endpoint."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.provider is not None:
            self.provider.shutdown()


def start_metrics(
    resource: Resource,
    *,
    host: str = "127.0.0.1",
    scrape_port: int = 0,
    env: Mapping[str, str] = os.environ,
    extra_readers: tuple[MetricReader, ...] = (),
) -> MetricsExport:
    """Builds the meter provider with the readers that are configured, and
    starts the scrape endpoint (a daemon thread) when `scrape_port` is set.
    Raises OSError when the port cannot be bound, ValueError on an
    unsupported OTLP protocol."""
    readers: list[MetricReader] = list(extra_readers)
    if exporter_configured(env):
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415

        exporter: Any
        if otlp_protocol("metrics", env) == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

            exporter = OTLPMetricExporter()
        else:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter as GrpcMetricExporter,
            )

            exporter = GrpcMetricExporter()
        readers.append(PeriodicExportingMetricReader(exporter))
    server = thread = None
    bound = 0
    if scrape_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
        from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415

        # A registry of our own, not prometheus_client's global one: one
        # provider's metrics per endpoint, even with several services in one process.
        registry = CollectorRegistry(auto_describe=False)
        readers.append(PrometheusMetricReader(registry=registry))
        bind = "0.0.0.0" if host in ("", "0.0.0.0") else host
        server, thread = start_http_server(scrape_port, addr=bind, registry=registry)
        bound = server.server_port
    if not readers:
        return MetricsExport()
    provider = MeterProvider(resource=resource, metric_readers=readers)
    return MetricsExport(provider, bound, server, thread)


# --- golden signals -----------------------------------------------------------------


def _split_method(full: str) -> tuple[str, str]:
    """"/pkg.Service/Method" → ("pkg.Service", "Method")."""
    _, service, method = (full.split("/") + ["", ""])[:3]
    return service, method


class RpcMetrics(WrappingInterceptor):
    """Latency, traffic, errors by code and calls in flight per service and
    RPC; plus one DEBUG line per finished call (inside the call's span, so it
    carries the trace id)."""

    def __init__(self, meter_provider: ApiMeterProvider | None = None) -> None:
        super().__init__()
        meter = metrics.get_meter(METER_NAME, __version__, meter_provider)  # None: the process's (global) one
        self._duration = meter.create_histogram(
            RPC_DURATION, unit="s", description="Duration of RPCs served, by method and status code.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self._requests = meter.create_counter(RPC_REQUESTS, unit="{call}", description="RPCs received.")
        self._errors = meter.create_counter(
            RPC_ERRORS, unit="{call}", description="RPCs that ended with a status other than OK, by code."
        )
        self._active = meter.create_up_down_counter(RPC_ACTIVE, unit="{call}", description="RPCs in flight.")

    def _begin(self, attrs: dict[str, str]) -> float:
        self._requests.add(1, attrs)
        self._active.add(1, attrs)
        return time.perf_counter()

    def _end(self, full_method: str, attrs: dict[str, str], started: float, code: grpc.StatusCode) -> None:
        elapsed = time.perf_counter() - started
        self._active.add(-1, attrs)
        done = {**attrs, RPC_STATUS: code.name}
        self._duration.record(elapsed, done)
        if code is not grpc.StatusCode.OK:
            self._errors.add(1, done)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rpc", extra={"method": full_method, "code": code.name, "duration_ms": round(elapsed * 1000, 3)})

    @staticmethod
    def _code(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
        if isinstance(exc, asyncio.CancelledError):
            return grpc.StatusCode.CANCELLED
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            return code
        return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        return method.startswith(_UNTRACKED_PREFIXES)

    @staticmethod
    def _attrs(full: str) -> dict[str, str]:
        service, method = _split_method(full)
        return {RPC_SYSTEM: "grpc", RPC_SERVICE: service, RPC_METHOD: method}

    def wrap_unary(self, full: str, behavior: Unary) -> Unary:
        attrs = self._attrs(full)

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = self._begin(attrs)
            error: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._end(full, attrs, started, self._code(context, error))

        return observed

    def wrap_stream(self, full: str, behavior: Stream) -> Stream:
        attrs = self._attrs(full)

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = self._begin(attrs)
            error: BaseException | None = None
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._end(full, attrs, started, self._code(context, error))

        return observed


# --- domain instruments -------------------------------------------------------------


class MeshMetrics:
    """The domain instruments, one method per measurement. Built from the
    service's meter provider (None: the process's global one, which a service
    process sets when metrics are on and which is a no-op otherwise)."""

    def __init__(self, meter_provider: ApiMeterProvider | None = None) -> None:
        meter = metrics.get_meter(METER_NAME, __version__, meter_provider)  # None: the process's (global) one
        self._tokens = meter.create_counter(ROUTER_TOKENS, unit="{token}", description="Tokens streamed, by backend and type.")
        self._ttft = meter.create_histogram(
            ROUTER_TIME_TO_FIRST_TOKEN, unit="s", description="Time from request to the first token.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self._overhead = meter.create_histogram(
            ROUTER_OVERHEAD, unit="s", description="Time the mesh adds to a request, upstream time excluded.",
            explicit_bucket_boundaries_advisory=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self._attempts = meter.create_counter(ROUTER_ATTEMPTS, unit="{attempt}", description="Backend attempts, by outcome.")
        self._fallbacks = meter.create_counter(ROUTER_FALLBACKS, unit="{fallback}", description="Moves to the next backend.")
        self._dropped = meter.create_counter(
            ROUTER_OUTCOMES_DROPPED, unit="{outcome}", description="Outcomes dropped because the queue was full."
        )
        self._lookups = meter.create_counter(CACHE_LOOKUPS, unit="{lookup}", description="Cache lookups, by hit or miss.")
        self._breaker = meter.create_gauge(
            BREAKER_STATE_GAUGE, unit="1",
            description="Breaker state: 0 closed, 1 half_open, 2 open, 3 forced_open, 4 disabled.",
        )
        self._transitions = meter.create_counter(
            BREAKER_TRANSITIONS, unit="{transition}", description="Breaker state changes, by new state."
        )
        self._restarts = meter.create_counter(MONITOR_RESTARTS, unit="{restart}", description="Service restarts.")
        self._alerts = meter.create_counter(MONITOR_ALERTS, unit="{alert}", description="Alerts raised.")
        self._loop_lag = meter.create_gauge(
            EVENT_LOOP_LAG, unit="s",
            description="How far behind the event loop runs (median of recent samples); above SWITCHBOARD_OVERLOAD_LOOP_LAG_S new calls are refused.",
        )
        self._concurrency_limit = meter.create_gauge(
            GATEWAY_CONCURRENCY_LIMIT, unit="{request}",
            description="The gateway's adaptive limit on LLM requests in flight (SWITCHBOARD_GATEWAY_ADAPTIVE_LIMIT).",
        )
        self._refused = meter.create_counter(
            GATEWAY_REFUSED, unit="{request}", description="LLM requests the gateway refused at its adaptive limit (503)."
        )

    def tokens(self, count: int, *, backend: str, model: str = "", system: str = "", token_type: str = "output") -> None:
        """`count` tokens streamed (output) or sent (input) through `backend`."""
        if count > 0:
            self._tokens.add(count, {BACKEND: backend, GEN_AI_SYSTEM: system, GEN_AI_REQUEST_MODEL: model,
                                     GEN_AI_TOKEN_TYPE: token_type})

    def time_to_first_token(self, seconds: float, *, backend: str, model: str = "") -> None:
        self._ttft.record(seconds, {BACKEND: backend, GEN_AI_REQUEST_MODEL: model})

    def router_overhead(self, seconds: float, *, backend: str = "") -> None:
        """The router's own time for one request: total minus time waiting on the backend."""
        self._overhead.record(max(0.0, seconds), {BACKEND: backend})

    def attempt(self, *, backend: str, outcome: str) -> None:
        self._attempts.add(1, {BACKEND: backend, OUTCOME: outcome})

    def fallback(self, *, from_backend: str, to_backend: str, reason: str) -> None:
        self._fallbacks.add(1, {BACKEND: from_backend, FALLBACK_TO: to_backend, FALLBACK_REASON: reason})

    def outcomes_dropped(self, count: int = 1) -> None:
        self._dropped.add(count)

    def cache_lookup(self, *, hit: bool) -> None:
        self._lookups.add(1, {CACHE_RESULT: "hit" if hit else "miss"})

    def breaker_state(self, breaker: str, state: str, *, transition: bool = True) -> None:
        """Records `breaker`'s current state ("closed", "open", …, see
        BREAKER_STATES); counts a transition unless `transition` is False
        (e.g. the initial report)."""
        key = state.lower()
        if key not in BREAKER_STATES:
            raise ValueError(f"unknown breaker state {state!r}; expected one of {sorted(BREAKER_STATES)}")
        self._breaker.set(BREAKER_STATES[key], {BREAKER: breaker})
        if transition:
            self._transitions.add(1, {BREAKER: breaker, BREAKER_STATE: key})

    def loop_lag(self, seconds: float) -> None:
        self._loop_lag.set(seconds)

    def concurrency_limit(self, limit: int) -> None:
        self._concurrency_limit.set(limit)

    def refused(self, count: int = 1) -> None:
        self._refused.add(count)

    def restart(self, *, service: str) -> None:
        self._restarts.add(1, {SERVICE: service})

    def alert(self, *, severity: str, kind: str) -> None:
        self._alerts.add(1, {ALERT_SEVERITY: severity, ALERT_KIND: kind})
