"""Channels to peer services, built in one place: the address from settings,
keepalive, message limits, tracing, and a default deadline on every unary call
(streams are long-lived by nature and carry their own deadlines)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import TracerProvider

from switchboard.runtime.settings import MeshSettings


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


def channel_options(settings: MeshSettings) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Notice a dead peer on an idle connection (e.g. a SIGSTOPped process).
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 0),  # retries are the caller's decision (idempotency)
    ]


class PeerChannels:
    """One lazily opened channel per peer service, shared by every caller."""

    def __init__(self, settings: MeshSettings, tracer_provider: TracerProvider | None = None) -> None:
        self._settings = settings
        self._tracer_provider = tracer_provider
        self._channels: dict[str, grpc.aio.Channel] = {}

    def interceptors(self) -> Sequence[grpc.aio.ClientInterceptor]:
        chain: list[grpc.aio.ClientInterceptor] = [DefaultDeadline(self._settings.peer_timeout_s)]
        if self._tracer_provider is not None:
            chain.extend(aio_client_interceptors(tracer_provider=self._tracer_provider))
        from switchboard.runtime.auth import peer_auth_interceptors  # API keys, only when configured

        chain.extend(peer_auth_interceptors(self._settings))
        return chain

    def address(self, peer: str) -> str:
        return self._settings.address_of(peer)

    def channel(self, peer: str) -> grpc.aio.Channel:
        """The channel to `peer` (router, learning, monitor, briefs, cache)."""
        if peer not in self._channels:
            self._channels[peer] = grpc.aio.insecure_channel(
                self.address(peer),
                options=channel_options(self._settings),
                interceptors=self.interceptors(),
            )
        return self._channels[peer]

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
