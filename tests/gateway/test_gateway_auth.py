"""API keys: on the gateway (401 + WWW-Authenticate, probes exempt, the tenant
passed on), on the gRPC services directly (UNAUTHENTICATED, health and reflection
exempt, the tenant taken from the key), and on calls between services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.auth import (
    TENANT_METADATA,
    ApiKeys,
    ApiKeySettings,
    auth_interceptors,
    bearer_token,
    tenant_of,
)
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.settings import MeshSettings

KEYS = "key-alpha=tenant-a,key-beta=tenant-b,mesh-key=mesh"


class KeyedSettings(MeshSettings, ApiKeySettings):
    """What a gRPC service's settings look like with the key settings mixed in."""


class _Cache(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self) -> None:
        self.tenants: list[str] = []

    async def Lookup(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        self.tenants.append(tenant_of(context))
        return cache_pb2.LookupResponse(found=False)


class _Router(router_pb2_grpc.RouterServiceServicer):
    """Records who called; Complete asks the cache first, as the real router does."""

    def __init__(self, peers: PeerChannels | None = None) -> None:
        self.peers = peers
        self.tenants: list[str] = []
        self.authorizations: list[str] = []

    def _record(self, context: grpc.aio.ServicerContext) -> None:
        self.tenants.append(tenant_of(context))
        metadata = dict(context.invocation_metadata() or ())
        self.authorizations.append(metadata.get("authorization", ""))

    async def ListBackends(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        return router_pb2.ListBackendsResponse(backends=[router_pb2.BackendInfo(name="mock-a")])

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        self._record(context)
        yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(backend="mock-a"))
        if self.peers is not None:  # a peer call in the middle of a stream carries the caller's key too
            await cache_pb2_grpc.CacheServiceStub(self.peers.channel("cache")).Lookup(cache_pb2.LookupRequest(key="k"))
        yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text="streamed"))
        yield router_pb2.GenerateResponse(done=router_pb2.DoneEvent(finish_reason=router_pb2.FINISH_REASON_STOP))

    async def Complete(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        if self.peers is not None:
            await cache_pb2_grpc.CacheServiceStub(self.peers.channel("cache")).Lookup(cache_pb2.LookupRequest(key="k"))
        done = router_pb2.DoneEvent(finish_reason=router_pb2.FINISH_REASON_STOP)
        return router_pb2.CompleteResponse(text="ok", backend="mock-a", model="m", done=done)


def _router_app(servicer: _Router) -> GrpcApp:
    return GrpcApp(service_names=["switchboard.router.v1.RouterService"],
                   servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, servicer)])


def _cache_app(servicer: _Cache) -> GrpcApp:
    return GrpcApp(service_names=["switchboard.cache.v1.CacheService"],
                   servicers=[(cache_pb2_grpc.add_CacheServiceServicer_to_server, servicer)])


# --- the key table ------------------------------------------------------------------

def test_keys_from_the_list_and_the_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# ops keys\nkey-gamma tenant-c\n\nkey-alpha tenant-a  # again, same tenant\n")
    settings = ApiKeySettings(api_keys=KEYS, api_keys_file=keys_file)
    assert settings.key_table() == {"key-alpha": "tenant-a", "key-beta": "tenant-b", "mesh-key": "mesh",
                                    "key-gamma": "tenant-c"}
    assert "key-alpha" not in repr(settings) and "key-gamma" not in repr(settings)
    keys = ApiKeys.from_settings(settings)
    assert keys.authenticate("key-gamma").tenant == "tenant-c"
    assert keys.authenticate("key-alph") is None and keys.authenticate("key-alphaa") is None
    assert keys.authenticate("") is None and keys.authenticate(None) is None
    assert "key-alpha" not in repr(keys.authenticate("key-alpha"))
    assert not ApiKeys.from_settings(ApiKeySettings()).enabled


@pytest.mark.parametrize("bad", [
    {"api_keys": "justakey"},
    {"api_keys": "k1=a,k1=b"},
    {"api_keys": "k1=a", "mesh_api_key": "other"},
    {"api_keys_file": "/nonexistent/keys"},
])
def test_bad_key_settings_fail_fast(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        ApiKeySettings(**bad)
    # the message (what load_settings prints) never echoes a key
    assert all("justakey" not in e["msg"] and "k1" not in e["msg"] for e in err.value.errors())


def test_keys_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_KEYS", "env-key=env-tenant")
    assert ApiKeys.from_settings(MeshSettings(data_dir=tmp_path)).authenticate("env-key").tenant == "env-tenant"
    assert len(auth_interceptors(MeshSettings(data_dir=tmp_path))) == 1
    monkeypatch.delenv("SWITCHBOARD_API_KEYS")
    assert auth_interceptors(MeshSettings(data_dir=tmp_path)) == []


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer ") is None and bearer_token(None) is None


# --- the gateway --------------------------------------------------------------------

@pytest.fixture
async def keyed_mesh(serve: Any, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Router and cache enforcing keys, the router calling the cache while
    serving, and a gateway with the same keys in front."""
    cache = _Cache()
    cache_running = await serve("cache", settings=KeyedSettings(data_dir=tmp_path, api_keys=KEYS), app=_cache_app(cache))
    peer_settings = KeyedSettings(data_dir=tmp_path, api_keys=KEYS, cache_address=cache_running.address)
    peers = PeerChannels(peer_settings)
    router = _Router(peers)
    router_running = await serve("router", settings=KeyedSettings(data_dir=tmp_path, api_keys=KEYS),
                                 app=_router_app(router))
    settings = GatewaySettings(data_dir=tmp_path, router_address=router_running.address,
                               cache_address=cache_running.address, api_keys=KEYS, shutdown_grace_s=1)
    gateway = await serve("gateway", settings=settings)
    yield {"router": router, "cache": cache, "router_address": router_running.address,
           "cache_address": cache_running.address, "base_url": f"http://127.0.0.1:{gateway.port}",
           "peer_settings": peer_settings}
    await peers.close()


async def test_gateway_requires_a_key_everywhere_but_the_probes(keyed_mesh: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=keyed_mesh["base_url"], timeout=10) as http:
        for method, path in [("GET", "/v1/router/backends"), ("POST", "/v1/router/complete"),
                             ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/v1/models"),
                             ("POST", "/v1/chat/completions"), ("GET", "/nothing")]:
            missing = await http.request(method, path)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"] == 'Bearer realm="switchboard"'
            assert missing.json()["error"]["message"]
            wrong = await http.request(method, path, headers={"authorization": "Bearer key-alph"})
            assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
            assert "key-alph" not in wrong.text
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200  # health is exempt on the router too
        openai_shape = (await http.get("/v1/models")).json()["error"]
        assert openai_shape["type"] == "authentication_error" and openai_shape["code"] == "invalid_api_key"
        rest_shape = (await http.get("/v1/router/backends")).json()["error"]
        assert rest_shape["status"] == "UNAUTHENTICATED" and rest_shape["code"] == 401
        doc = (await http.get("/openapi.json", headers={"authorization": "Bearer key-beta"})).json()
        assert doc["security"] == [{"bearer": []}] and doc["paths"]["/healthz"]["get"]["security"] == []


async def test_the_tenant_reaches_the_services_and_cannot_be_claimed(keyed_mesh: dict[str, Any]) -> None:
    router: _Router = keyed_mesh["router"]
    async with httpx.AsyncClient(base_url=keyed_mesh["base_url"], timeout=10) as http:
        reply = await http.get("/v1/router/backends",
                               headers={"authorization": "Bearer key-alpha", TENANT_METADATA: "tenant-b"})
        assert reply.status_code == 200, reply.text
    assert router.tenants[-1] == "tenant-a" and router.authorizations[-1] == "Bearer key-alpha"
    async with openai.AsyncOpenAI(base_url=keyed_mesh["base_url"] + "/v1", api_key="key-beta", max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "ok"
        assert [m.id async for m in sdk.models.list()] == ["mock-a"]
        stream = await sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}],
                                                   stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "streamed"
    async with httpx.AsyncClient(base_url=keyed_mesh["base_url"], timeout=10) as http:
        sse = await http.post("/v1/router/generate", json={"prompt": "x"}, headers={"authorization": "Bearer key-alpha"})
        assert sse.status_code == 200 and '"streamed"' in sse.text
    # the router's own calls to the cache, made while serving, carried the caller's key on
    assert router.tenants[-3:] == ["tenant-b", "tenant-b", "tenant-a"]
    assert keyed_mesh["cache"].tenants == ["tenant-b", "tenant-b", "tenant-a"]
    async with openai.AsyncOpenAI(base_url=keyed_mesh["base_url"] + "/v1", api_key="nope", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])


async def test_grpc_services_enforce_the_same_keys(keyed_mesh: dict[str, Any]) -> None:
    router: _Router = keyed_mesh["router"]
    async with grpc.aio.insecure_channel(keyed_mesh["router_address"]) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", "key-alpha"),),
                         ((TENANT_METADATA, "tenant-a"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ListBackends(router_pb2.ListBackendsRequest(), metadata=metadata, timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await stub.ListBackends(router_pb2.ListBackendsRequest(), timeout=5,
                                metadata=(("authorization", "Bearer key-beta"), (TENANT_METADATA, "tenant-a")))
        assert router.tenants == ["tenant-b"]  # the key's tenant, not the claimed one
        # exempt: health (probes, the monitor) and reflection (grpcurl)
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = [r async for r in reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)]
        names = {s.name for s in replies[0].list_services_response.service}
        assert "switchboard.router.v1.RouterService" in names


async def test_background_calls_use_the_mesh_key(keyed_mesh: dict[str, Any], tmp_path: Path) -> None:
    request = cache_pb2.LookupRequest(key="k")
    no_mesh_key = PeerChannels(keyed_mesh["peer_settings"])
    with_mesh_key = PeerChannels(KeyedSettings(data_dir=tmp_path, api_keys=KEYS, mesh_api_key="mesh-key",
                                               cache_address=keyed_mesh["cache_address"],
                                               router_address=keyed_mesh["router_address"]))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await cache_pb2_grpc.CacheServiceStub(no_mesh_key.channel("cache")).Lookup(request)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await cache_pb2_grpc.CacheServiceStub(with_mesh_key.channel("cache")).Lookup(request)
        assert keyed_mesh["cache"].tenants == ["mesh"]
        # A server stream too (the router's health watch is one): every call shape carries the key.
        stream = router_pb2_grpc.RouterServiceStub(with_mesh_key.channel("router")).Generate(
            router_pb2.GenerateRequest(prompt="x"), timeout=5)
        assert [e.WhichOneof("event") async for e in stream] == ["start", "token", "done"]
        assert keyed_mesh["router"].tenants[-1] == "mesh"
    finally:
        await no_mesh_key.close()
        await with_mesh_key.close()


async def test_auth_off_passes_everything_through(serve: Any, tmp_path: Path) -> None:
    router = _Router()
    running = await serve("router", app=_router_app(router))
    gateway = await serve("gateway", settings=GatewaySettings(data_dir=tmp_path, router_address=running.address,
                                                              shutdown_grace_s=1))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=10) as http:
        assert (await http.get("/v1/router/backends")).status_code == 200
        assert (await http.get("/docs")).status_code == 200
        assert "security" not in (await http.get("/openapi.json")).json()
    assert router.tenants == [""] and router.authorizations == [""]
    async with grpc.aio.insecure_channel(running.address) as channel:
        # no keys configured: the metadata is trusted as sent (a private network)
        await router_pb2_grpc.RouterServiceStub(channel).ListBackends(
            router_pb2.ListBackendsRequest(), metadata=((TENANT_METADATA, "t"),), timeout=5)
    assert router.tenants[-1] == "t"


async def test_keys_are_never_logged(keyed_mesh: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    good, wrong = KEYS.split(",")[0].split("=")[0].strip(), "key-wrong-1234"
    with caplog.at_level(logging.DEBUG):
        async with httpx.AsyncClient(base_url=keyed_mesh["base_url"], timeout=10) as http:
            for key in (good, wrong):
                await http.get("/v1/router/backends", headers={"authorization": f"Bearer {key}"})
                await http.post("/v1/router/complete", json={"prompt": "hi"}, headers={"authorization": f"Bearer {key}"})
        async with grpc.aio.insecure_channel(keyed_mesh["cache_address"]) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await cache_pb2_grpc.CacheServiceStub(channel).Lookup(
                    cache_pb2.LookupRequest(key="k"), metadata=(("authorization", f"Bearer {wrong}"),), timeout=5)
    assert caplog.records  # something was logged at all
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.__dict__)
        assert good not in text and wrong not in text, record.__dict__
