"""Structured logs: one JSON object a line, with the trace and span ids of the
current span; and the server's OpenTelemetry instrumentation making those spans."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime.logs import JsonFormatter
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.services import start_service

CACHE = cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("cache"))
    logger = logging.getLogger("switchboard.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line is one whole object


def test_one_json_object_a_line_with_trace_ids_inside_a_span(json_log) -> None:
    logger, stream = json_log
    tracer = TracerProvider().get_tracer("test")
    logger.info("outside")
    with tracer.start_as_current_span("work") as span:
        logger.warning("inside %s", "the span", extra={"backend": "mock", "attempt": 2})
        ctx = span.get_span_context()
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logger.exception("it broke\nbadly")

    outside, inside, broken = _lines(stream)
    assert "trace_id" not in outside and "span_id" not in outside
    assert outside["msg"] == "outside" and outside["level"] == "INFO" and outside["service"] == "cache"

    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    assert inside["msg"] == "inside the span"
    assert inside["backend"] == "mock" and inside["attempt"] == 2
    assert inside["level"] == "WARNING" and inside["logger"] == "switchboard.test.json"
    assert inside["ts"].endswith("+00:00")

    # Multi-line messages and tracebacks stay on one line.
    assert broken["msg"] == "it broke\nbadly"
    assert "ValueError: line one" in broken["exc"]


class Cache(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    async def Stats(self, request, context):  # noqa: N802
        self._logger.info("stats asked")
        return cache_pb2.StatsResponse(size=1)


async def test_server_spans_carry_the_trace_into_the_logs(json_log, tmp_path) -> None:
    logger, stream = json_log
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = Runtime(MeshSettings(data_dir=tmp_path, shutdown_grace_s=1.0), tracer_provider=provider)
    app = GrpcApp(service_names=[CACHE], servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, Cache(logger))])
    running = await start_service("cache", runtime, app)
    try:
        await cache_pb2_grpc.CacheServiceStub(running.channel).Stats(cache_pb2.StatsRequest(), timeout=5)
        # Health (Watch in particular) still works behind the tracing interceptor.
        health = health_pb2_grpc.HealthStub(running.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=CACHE))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    finally:
        await running.stop()

    spans = [s for s in exporter.get_finished_spans() if s.name == f"/{CACHE}/Stats"]
    assert len(spans) == 1
    (line,) = _lines(stream)
    assert line["msg"] == "stats asked"
    assert line["trace_id"] == format(spans[0].context.trace_id, "032x")
    assert line["span_id"] == format(spans[0].context.span_id, "016x")
    # Health probes are not traced (noise).
    assert not [s for s in exporter.get_finished_spans() if "grpc.health" in s.name]


def test_upstream_detach_noise_is_demoted_not_hidden(caplog: pytest.LogCaptureFixture) -> None:
    """opentelemetry-python-contrib#2357: log-only noise, kept at DEBUG."""
    import logging

    from switchboard.runtime.logs import DemoteDetachNoise

    noisy = logging.getLogger("opentelemetry.context")
    noisy.addFilter(DemoteDetachNoise())
    root = logging.getLogger()
    old = root.level
    try:
        root.setLevel(logging.INFO)
        with caplog.at_level(logging.INFO):
            noisy.error("Failed to detach context")
            noisy.error("something else broke")
        messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "opentelemetry.context"]
        assert messages == [("ERROR", "something else broke")]
        caplog.clear()
        root.setLevel(logging.DEBUG)
        with caplog.at_level(logging.DEBUG):
            noisy.error("Failed to detach context")
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", "Failed to detach context")]
    finally:
        root.setLevel(old)
        for f in [f for f in noisy.filters if isinstance(f, DemoteDetachNoise)]:
            noisy.removeFilter(f)
