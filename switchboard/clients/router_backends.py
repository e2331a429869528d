"""Which backends does the running router serve? One line for `switchboard up`,
so a demo answered by the mock never passes for a real model."""

from __future__ import annotations

import grpc

from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.channels import open_channel
from switchboard.runtime.settings import MeshSettings


def describe_backends(backends: list[router_pb2.BackendInfo]) -> str:
    if not backends:
        return "router backends: none configured"
    if all(b.mock for b in backends):
        names = ", ".join(b.name for b in backends)
        return f"router backends: {names} (mock: no real backend configured; answers do not come from a model)"
    parts = [f"{b.name} ({'mock' if b.mock else b.model or 'no model'})" for b in backends]
    return "router backends: " + ", ".join(parts)


async def router_backends_line(settings: MeshSettings, timeout: float = 2.0) -> str:
    """The router's ListBackends as one line; says so when the router cannot tell."""
    channel = open_channel(settings.address_of("router"), settings)
    try:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        listed = await stub.ListBackends(router_pb2.ListBackendsRequest(), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        return f"router backends: unknown (ListBackends: {exc.code().name})"
    finally:
        await channel.close()
    return describe_backends(list(listed.backends))
