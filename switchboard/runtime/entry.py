"""Process entry for one service: settings → logs → telemetry (traces, metrics,
library instrumentation) → app → server → wait for SIGTERM/SIGINT → graceful
shutdown → flush telemetry → exit 0.

Each service folder has an `app.py` with `SETTINGS` (its settings class) and
`create(runtime)`, returning a ServiceApp (gRPC) or an HttpApp (gateway).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
import sys
from types import ModuleType

from opentelemetry import metrics, trace

from switchboard.mesh import BY_NAME, ServiceEntry
from switchboard.runtime.heap import freeze_startup_heap
from switchboard.runtime.http import HttpServer
from switchboard.runtime.logs import configure_logging
from switchboard.runtime.metrics import start_metrics
from switchboard.runtime.server import GrpcServer, Runtime
from switchboard.runtime.settings import SettingsError, load_settings
from switchboard.runtime.telemetry import build_resource, build_tracer_provider, instrument_libraries, otlp_protocol

log = logging.getLogger("switchboard.entry")


def app_module(entry: ServiceEntry) -> ModuleType:
    return importlib.import_module(f"{entry.module}.app")


def run_service(name: str, port: int | None = None) -> int:
    """Runs service `name` until a signal; returns the process exit code."""
    entry = BY_NAME[name]
    module = app_module(entry)
    try:
        settings = load_settings(module.SETTINGS)
    except SettingsError as exc:
        print(f"switchboard {name}: {exc}", file=sys.stderr)
        return 2
    try:  # an OTLP protocol we cannot speak fails here, before anything starts
        for signal in ("traces", "metrics"):
            otlp_protocol(signal)
    except ValueError as exc:
        print(f"switchboard {name}: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, settings.log_level, settings.log_format)
    resource = build_resource(name)
    provider = build_tracer_provider(name, resource=resource)
    trace.set_tracer_provider(provider)
    try:
        exported = start_metrics(resource, host=settings.host, scrape_port=settings.metrics_port_of(name))
    except OSError as exc:
        log.error("cannot start the metrics endpoint", extra={"error": str(exc), "port": settings.metrics_port_of(name)})
        provider.shutdown()
        return 1
    if exported.provider is not None:
        metrics.set_meter_provider(exported.provider)
    if exported.scrape_port:
        log.info("metrics", extra={"url": f"http://{settings.host}:{exported.scrape_port}/metrics"})
    # httpx (backends, probes) and Redis, process-wide; SQL per engine in switchboard.db.
    instrument_libraries(provider, exported.provider)
    runtime = Runtime(settings, tracer_provider=provider, meter_provider=exported.provider)
    try:
        return asyncio.run(_serve(entry, module, runtime, port))
    finally:
        exported.shutdown()  # flushes the last metrics, closes /metrics
        provider.shutdown()  # flushes the last spans


async def _serve(entry: ServiceEntry, module: ModuleType, runtime: Runtime, port: int | None) -> int:
    wanted = runtime.settings.port_of(entry.name) if port is None else port
    app = module.create(runtime)
    server: GrpcServer | HttpServer
    if entry.is_grpc:
        server = GrpcServer(app, runtime, port=wanted, before_serving=freeze_startup_heap)
    else:
        server = HttpServer(app, runtime, port=wanted, before_serving=freeze_startup_heap)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        bound = await server.start()
    except OSError as exc:
        log.error("cannot start", extra={"error": str(exc), "port": wanted})
        return 1
    log.info(
        "serving",
        extra={"grpc_service": entry.grpc_service, "port": bound, "address": f"{runtime.settings.host}:{bound}",
               "frozen_objects": gc.get_freeze_count()},
    )
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    log.info("stopped")
    return 0
