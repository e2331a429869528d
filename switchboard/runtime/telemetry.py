"""OpenTelemetry setup shared by every service.

Spans are always created (so trace ids reach the logs and propagate to peers), but
exported only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
variant) is set; otherwise nothing is exported and nothing is said about it.
The resource's service.name is `switchboard-<svc>` unless `OTEL_SERVICE_NAME` says
otherwise; `OTEL_RESOURCE_ATTRIBUTES` is merged by the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from switchboard import __version__

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def exporter_configured(env: Mapping[str, str] = os.environ) -> bool:
    return any(env.get(name) for name in _ENDPOINT_VARS)


def build_tracer_provider(service: str, env: Mapping[str, str] = os.environ) -> TracerProvider:
    """A provider for `service`, exporting over OTLP/gRPC only when configured."""
    attributes = {SERVICE_NAME: f"switchboard-{service}", SERVICE_VERSION: __version__}
    if env.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = env["OTEL_SERVICE_NAME"]
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES; explicit attributes win.
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter_configured(env):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
