"""The REST face over real services: routes come from the protos' annotations,
errors follow the standard table, streams are SSE, /openapi.json covers it all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from services.gateway.settings import GatewaySettings
from services.gateway.transcoding import TranscodingError, compile_template, mesh_routes
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.settings import MeshSettings
from switchboard.runtime.status import FieldViolation, InvalidArgument


class _Router(router_pb2_grpc.RouterServiceServicer):
    """A small real router for the gateway to talk to (the real one is issue #3)."""

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        if not request.prompt:
            raise InvalidArgument([FieldViolation("prompt", "must not be empty")])
        yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(backend="b1", model="m"))
        for word in request.prompt.split():
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=word))
        if request.topic == "fail-midway":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "every backend failed")
        yield router_pb2.GenerateResponse(done=router_pb2.DoneEvent(backend="b1"))

    async def SetBreakerState(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if request.backend != "b1":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no backend {request.backend}")
        return router_pb2.SetBreakerStateResponse(
            backend=router_pb2.BackendInfo(name=request.backend, breaker_state=router_pb2.BREAKER_STATE_FORCED_OPEN)
        )


class _Cache(cache_pb2_grpc.CacheServiceServicer):
    async def Lookup(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return cache_pb2.LookupResponse(found=request.key == "k/1", entry=cache_pb2.CacheEntry(key=request.key, hits=3))


@pytest.fixture
async def gateway(serve: Any, tmp_path: Any) -> AsyncIterator[httpx.AsyncClient]:
    router = await serve("router", app=GrpcApp(
        service_names=["switchboard.router.v1.RouterService"],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, _Router())]))
    cache = await serve("cache", app=GrpcApp(
        service_names=["switchboard.cache.v1.CacheService"],
        servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, _Cache())]))
    settings = MeshSettings(data_dir=tmp_path, router_address=router.address, cache_address=cache.address,
                            learning_address="127.0.0.1:1", shutdown_grace_s=1)
    gw = await serve("gateway", settings=settings)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.port}", timeout=10) as client:
        yield client


def test_every_annotated_rpc_has_a_route() -> None:
    from services.gateway.transcoding import mesh_service_descriptors
    from google.api import annotations_pb2

    annotated = {
        f"/{m.containing_service.full_name}/{m.name}"
        for svc, _ in mesh_service_descriptors() for m in svc.methods
        if m.GetOptions().HasExtension(annotations_pb2.http)
    }
    assert annotated == {r.grpc_path for r in mesh_routes()}
    assert len(annotated) > 30


def test_templates() -> None:
    pattern, variables = compile_template("/v1/router/backends/{backend}:setBreakerState")
    assert variables == ("backend",)
    assert pattern.fullmatch("/v1/router/backends/b-1:setBreakerState").group(1) == "b-1"
    assert pattern.fullmatch("/v1/router/backends/a/b:setBreakerState") is None
    pattern, variables = compile_template("/v1/{name=things/*}/x/{rest=**}")
    found = pattern.fullmatch("/v1/things/7/x/a/b/c")
    assert found and found.groups() == ("things/7", "a/b/c") and variables == ("name", "rest")


def test_bad_field_is_named() -> None:
    route = next(r for r in mesh_routes() if r.template == "/v1/router/complete")
    with pytest.raises(TranscodingError) as err:
        route.build_request({}, [], {"maxTokens": "lots"})
    assert err.value.field == "maxTokens"


def test_query_parameters_fill_repeated_fields_even_once() -> None:
    from switchboard.briefs.v1 import briefs_pb2

    route = next(r for r in mesh_routes() if r.template == "/v1/briefs/owners/{owner_id}/briefs:watch")
    one = route.build_request({"owner_id": "ann"}, [("kinds", "BRIEF_KIND_MORNING")], None)
    assert list(one.kinds) == [briefs_pb2.BRIEF_KIND_MORNING] and one.owner_id == "ann"
    two = route.build_request({"owner_id": "ann"}, [("kinds", "BRIEF_KIND_MORNING"), ("kinds", "BRIEF_KIND_EVENING")], None)
    assert list(two.kinds) == [briefs_pb2.BRIEF_KIND_MORNING, briefs_pb2.BRIEF_KIND_EVENING]
    # The path variable wins over the same field in the query; a scalar given twice is an error.
    assert route.build_request({"owner_id": "ann"}, [("owner_id", "bob")], None).owner_id == "ann"
    tasks = next(r for r in mesh_routes() if r.template == "/v1/briefs/owners/{owner_id}/tasks" and r.http_method == "GET")
    with pytest.raises(TranscodingError) as err:
        tasks.build_request({"owner_id": "ann"}, [("page_size", "1"), ("page_size", "2")], None)
    assert err.value.field == "page_size"


async def test_unary_route_with_path_variable(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.post("/v1/router/backends/b1:setBreakerState", json={"command": "BREAKER_COMMAND_FORCE_OPEN"})
    assert reply.status_code == 200
    assert reply.json()["backend"]["breakerState"] == "BREAKER_STATE_FORCED_OPEN"
    reply = await gateway.post("/v1/router/backends/zz:setBreakerState", json={})
    assert reply.status_code == 404 and reply.json()["error"]["status"] == "NOT_FOUND"


async def test_get_with_path_key(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/v1/cache/entries/k%2F1")  # an escaped slash stays in the key
    assert reply.status_code == 200
    body = reply.json()
    assert body["found"] is True and body["entry"]["key"] == "k/1" and body["entry"]["hits"] == "3"


async def test_error_table(gateway: httpx.AsyncClient) -> None:
    # UNIMPLEMENTED → 501, UNAVAILABLE (learning down) → 503, INVALID_ARGUMENT → 400 with violations
    assert (await gateway.get("/v1/router/backends")).status_code == 501
    down = await gateway.post("/v1/learning/recommend", json={})
    assert down.status_code == 503 and down.json()["error"]["status"] == "UNAVAILABLE"
    assert down.headers["retry-after"] == "1"
    bad = await gateway.post("/v1/router/generate", json={"prompt": ""})
    assert bad.status_code == 400 and "retry-after" not in bad.headers
    assert bad.json()["error"]["fieldViolations"] == [{"field": "prompt", "description": "must not be empty"}]


async def test_bad_requests_are_4xx_with_a_message(gateway: httpx.AsyncClient) -> None:
    cases = [
        gateway.post("/v1/router/complete", content=b"{nope", headers={"content-type": "application/json"}),
        gateway.post("/v1/router/complete", json={"unknownField": 1}),
        gateway.post("/v1/router/complete", json=[1, 2]),
        gateway.post("/v1/router/complete", content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}),
        gateway.post("/v1/router/complete", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"}),
        gateway.delete("/v1/router/backends"),
        gateway.get("/v1/nothing/here"),
    ]
    statuses = []
    for pending in cases:
        reply = await pending
        assert reply.json()["error"]["message"]
        statuses.append(reply.status_code)
    assert statuses == [400, 400, 400, 415, 413, 405, 404]


async def test_server_stream_as_sse(gateway: httpx.AsyncClient) -> None:
    async with gateway.stream("POST", "/v1/router/generate", json={"prompt": "one two three"}) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) async for line in reply.aiter_lines() if line.startswith("data: ")]
    assert list(events[0]) == ["start"] and events[-1].get("done") is not None
    assert [e["token"]["text"] for e in events if "token" in e] == ["one", "two", "three"]


async def test_failure_midstream_is_an_error_event(gateway: httpx.AsyncClient) -> None:
    async with gateway.stream("POST", "/v1/router/generate", json={"prompt": "a b", "topic": "fail-midway"}) as reply:
        text = (await reply.aread()).decode()
    assert "event: error" in text and "UNAVAILABLE" in text and '"done"' not in text


async def test_openapi_document(gateway: httpx.AsyncClient) -> None:
    doc = (await gateway.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    routes = mesh_routes()
    for route in routes:
        operation = doc["paths"][route.template][route.http_method.lower()]
        assert "200" in operation["responses"] and "default" in operation["responses"]
    schemas = doc["components"]["schemas"]
    assert "switchboard.router.v1.GenerateRequest" in schemas
    # every $ref resolves
    refs = {m for m in json.dumps(doc).split('"') if m.startswith("#/components/schemas/")}
    assert refs and all(r.removeprefix("#/components/schemas/") in schemas for r in refs)


class _Failing(cache_pb2_grpc.CacheServiceServicer):
    """Lookup fails with the status code its key names; key "slow" takes 5 s."""

    async def Lookup(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if request.key == "slow":
            await asyncio.sleep(5)
            return cache_pb2.LookupResponse()
        await context.abort(grpc.StatusCode[request.key], f"failed with {request.key}")


STANDARD_TABLE = {  # the table (google.rpc.Code's HTTP mapping)
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499, "UNKNOWN": 500, "INTERNAL": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}


async def test_every_grpc_code_maps_by_the_standard_table(serve: Any, tmp_path: Any) -> None:
    cache = await serve("cache", app=GrpcApp(
        service_names=["switchboard.cache.v1.CacheService"],
        servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, _Failing())]))
    gw = await serve("gateway", settings=GatewaySettings(
        data_dir=tmp_path, cache_address=cache.address, shutdown_grace_s=1, gateway_request_timeout_s=0.5))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.port}", timeout=10) as http:
        for code, status in STANDARD_TABLE.items():
            reply = await http.get(f"/v1/cache/entries/{code}")
            error = reply.json()["error"]
            assert (reply.status_code, error["code"], error["status"]) == (status, status, code)
            assert error["message"] == f"failed with {code}"
        late = await http.get("/v1/cache/entries/slow")  # the gateway's request timeout
    assert late.status_code == 504 and late.json()["error"]["status"] == "DEADLINE_EXCEEDED"
