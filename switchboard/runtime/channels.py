"""Channels to peer services, built in one place: the address from settings,
keepalive, message limits, tracing, round robin over a peer's replicas, and a
default deadline on every unary call (streams are long-lived by nature and
carry their own deadlines)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from opentelemetry.sdk.trace import TracerProvider

from switchboard.runtime.settings import MeshSettings
from switchboard.runtime.telemetry import client_interceptors


class DefaultDeadline(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives a unary call without a timeout the peer's default deadline."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = client_call_details._replace(timeout=self._seconds)  # type: ignore[attr-defined]
        return await continuation(client_call_details, request)


_ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel_options(settings: MeshSettings, *, round_robin: bool = True) -> list[tuple[str, Any]]:
    """Options of every channel to a peer. `round_robin=False` for a health
    watcher: its Watch streams and Checks must all see the same replica."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Notice a dead peer on an idle connection (e.g. a SIGSTOPped process).
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 0),  # retries are the caller's decision (idempotency)
    ]
    if round_robin:
        # A peer address naming several replicas (a DNS name with several
        # records, or ipv4:a:port,b:port) spreads calls over every replica that
        # is up; gRPC's default (pick_first) would send them all to one.
        options.append(("grpc.service_config", _ROUND_ROBIN))
    return options


def channel_credentials(settings: MeshSettings) -> grpc.ChannelCredentials | None:
    """TLS credentials for calls to peers when TLS is configured (None: plaintext):
    peers are verified against tls_ca_file (else the system roots), and this
    service's certificate is presented when it has one (mutual TLS)."""
    if not settings.tls_client:
        return None
    ca = settings.tls_ca_file.read_bytes() if settings.tls_ca_file is not None else None
    key = settings.tls_key_file.read_bytes() if settings.tls_key_file is not None else None
    cert = settings.tls_cert_file.read_bytes() if settings.tls_cert_file is not None else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def open_channel(
    address: str,
    settings: MeshSettings | None,
    *,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
) -> grpc.aio.Channel:
    """A channel to `address`, over TLS when `settings` configure it (plaintext
    without settings): every client in the mesh opens its channels here."""
    credentials = channel_credentials(settings) if settings is not None else None
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)
    assert settings is not None
    opts = list(options)
    if settings.tls_server_name:
        opts.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return grpc.aio.secure_channel(address, credentials, options=opts, interceptors=interceptors)


class PeerChannels:
    """One lazily opened channel per peer service, shared by every caller."""

    def __init__(self, settings: MeshSettings, tracer_provider: TracerProvider | None = None) -> None:
        self._settings = settings
        self._tracer_provider = tracer_provider
        self._channels: dict[str, grpc.aio.Channel] = {}

    def interceptors(self) -> Sequence[grpc.aio.ClientInterceptor]:
        chain: list[grpc.aio.ClientInterceptor] = [DefaultDeadline(self._settings.peer_timeout_s)]
        if self._tracer_provider is not None:
            chain.extend(client_interceptors(self._tracer_provider))
        from switchboard.runtime.auth import peer_auth_interceptors  # API keys, only when configured

        chain.extend(peer_auth_interceptors(self._settings))
        return chain

    def address(self, peer: str) -> str:
        return self._settings.address_of(peer)

    def channel(self, peer: str) -> grpc.aio.Channel:
        """The channel to `peer` (router, learning, monitor, briefs, cache)."""
        if peer not in self._channels:
            self._channels[peer] = open_channel(
                self.address(peer),
                self._settings,
                options=channel_options(self._settings),
                interceptors=self.interceptors(),
            )
        return self._channels[peer]

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
