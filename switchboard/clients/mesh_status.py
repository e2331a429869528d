"""Is each service of the mesh up? grpc.health.v1 for gRPC services, /healthz
for the gateway, all reported in grpc.health.v1 terms."""

from __future__ import annotations

import asyncio

import httpx

from switchboard.clients.health import UNREACHABLE, check_address
from switchboard.mesh import SERVICES, ServiceEntry
from switchboard.runtime.settings import MeshSettings


async def service_status(entry: ServiceEntry, settings: MeshSettings, timeout: float = 1.0) -> str:
    address = settings.address_of(entry.name)
    if entry.grpc_service is not None:
        return await check_address(address, entry.grpc_service, timeout, settings)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            reply = await client.get(f"http://{address}/healthz")
    except httpx.HTTPError:
        return UNREACHABLE
    return "SERVING" if reply.status_code == 200 else "NOT_SERVING"


async def mesh_status(settings: MeshSettings, timeout: float = 1.0) -> dict[str, str]:
    statuses = await asyncio.gather(*(service_status(e, settings, timeout) for e in SERVICES))
    return {e.name: s for e, s in zip(SERVICES, statuses, strict=True)}
