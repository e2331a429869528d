"""Every RPC of the BriefService contract is implemented and reachable over
real gRPC (none answers UNIMPLEMENTED), and server reflection lists the service."""

from __future__ import annotations

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.briefs.settings import BriefsSettings
from switchboard.briefs.v1 import briefs_pb2
from switchboard.runtime.clock import ManualClock

SERVICE = briefs_pb2.DESCRIPTOR.services_by_name["BriefService"]


async def test_every_rpc_is_implemented_and_reflected(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    settings = briefs_settings.model_copy(update={"briefs_scheduler_enabled": False})
    running = await serve("briefs", settings=settings, clock=ManualClock())
    channel: grpc.aio.Channel = running.channel
    assert len(SERVICE.methods) == 20
    answered: dict[str, grpc.StatusCode] = {}
    for method in SERVICE.methods:
        request_class = getattr(briefs_pb2, method.input_type.name)
        response_class = getattr(briefs_pb2, method.output_type.name)
        request = request_class(owner_id="ann")
        path = f"/{SERVICE.full_name}/{method.name}"
        try:
            if method.server_streaming:
                call = channel.unary_stream(path, request_serializer=request_class.SerializeToString,
                                            response_deserializer=response_class.FromString)(request, timeout=1.0)
                await call.initial_metadata()  # the stream is open (WatchBriefs never ends on its own)
                call.cancel()
                answered[method.name] = grpc.StatusCode.OK
            else:
                await channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)(request, timeout=10.0)
                answered[method.name] = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            answered[method.name] = exc.code()
    assert sorted(answered) == sorted(m.name for m in SERVICE.methods)
    unimplemented = [name for name, code in answered.items() if code == grpc.StatusCode.UNIMPLEMENTED]
    assert unimplemented == [], answered
    # A bare request is either fine or refused for the caller's mistake, never a server fault.
    assert set(answered.values()) <= {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}, answered

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    reply = None
    async for reply in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
        break
    assert reply is not None
    assert SERVICE.full_name in [s.name for s in reply.list_services_response.service]
