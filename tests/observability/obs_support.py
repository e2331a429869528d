"""Helpers of the observability suite: an in-process OTLP/gRPC collector (the
OpenTelemetry collector protocol from `opentelemetry-proto`, on a real gRPC
server) and real service processes exporting to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from prometheus_client.parser import text_string_to_metric_families

from switchboard.testing.infra import free_port  # noqa: F401  (re-exported for the tests)
from switchboard.clients.health import check_address
from switchboard.mesh import BY_NAME

REPO = Path(__file__).resolve().parents[2]

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SPAN_KIND_INTERNAL



def _value(v: common_pb2.AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _attrs(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class Span:
    service: str
    resource: Mapping[str, Any]
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: int
    attributes: Mapping[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace_id, span_id)
    events: tuple[tuple[str, Mapping[str, Any]], ...]  # (name, attributes)

    def __repr__(self) -> str:
        return f"<{self.service} {self.name} kind={self.kind} {self.trace_id[:8]}/{self.span_id[:8]}<-{self.parent_id[:8]}>"


@dataclass
class Collector:
    """Receives OTLP traces and metrics; `spans` and `metric_names` grow as
    exports arrive."""

    spans: list[Span] = field(default_factory=list)
    metrics: list[tuple[str, str, Any]] = field(default_factory=list)  # (service, name, Metric)
    port: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_spans(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        for rs in request.resource_spans:
            resource = _attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(Span(
                        service=str(resource.get("service.name")),
                        resource=resource,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=s.kind,
                        attributes=_attrs(s.attributes),
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
                        events=tuple((e.name, _attrs(e.attributes)) for e in s.events),
                    ))
        self._changed.set()

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        for rm in request.resource_metrics:
            service = str(_attrs(rm.resource.attributes).get("service.name"))
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    self.metrics.append((service, m.name, m))
        self._changed.set()

    def metric_names(self, service: str) -> set[str]:
        return {name for svc, name, _ in self.metrics if svc == service}

    async def wait_for(self, check: Callable[[], Any], timeout: float = 30.0, what: str = "spans") -> Any:
        """Waits until `check()` is truthy and returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; have {len(self.spans)} spans: {self.spans}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    async def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._collector.add_spans(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    async def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._collector.add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@contextlib.asynccontextmanager
async def running_collector(address: str = "127.0.0.1:0") -> Any:
    """A collector on `address` (a free port by default). Raises RuntimeError
    when the address cannot be bound."""
    collector = Collector()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(collector), server)
    collector.port = server.add_insecure_port(address)
    await server.start()
    try:
        yield collector
    finally:
        await server.stop(0)


# --- service processes ---------------------------------------------------------------


def base_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """This environment without SWITCHBOARD_*/OTEL_* settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}
    env.update({
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        "SWITCHBOARD_SHUTDOWN_GRACE_S": "2",
        "SWITCHBOARD_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


def tracing_env(collector: Collector) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }


@dataclass
class Process:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (stderr)."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def start_process(name: str, port: int, env: Mapping[str, str], log_dir: Path, timeout: float = 30.0) -> Process:
    """`python -m services.<svc> --port N`, returned once it is SERVING
    (grpc.health.v1; the gateway's /healthz)."""
    log_path = log_dir / f"{name}.stderr"
    with log_path.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", BY_NAME[name].module, "--port", str(port),
            env=dict(env), cwd=REPO, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink,
        )
    running = Process(name, port, proc, log_path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if proc.returncode is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{running.stderr()}")
        if await _ready(running):
            return running
        if loop.time() > deadline:
            await running.stop()
            raise AssertionError(f"{name} not ready within {timeout} s:\n{running.stderr()}")
        await asyncio.sleep(0.1)


async def _ready(running: Process) -> bool:
    if BY_NAME[running.name].is_grpc:
        return await check_address(running.address, timeout=0.5) == "SERVING"
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://{running.address}/healthz", timeout=0.5)).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def processes() -> Any:
    """Collects started processes and stops them all (reverse order) at the end."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for running in reversed(started):
            await running.stop()


def parent_of(span: Span, spans: Iterable[Span]) -> Span | None:
    return next((s for s in spans if s.span_id == span.parent_id and s.trace_id == span.trace_id), None)


# --- the mesh's request path -----------------------------------------------------------

ROUTER_GENERATE = "/switchboard.router.v1.RouterService/Generate"


def write_backends(path: Path, url: str, names: tuple[str, ...], api_key_env: str = "") -> Path:
    """The router's TOML file: OpenAI-compatible backends at `url`, in priority order."""
    key = f'api_key_env = "{api_key_env}"\n' if api_key_env else ""
    tables = [
        f'[[backends]]\nname = "{name}"\nkind = "openai"\nbase_url = "{url}"\nmodel = "{name}-model"\n'
        f"priority = {10 * (i + 1)}\n{key}"
        for i, name in enumerate(names)
    ]
    path.write_text("\n".join(tables))
    return path


def one(spans: Iterable[Span], service: str, name: str, kind: int) -> Span:
    found = [s for s in spans if s.service == f"switchboard-{service}" and s.name == name and s.kind == kind]
    assert len(found) == 1, (service, name, kind, list(spans))
    return found[0]


def backend_calls(spans: Iterable[Span]) -> list[Span]:
    """The router's HTTP calls to backends (httpx CLIENT spans)."""
    return [s for s in spans if s.service == "switchboard-router" and s.kind == CLIENT and s.name == "POST"]


def background_calls(spans: Iterable[Span]) -> list[Span]:
    """Root CLIENT spans: dependency calls made outside any request or named
    operation (polls, probes, retries), which the sampler leaves out."""
    return [s for s in spans if s.parent_id == "" and s.kind == CLIENT]


# Peer deadlines long enough for a loaded test machine: these tests are about
# traces, and a first Recommend/Lookup that misses its 25/50 ms deadline while
# its channel connects would leave a hop out of the trace.
PATIENT_PEERS = {
    "SWITCHBOARD_ROUTER_RECOMMEND_DEADLINE_S": "5",
    "SWITCHBOARD_ROUTER_CACHE_LOOKUP_DEADLINE_S": "5",
}


# --- scrape endpoints ------------------------------------------------------------------


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(text) for s in fam.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    """The one sample called `name` whose labels include `labels`; None if absent."""
    found = [v for n, lab, v in samples(text) if n == name and labels.items() <= lab.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


# --- an OTLP/HTTP collector (http/protobuf) -------------------------------------------------


@contextlib.asynccontextmanager
async def running_http_collector() -> Any:
    """A collector for OTLP over HTTP (`POST /v1/traces`, `/v1/metrics`,
    protobuf bodies), on a thread-served real socket; what arrives is handed
    to the event loop's `Collector`."""
    import gzip  # noqa: PLC0415
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    collector = Collector()
    loop = asyncio.get_running_loop()
    kinds = {"/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, collector.add_spans,
                            trace_service_pb2.ExportTraceServiceResponse),
             "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, collector.add_metrics,
                             metrics_service_pb2.ExportMetricsServiceResponse)}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            kind = kinds.get(self.path)
            if kind is None or self.headers.get("content-type") != "application/x-protobuf":
                self.send_error(404 if kind is None else 415)
                return
            request_type, add, response_type = kind
            loop.call_soon_threadsafe(add, request_type.FromString(body))
            reply = response_type().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    collector.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
