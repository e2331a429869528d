"""Structured logs: one JSON object a line, carrying the current trace and span ids
so a log line leads to its trace in Jaeger."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _trace_ids() -> dict[str, str]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_trace_ids())
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        extra.update(_trace_ids())
        return line + ("" if not extra else " " + " ".join(f"{k}={v}" for k, v in extra.items()))


class DemoteDetachNoise(logging.Filter):
    """OpenTelemetry logs "Failed to detach context" at ERROR, with a traceback,
    whenever an instrumented stream is closed from another task (a caller
    cancelling a stream): opentelemetry-python-contrib#2357, log-only, nothing
    is lost. Shown at DEBUG instead, so real errors stay visible."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Failed to detach context"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = record.exc_info if logging.getLogger().isEnabledFor(logging.DEBUG) else None
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Sends every logger to stderr in the chosen format. Called once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO (uvicorn access lines, httpx requests) is noise here.
    context_logger = logging.getLogger("opentelemetry.context")
    if not any(isinstance(f, DemoteDetachNoise) for f in context_logger.filters):
        context_logger.addFilter(DemoteDetachNoise())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
