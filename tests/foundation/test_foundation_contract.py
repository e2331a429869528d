"""Contract of every gRPC service: grpc.health.v1 Check and Watch, server
reflection as grpcurl sees it, every method of the proto described."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchboard.mesh import ServiceEntry
from switchboard.runtime.settings import MeshSettings
from foundation_support import GRPC_SERVICES, proto_service, run_process

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

by_service = pytest.mark.parametrize("entry", GRPC_SERVICES, ids=lambda e: e.name)


async def _start(serve, service_settings: Callable[..., MeshSettings], entry: ServiceEntry):
    return await serve(entry.name, settings=service_settings(entry.name))


@by_service
async def test_check_whole_server_and_own_name_serving_unknown_not_found(serve, service_settings, entry):
    running = await _start(serve, service_settings, entry)
    health = health_pb2_grpc.HealthStub(running.channel)

    for name in ("", entry.grpc_service):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == SERVING, name

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@by_service
async def test_watch_reports_serving_then_not_serving_and_ends_on_shutdown(serve, service_settings, entry):
    running = await _start(serve, service_settings, entry)
    health = health_pb2_grpc.HealthStub(running.channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=entry.grpc_service))

    first = await asyncio.wait_for(watch.read(), 5)
    assert first.status == SERVING

    stopping = asyncio.create_task(running.server.stop())
    second = await asyncio.wait_for(watch.read(), 5)
    assert second.status == NOT_SERVING
    # ...and then the stream ends by itself instead of holding shutdown for the grace period.
    assert await asyncio.wait_for(watch.read(), 5) is grpc.aio.EOF
    assert await watch.code() == grpc.StatusCode.OK
    await asyncio.wait_for(stopping, 10)


@by_service
async def test_grpcurl_lists_service_health_and_reflection(serve, service_settings, entry, grpcurl):
    running = await _start(serve, service_settings, entry)
    done = await run_process(grpcurl, "-plaintext", running.address, "list")
    assert done.returncode == 0, done.stderr
    listed = set(done.stdout.split())
    assert {entry.grpc_service, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= listed


@by_service
async def test_grpcurl_describe_shows_every_method_of_the_proto(serve, service_settings, entry, grpcurl):
    running = await _start(serve, service_settings, entry)
    done = await run_process(grpcurl, "-plaintext", running.address, "describe", entry.grpc_service)
    assert done.returncode == 0, done.stderr
    assert f"{entry.grpc_service} is a service" in done.stdout

    service = proto_service(entry)
    assert service.methods, "the generated descriptor has no methods"
    described = {m.group(1): m.group(0) for m in re.finditer(r"rpc (\w+) \(.*?\) returns \(.*?\)", done.stdout)}
    assert set(described) == {m.name for m in service.methods}
    for method in service.methods:
        line = described[method.name]
        request, response = re.match(r"rpc \w+ \((.*?)\) returns \((.*?)\)", line).groups()  # type: ignore[union-attr]
        assert request.strip().endswith(method.input_type.full_name), line
        assert response.strip().endswith(method.output_type.full_name), line
        assert ("stream" in request) == method.client_streaming, line
        assert ("stream" in response) == method.server_streaming, line
