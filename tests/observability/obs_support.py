"""Helpers of the observability suite: an in-process OTLP/gRPC collector (the
OpenTelemetry collector protocol from `opentelemetry-proto`, on a real gRPC
server) and real service processes exporting to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
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

from switchboard.clients.health import check_address
from switchboard.mesh import BY_NAME

REPO = Path(__file__).resolve().parents[2]

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SPAN_KIND_INTERNAL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
async def running_collector() -> Any:
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(collector), server)
    collector.port = server.add_insecure_port("127.0.0.1:0")
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
