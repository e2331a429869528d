"""The one gRPC server bootstrap: aio server → health + reflection + telemetry +
interceptors → start → graceful shutdown. Every gRPC service runs through here.

A service hands over a `ServiceApp`; it never builds a server itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.clock import Clock, SystemClock
from switchboard.runtime.admission import AdmissionGate
from switchboard.runtime.errors import ErrorBoundary
from switchboard.runtime.health import SERVING, DrainingHealthServicer
from switchboard.runtime.hygiene import RequestHygiene
from switchboard.runtime.metrics import MeshMetrics, RpcMetrics
from switchboard.runtime.overload import LagEstimate, LoopLagProbe
from switchboard.runtime.settings import MeshSettings
from switchboard.runtime.telemetry import server_interceptor

log = logging.getLogger("switchboard.server")


@dataclass
class Runtime:
    """What the bootstrap gives every service: its collaborators, built once."""

    settings: MeshSettings
    clock: Clock = field(default_factory=SystemClock)
    tracer_provider: TracerProvider | None = None
    channels: PeerChannels | None = None
    # Set when shutdown begins; long-lived streams watch it to end cleanly.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # None when nothing reads metrics (no scrape port, no OTLP endpoint).
    meter_provider: MeterProvider | None = None
    # The domain instruments (switchboard/runtime/metrics.py); without a meter provider they
    # use the global one, a no-op unless the process turned metrics on.
    metrics: MeshMetrics = field(init=False)
    # How far behind the event loop runs; the servers refuse new calls while it is too
    # far, and start and stop the probe that measures it.
    load: LagEstimate = field(init=False)
    lag_probe: LoopLagProbe = field(init=False)

    def __post_init__(self) -> None:
        if self.channels is None:
            self.channels = PeerChannels(self.settings, self.tracer_provider)
        self.metrics = MeshMetrics(self.meter_provider)
        self.load = LagEstimate(self.settings.overload_loop_lag_s)
        self.lag_probe = LoopLagProbe(self.load, on_sample=self.metrics.loop_lag)


class ServiceApp(Protocol):
    """One service as the bootstrap sees it."""

    # Full names of the gRPC services it registers, e.g. "switchboard.router.v1.RouterService".
    service_names: Sequence[str]

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Registers the servicers."""
        ...

    async def start(self) -> None:
        """Opens connections and starts background work, before SERVING."""
        ...

    async def stop(self) -> None:
        """Stops background work and closes connections, after draining."""
        ...


def server_credentials(settings: MeshSettings) -> grpc.ServerCredentials | None:
    """TLS credentials when tls_cert_file/tls_key_file are set (None: plaintext).
    Under tls_client_auth=require, callers must present a certificate that
    chains to tls_ca_file (mutual TLS). The files are read now: a missing or
    unreadable one fails start-up."""
    if not settings.tls_server:
        return None
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    ca = settings.tls_ca_file.read_bytes() if settings.tls_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=ca,
        require_client_auth=settings.tls_client_auth == "require",
    )


class GrpcServer:
    """Runs one ServiceApp on one port."""

    def __init__(
        self,
        app: ServiceApp,
        runtime: Runtime,
        *,
        port: int,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        before_serving: Callable[[], None] | None = None,
    ) -> None:
        self._app = app
        self._before_serving = before_serving  # once the app has started, before SERVING
        self._runtime = runtime
        self._requested_port = port
        self.health = DrainingHealthServicer(runtime.stopping)
        # Outermost first: tracing, golden-signal metrics (so refused calls
        # count too), admission (draining, overloaded), auth, input hygiene
        # (never-valid values), the caller's, then the error boundary right
        # around the servicer.
        self._gate = AdmissionGate(runtime.load)
        from switchboard.runtime.auth import auth_interceptors  # API keys, only when configured

        chain = [
            RpcMetrics(runtime.meter_provider),
            self._gate,
            *auth_interceptors(runtime.settings),
            RequestHygiene(),
            *interceptors,
            ErrorBoundary(),
        ]
        if runtime.tracer_provider is not None:
            chain.insert(0, server_interceptor(runtime.tracer_provider))
        settings = runtime.settings
        self._server = grpc.aio.server(
            interceptors=chain,
            options=[
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        self.port = 0
        self._stopped = asyncio.Event()

    async def start(self) -> int:
        """Starts serving and returns the bound port. SERVING once the app has started."""
        self._app.add_to_server(self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names = [*self._app.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], self._server)
        host = self._runtime.settings.host
        bind = f"[{host}]" if ":" in host else host
        credentials = server_credentials(self._runtime.settings)
        if credentials is None:
            self.port = self._server.add_insecure_port(f"{bind}:{self._requested_port}")
        else:
            self.port = self._server.add_secure_port(f"{bind}:{self._requested_port}", credentials)
        if self.port == 0:
            raise OSError(f"could not bind {host}:{self._requested_port}")
        # Answer NOT_SERVING (not connection refused) while the app starts up.
        for name in ("", *self._app.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        await self._app.start()
        if self._before_serving is not None:
            self._before_serving()
        # Only now: start-up work that holds the loop (e.g. learning rebuilding its
        # model) is not load, and must not have a new service refuse its first calls.
        self._runtime.lag_probe.start()
        for name in ("", *self._app.service_names):
            await self.health.set(name, SERVING)
        return self.port

    async def stop(self) -> None:
        """NOT_SERVING first, then drain in-flight calls for the grace period."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        loop = asyncio.get_running_loop()
        grace = self._runtime.settings.shutdown_grace_s
        deadline = loop.time() + grace
        await self.health.begin_shutdown()
        log.info("draining", extra={"grace_s": grace, "in_flight": self._gate.in_flight})
        # Health still answers (NOT_SERVING) while in-flight calls finish; new
        # calls are refused. Then the server stops, cancelling whatever is left.
        await self._gate.drain(grace)
        try:
            await self._server.stop(max(0.0, deadline - loop.time()))
        finally:
            await self._runtime.lag_probe.stop()
        await self._app.stop()
        if self._runtime.channels is not None:
            await self._runtime.channels.close()

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


Registrar = Callable[[Any, grpc.aio.Server], None]
Hook = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass
class GrpcApp:
    """A ServiceApp built from servicers and optional start/stop hooks, for
    services that need nothing more elaborate."""

    service_names: Sequence[str]
    servicers: Sequence[tuple[Registrar, Any]]  # (add_XServicer_to_server, servicer)
    on_start: Hook = _nothing
    on_stop: Hook = _nothing

    def add_to_server(self, server: grpc.aio.Server) -> None:
        for register, servicer in self.servicers:
            register(servicer, server)

    async def start(self) -> None:
        await self.on_start()

    async def stop(self) -> None:
        await self.on_stop()
