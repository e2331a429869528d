"""Security: what leaks, who may call, who sees what, how big a request may be.

- API keys and prompts never appear in logs, span attributes/events, metric
  attributes or resources at the default level: a gateway and a router run as
  processes exporting OTLP to a collector in the test; their logs and every
  exported byte are searched for the key, a wrong key and a distinctive prompt.
- With keys configured, every RPC of every service (and every gateway route)
  refuses a caller without a valid key; health (and reflection) stay open.
- Tenants are isolated: cache entries (directly and through the router's cache
  of answers), learning's profiles and interactions, briefs' contacts.
- Size limits everywhere: gRPC messages over the limit → RESOURCE_EXHAUSTED on
  every service, prompts over the router's limit → INVALID_ARGUMENT, gateway
  bodies over its limit → 413; malformed JSON and wrong content types → 4xx,
  always with a message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from rel_support import (
    CLOSED,
    ROUTER,
    MeshProcs,
    backend_table,
    clean_env,
    free_port,
    record,
    run_mesh,
    spawn,
    stop_process,
    wait_serving,
    write_backends,
)
from switchboard.briefs.v1 import briefs_pb2, briefs_pb2_grpc
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.monitor.v1 import monitor_pb2
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.testing import infra
from switchboard.testing.fake_backend import FakeBackend

KEY_A, KEY_B = "sk-tenantA-7f3c9e1d5b2a4c68", "sk-tenantB-0d8e6a4f2c1b3e57"
WRONG_KEY = "sk-wrong-9a7b5c3d1e2f4a6b"
PROMPT = "Tell me about the PERIWINKLE-ARMADILLO-42 expedition"
KEYS = f"{KEY_A}=tenant-a,{KEY_B}=tenant-b"

SERVICES = {
    "router": router_pb2.DESCRIPTOR.services_by_name["RouterService"],
    "learning": learning_pb2.DESCRIPTOR.services_by_name["LearningService"],
    "monitor": monitor_pb2.DESCRIPTOR.services_by_name["MonitorService"],
    "briefs": briefs_pb2.DESCRIPTOR.services_by_name["BriefService"],
    "cache": cache_pb2.DESCRIPTOR.services_by_name["CacheService"],
}


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


# -- keys and prompts never leak ------------------------------------------------------


class Collector(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer,
                logs_service_pb2_grpc.LogsServiceServicer):
    """An OTLP/gRPC collector that keeps everything it is sent."""

    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.logs: list[logs_service_pb2.ExportLogsServiceRequest] = []

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
            self.metrics.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()
        self.logs.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()

    def spans(self) -> list[Any]:
        return [span for req in self.traces for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def text(self) -> str:
        return "\n".join(str(r) for r in (*self.traces, *self.metrics, *self.logs))


async def test_keys_and_prompts_never_reach_logs_spans_or_metrics(tmp_path: Path) -> None:
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(collector, server)
    otlp_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    fake = await FakeBackend(tokens=12).start()
    router = gateway = None
    try:
        config = write_backends(tmp_path / "backends.toml", [backend_table("fake", fake.url)])
        router_port, gateway_port = free_port(), free_port()
        env = clean_env(
            SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_CONFIG=str(config),
            SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", SWITCHBOARD_API_KEYS=KEYS, SWITCHBOARD_MESH_API_KEY=KEY_A,
            SWITCHBOARD_ROUTER_PORT=str(router_port), SWITCHBOARD_GATEWAY_PORT=str(gateway_port),
            SWITCHBOARD_LEARNING_ADDRESS=CLOSED, SWITCHBOARD_CACHE_ADDRESS=CLOSED, SWITCHBOARD_MONITOR_ADDRESS=CLOSED,
            SWITCHBOARD_SHUTDOWN_GRACE_S="3",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_port}", OTEL_EXPORTER_OTLP_INSECURE="true",
            OTEL_BSP_SCHEDULE_DELAY="200", OTEL_METRIC_EXPORT_INTERVAL="500",
        )  # log level: the default
        router = await spawn("router", env, tmp_path / "logs", port=router_port)
        gateway = await spawn("gateway", env, tmp_path / "logs", port=gateway_port)
        await wait_serving(router, ROUTER)
        base = f"http://127.0.0.1:{gateway_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            end = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                assert time.monotonic() < end, gateway.text()[-2000:]
                await asyncio.sleep(0.1)
            body = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}
            ok = await http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY_A}"})
            assert ok.status_code == 200, ok.text
            async with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True},
                                   headers={"authorization": f"Bearer {KEY_B}"}) as streamed:
                assert streamed.status_code == 200
                chunks = [line async for line in streamed.aiter_lines()]
            assert any("[DONE]" in c for c in chunks)
            refused = await http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {WRONG_KEY}"})
            assert refused.status_code == 401
        async with grpc.aio.insecure_channel(router.address) as channel:
            stub = router_pb2_grpc.RouterServiceStub(channel)
            reply = await stub.Complete(router_pb2.CompleteRequest(prompt=PROMPT, user_id="u1"), metadata=bearer(KEY_A), timeout=10)
            assert reply.text
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub.Complete(router_pb2.CompleteRequest(prompt=PROMPT), metadata=bearer(WRONG_KEY), timeout=10)
            assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert sum(PROMPT in " ".join(c for _, c in r.messages) for r in fake.requests) >= 3  # the prompt did go through
        for proc in (gateway, router):  # SIGTERM flushes spans and metrics
            assert await stop_process(proc.process) == 0
    finally:
        for proc in (gateway, router):
            if proc is not None:
                await stop_process(proc.process)
        await fake.stop()
        await server.stop(None)
    logs = router.text() + gateway.text()
    exported = collector.text()
    spans = collector.spans()
    secrets = {"api key": KEY_A, "second api key": KEY_B, "wrong api key": WRONG_KEY, "prompt": "PERIWINKLE-ARMADILLO"}
    leaks = {what: [where for where, text in (("logs", logs), ("telemetry", exported)) if secret in text]
             for what, secret in secrets.items()}
    record("keys and prompts in logs/spans/metrics (default level)", log_lines=logs.count("\n"),
           spans=len(spans), metric_exports=len(collector.metrics),
           leaks={k: v for k, v in leaks.items() if v} or "none")
    assert len(spans) > 5 and collector.metrics, "nothing was exported: the test would prove nothing"
    assert any(s.name.endswith("Complete") or "chat" in s.name for s in spans), [s.name for s in spans][:20]
    assert logs.count("\n") > 3
    assert not any(leaks.values()), leaks


# -- auth on every RPC and route --------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_mesh(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> Iterator[MeshProcs]:
    """The whole mesh as processes with API keys configured, on PostgreSQL."""
    with infra.fresh_database(postgres_server_url) as database_url, run_mesh(
        tmp_path_factory.mktemp("keyed"), [*SERVICES, "gateway"], database_url=database_url,
        SWITCHBOARD_API_KEYS=KEYS, SWITCHBOARD_MESH_API_KEY=KEY_A,
    ) as mesh:
        yield mesh


def _empty_call(channel: grpc.Channel, service: str, method: Any, metadata: Any) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    req = message_factory.GetMessageClass(method.input_type)
    resp = message_factory.GetMessageClass(method.output_type)
    kwargs = {"request_serializer": req.SerializeToString, "response_deserializer": resp.FromString}
    try:
        if method.client_streaming:
            channel.stream_unary(path, **kwargs)(iter([req()]), timeout=5, metadata=metadata)
        elif method.server_streaming:
            call = channel.unary_stream(path, **kwargs)(req(), timeout=5, metadata=metadata)
            next(iter(call), None)
            call.cancel()
        else:
            channel.unary_unary(path, **kwargs)(req(), timeout=5, metadata=metadata)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined]
    return grpc.StatusCode.OK


def test_every_rpc_refuses_callers_without_a_valid_key_but_health_stays_open(keyed_mesh: MeshProcs) -> None:
    checked = 0
    for name, service in SERVICES.items():
        with grpc.insecure_channel(keyed_mesh.addresses[name]) as channel:
            for method in service.methods:
                for metadata in (None, bearer(WRONG_KEY), (("authorization", KEY_A),), (("x-switchboard-tenant", "tenant-a"),)):
                    code = _empty_call(channel, name, method, metadata)
                    assert code == grpc.StatusCode.UNAUTHENTICATED, (name, method.name, metadata, code)
                    checked += 1
                # With a valid key the same call gets past auth (whatever the empty request deserves).
                assert _empty_call(channel, name, method, bearer(KEY_A)) != grpc.StatusCode.UNAUTHENTICATED
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            assert any(SERVICES[name].full_name in str(r) for r in listing)
    record("auth on every RPC (keys configured)", rpcs=sum(len(s.methods) for s in SERVICES.values()),
           refused_calls=checked, health_and_reflection_open=True)


def test_every_gateway_route_requires_a_key_but_the_probes(keyed_mesh: MeshProcs) -> None:
    base = f"http://{keyed_mesh.addresses['gateway']}"
    with httpx.Client(base_url=base, timeout=10) as http:
        doc = http.get("/openapi.json")
        assert doc.status_code in (200, 401)
        paths = json.loads(http.get("/openapi.json", headers={"authorization": f"Bearer {KEY_A}"}).text)["paths"]
        refused = 0
        for path, operations in paths.items():
            concrete = path.replace("{", "x").replace("}", "x")
            for verb in operations:
                if verb not in ("get", "post", "put", "patch", "delete"):
                    continue
                for headers in ({}, {"authorization": f"Bearer {WRONG_KEY}"}):
                    reply = http.request(verb.upper(), concrete, headers=headers, json={} if verb != "get" else None)
                    if concrete in ("/healthz", "/readyz"):
                        continue
                    assert reply.status_code == 401, (verb, concrete, reply.status_code, reply.text[:200])
                    assert reply.json()  # a JSON body saying why
                    refused += 1
        assert http.get("/healthz").status_code == 200
    record("auth on every gateway route (keys configured)", routes=len(paths), refused_requests=refused)


# -- tenants ----------------------------------------------------------------------------


def test_tenants_cannot_see_or_change_each_others_cache_entries(keyed_mesh: MeshProcs) -> None:
    with grpc.insecure_channel(keyed_mesh.addresses["cache"]) as channel:
        cache = cache_pb2_grpc.CacheServiceStub(channel)
        a, b = bearer(KEY_A), bearer(KEY_B)
        assert cache.Store(cache_pb2.StoreRequest(key="shared-key", value=b"secret of A"), metadata=a, timeout=5).stored
        assert not cache.Lookup(cache_pb2.LookupRequest(key="shared-key"), metadata=b, timeout=5).found
        # B claiming A's tenant in metadata changes nothing: the key decides.
        claim = (*b, ("x-switchboard-tenant", "tenant-a"))
        assert not cache.Lookup(cache_pb2.LookupRequest(key="shared-key"), metadata=claim, timeout=5).found
        assert cache.Invalidate(cache_pb2.InvalidateRequest(key="shared-key"), metadata=claim, timeout=5).removed == 0
        found = cache.Lookup(cache_pb2.LookupRequest(key="shared-key"), metadata=a, timeout=5)
        assert found.found and found.entry.value == b"secret of A"


def test_the_routers_answer_cache_is_per_tenant(keyed_mesh: MeshProcs) -> None:
    with grpc.insecure_channel(keyed_mesh.addresses["router"]) as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        request = router_pb2.CompleteRequest(prompt="a question both tenants ask", cache_policy=router_pb2.CACHE_POLICY_PREFER)
        first = router.Complete(request, metadata=bearer(KEY_A), timeout=10)
        assert not first.cache_hit
        end = time.monotonic() + 10
        while not router.Complete(request, metadata=bearer(KEY_A), timeout=10).cache_hit:  # stored in the background
            assert time.monotonic() < end, "tenant A never got its own cached answer"
            time.sleep(0.1)
        assert not router.Complete(request, metadata=bearer(KEY_B), timeout=10).cache_hit


def test_tenants_cannot_read_or_change_each_others_learning_data(keyed_mesh: MeshProcs) -> None:
    with grpc.insecure_channel(keyed_mesh.addresses["learning"]) as channel:
        learning = learning_pb2_grpc.LearningServiceStub(channel)
        a, b = bearer(KEY_A), bearer(KEY_B)
        ack = learning.RecordInteraction(learning_pb2.RecordInteractionRequest(interaction=learning_pb2.Interaction(
            interaction_id="iso-1", backend="fake", outcome=learning_pb2.OUTCOME_SUCCESS, user_id="shared-user",
            tenant="tenant-a")), metadata=a, timeout=10).ack
        assert not ack.duplicate
        # B may not write into A's tenant by naming it.
        with pytest.raises(grpc.RpcError) as claimed:
            learning.RecordInteraction(learning_pb2.RecordInteractionRequest(interaction=learning_pb2.Interaction(
                interaction_id="iso-2", backend="fake", outcome=learning_pb2.OUTCOME_SUCCESS, user_id="shared-user",
                tenant="tenant-a")), metadata=b, timeout=10)
        assert claimed.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)
        assert learning.GetUserProfile(learning_pb2.GetUserProfileRequest(user_id="shared-user"), metadata=a,
                                       timeout=10).interaction_count == 1
        try:
            seen_by_b = learning.GetUserProfile(learning_pb2.GetUserProfileRequest(user_id="shared-user"), metadata=b,
                                                timeout=10).interaction_count
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
            seen_by_b = 0
        assert seen_by_b == 0
        feedback = learning.RecordFeedback(learning_pb2.RecordFeedbackRequest(
            interaction_id="iso-1", thumb=learning_pb2.THUMB_DOWN), metadata=b, timeout=10)
        assert not feedback.interaction_known  # A's interaction does not exist for B
        learning.ForgetUser(learning_pb2.ForgetUserRequest(user_id="shared-user"), metadata=b, timeout=10)
        assert learning.GetUserProfile(learning_pb2.GetUserProfileRequest(user_id="shared-user"), metadata=a,
                                       timeout=10).interaction_count == 1


def test_tenants_cannot_read_each_others_briefs_data(keyed_mesh: MeshProcs) -> None:
    with grpc.insecure_channel(keyed_mesh.addresses["briefs"]) as channel:
        briefs = briefs_pb2_grpc.BriefServiceStub(channel)
        a, b = bearer(KEY_A), bearer(KEY_B)
        made = briefs.UpsertContact(briefs_pb2.UpsertContactRequest(
            owner_id="owner-1", contact=briefs_pb2.Contact(name="Ada Secret", email="ada@example.com")),
            metadata=a, timeout=10)
        assert [c.name for c in briefs.ListContacts(briefs_pb2.ListContactsRequest(owner_id="owner-1"), metadata=a,
                                                     timeout=10).contacts] == ["Ada Secret"]
        assert not briefs.ListContacts(briefs_pb2.ListContactsRequest(owner_id="owner-1"), metadata=b, timeout=10).contacts
        # B cannot overwrite A's contact by its id either.
        try:
            briefs.UpsertContact(briefs_pb2.UpsertContactRequest(
                owner_id="owner-1", contact=briefs_pb2.Contact(id=made.contact.id, name="Hijacked")), metadata=b, timeout=10)
        except grpc.RpcError:
            pass
        names = [c.name for c in briefs.ListContacts(briefs_pb2.ListContactsRequest(owner_id="owner-1"), metadata=a,
                                                      timeout=10).contacts]
        assert names == ["Ada Secret"]


# -- size limits ------------------------------------------------------------------------

FIVE_MB = "x" * (5 * 1024 * 1024)


def test_grpc_messages_over_the_limit_are_refused_by_every_service(keyed_mesh: MeshProcs) -> None:
    too_big = {
        "router": ("Complete", router_pb2.CompleteRequest(prompt=FIVE_MB)),
        "learning": ("RecordInteraction", learning_pb2.RecordInteractionRequest(
            interaction=learning_pb2.Interaction(interaction_id="big", backend="b", error_detail=FIVE_MB))),
        "monitor": ("GetHistory", monitor_pb2.GetHistoryRequest(target=FIVE_MB)),
        "briefs": ("ImportContactsCsv", briefs_pb2.ImportContactsCsvRequest(owner_id="o", csv=FIVE_MB.encode())
                   if "csv" in briefs_pb2.ImportContactsCsvRequest.DESCRIPTOR.fields_by_name else None),
        "cache": ("Store", cache_pb2.StoreRequest(key="k", value=FIVE_MB.encode())),
    }
    seen = {}
    for name, (method_name, request) in too_big.items():
        if request is None:
            method = SERVICES[name].methods_by_name[method_name]
            field = next(f for f in method.input_type.fields if f.type == f.TYPE_STRING or f.type == f.TYPE_BYTES)
            request = message_factory.GetMessageClass(method.input_type)()
            setattr(request, field.name, FIVE_MB.encode() if field.type == field.TYPE_BYTES else FIVE_MB)
        method = SERVICES[name].methods_by_name[method_name]
        with grpc.insecure_channel(keyed_mesh.addresses[name]) as channel:
            call = channel.unary_unary(
                f"/{SERVICES[name].full_name}/{method_name}",
                request_serializer=type(request).SerializeToString,
                response_deserializer=message_factory.GetMessageClass(method.output_type).FromString)
            with pytest.raises(grpc.RpcError) as refused:
                call(request, metadata=bearer(KEY_A), timeout=10)
        seen[name] = refused.value.code().name  # type: ignore[attr-defined]
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (name, refused.value)  # type: ignore[attr-defined]
        assert refused.value.details()  # type: ignore[attr-defined]
    record("gRPC message over 4 MiB, every service", codes=seen)


def test_router_refuses_prompts_over_its_limit_with_a_field_violation(keyed_mesh: MeshProcs) -> None:
    from switchboard.runtime.status import field_violations  # noqa: PLC0415

    with grpc.insecure_channel(keyed_mesh.addresses["router"]) as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            router.Complete(router_pb2.CompleteRequest(prompt="y" * 300_000), metadata=bearer(KEY_A), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "prompt" in refused.value.details() or any("prompt" in v.field for v in field_violations(refused.value))  # type: ignore[arg-type,attr-defined]


def test_gateway_refuses_oversized_malformed_and_mistyped_bodies_with_a_message(keyed_mesh: MeshProcs) -> None:
    base = f"http://{keyed_mesh.addresses['gateway']}"
    auth = {"authorization": f"Bearer {KEY_A}"}
    big = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "z" * (2 * 1024 * 1024)}]})
    cases = {
        "oversized (openai)": ("POST", "/v1/chat/completions", big, {"content-type": "application/json"}, {413}),
        "oversized (rest)": ("POST", "/v1/router/complete", json.dumps({"prompt": "z" * (2 * 1024 * 1024)}),
                             {"content-type": "application/json"}, {413}),
        "malformed json (openai)": ("POST", "/v1/chat/completions", '{"model": "auto", "messages": [', {"content-type": "application/json"}, {400}),
        "malformed json (rest)": ("POST", "/v1/router/complete", "{not json", {"content-type": "application/json"}, {400}),
        "wrong content type (openai)": ("POST", "/v1/chat/completions", "model=auto", {"content-type": "application/x-www-form-urlencoded"}, {400, 415}),
        "wrong content type (rest)": ("POST", "/v1/router/complete", "<xml/>", {"content-type": "text/xml"}, {400, 415}),
    }
    got = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        for label, (verb, path, body, headers, wanted) in cases.items():
            reply = http.request(verb, path, content=body, headers={**auth, **headers})
            got[label] = reply.status_code
            assert reply.status_code in wanted, (label, reply.status_code, reply.text[:300])
            assert reply.text.strip() and reply.json(), (label, reply.text[:300])  # a JSON body saying why
    record("gateway bad bodies", statuses=got)
