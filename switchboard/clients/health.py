"""grpc.health.v1 Check as one call that never raises: a status name or why not."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchboard.runtime.channels import open_channel
from switchboard.runtime.settings import MeshSettings

UNREACHABLE = "UNREACHABLE"


async def check(channel: grpc.aio.Channel, service: str = "", timeout: float = 1.0) -> str:
    """SERVING / NOT_SERVING / SERVICE_UNKNOWN, NOT_FOUND for an unknown service,
    or UNREACHABLE when the server does not answer within `timeout`."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        return "NOT_FOUND" if exc.code() == grpc.StatusCode.NOT_FOUND else UNREACHABLE
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def check_address(
    address: str, service: str = "", timeout: float = 1.0, settings: MeshSettings | None = None
) -> str:
    """`check` on a fresh channel; over TLS when `settings` configure it."""
    async with open_channel(address, settings) as channel:
        return await check(channel, service, timeout)
