"""The gateway in front of the whole real mesh (tests/gateway/conftest.py): a
route of every service, errors from the real services, every server stream as
Server-Sent Events, /readyz following the router's health, and /openapi.json
valid OpenAPI 3."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import pytest
from grpc_health.v1 import health_pb2
from openapi_spec_validator import validate

from gateway_mesh import BRIEFS_START, Mesh
from services.gateway.settings import GatewaySettings
from services.gateway.transcoding import mesh_routes
from services.router.settings import RouterSettings

ROUTER_SERVICE = "switchboard.router.v1.RouterService"


async def test_a_route_of_every_real_service(full_mesh: Mesh) -> None:
    async with full_mesh.http() as http:
        backends = await http.get("/v1/router/backends")
        assert backends.status_code == 200 and [b["name"] for b in backends.json()["backends"]] == ["mock-a"]
        answer = await http.post("/v1/router/complete", json={"prompt": "hello mesh"})
        assert answer.status_code == 200 and answer.json()["backend"] == "mock-a" and answer.json()["text"]

        stored = await http.put("/v1/cache/entries/k%2F1", json={"value": "aGVsbG8="})  # b"hello"
        assert stored.status_code == 200 and stored.json()["stored"] is True
        found = (await http.get("/v1/cache/entries/k%2F1")).json()
        assert found["found"] is True and found["entry"]["key"] == "k/1" and found["entry"]["value"] == "aGVsbG8="

        recorded = await http.post("/v1/learning/interactions", json={"interaction": {
            "interactionId": "gw-1", "backend": "mock-a", "outcome": "OUTCOME_SUCCESS", "userId": "u-gw"}})
        assert recorded.status_code == 200 and recorded.json()["ack"]["interactionId"] == "gw-1"
        profile = await http.get("/v1/learning/users/u-gw/profile")
        assert profile.status_code == 200 and profile.json()["interactionCount"] == "1"

        contact = await http.post("/v1/briefs/owners/ann/contacts", json={"name": "Bo Chen"})
        assert contact.status_code == 200 and contact.json()["contact"]["ownerId"] == "ann"
        listed = (await http.get("/v1/briefs/owners/ann/contacts")).json()
        assert [c["name"] for c in listed["contacts"]] == ["Bo Chen"]

        status = await http.get("/v1/monitor/status")
        assert status.status_code == 200
        assert {"database", "service:cache", "service:learning"} <= {t["target"] for t in status.json()["targets"]}


async def test_real_services_errors_follow_the_table(full_mesh: Mesh) -> None:
    async with full_mesh.http() as http:
        bad = await http.put("/v1/briefs/owners/ann/settings", json={"timeZone": "Mars/Base"})
        assert bad.status_code == 400
        assert [v["field"] for v in bad.json()["error"]["fieldViolations"]] == ["settings.time_zone"]
        missing = await http.post("/v1/briefs/owners/ann/tasks/nope:complete", json={})
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
        unacked = await http.post("/v1/monitor/alerts/nope:acknowledge", json={})
        assert unacked.status_code == 400 and unacked.json()["error"]["fieldViolations"][0]["field"] == "acknowledged_by"
        no_prompt = await http.post("/v1/router/generate", json={})
        assert no_prompt.status_code == 400 and no_prompt.json()["error"]["status"] == "INVALID_ARGUMENT"


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]


async def _first_data(response: httpx.Response) -> dict[str, Any]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended without a data line")


async def test_generate_streams_as_sse_from_the_real_router(full_mesh: Mesh) -> None:
    async with full_mesh.http() as http:
        async with http.stream("POST", "/v1/router/generate", json={"prompt": "stream this please"}) as reply:
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            events = _events([line async for line in reply.aiter_lines()])
    assert events[0]["start"]["backend"] == "mock-a"
    assert events[-1]["done"]["finishReason"] == "FINISH_REASON_STOP"
    text = "".join(e["token"]["text"] for e in events if "token" in e)
    assert "mock answer" in text and "3 words" in text


async def test_monitor_watch_status_streams_as_sse(full_mesh: Mesh) -> None:
    async with full_mesh.http() as http, http.stream("GET", "/v1/monitor/status:watch") as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        first = await asyncio.wait_for(_first_data(reply), timeout=10)
    assert {"database", "service:cache"} <= {t["target"] for t in first["snapshot"]["targets"]}


async def test_briefs_watch_streams_new_briefs_as_sse(full_mesh: Mesh) -> None:
    scheduler = full_mesh.briefs.app.scheduler
    async with full_mesh.http() as http, contextlib.AsyncExitStack() as stack:
        settings = await http.put("/v1/briefs/owners/ann/settings", json={"timeZone": "America/New_York"})
        assert settings.status_code == 200
        await asyncio.wait_for(scheduler.first_pass.wait(), timeout=10)
        # Nothing to send yet: the 200 and its headers must still come (a watch may be quiet for hours).
        reply = await asyncio.wait_for(
            stack.enter_async_context(http.stream("GET", "/v1/briefs/owners/ann/briefs:watch",
                                                  params={"kinds": "BRIEF_KIND_MORNING"})),
            timeout=5,
        )
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        full_mesh.briefs_clock.advance(3600)  # 07:00 in New York: the scheduler stores the morning brief
        new = await asyncio.wait_for(_first_data(reply), timeout=15)
    assert new["brief"]["kind"] == "BRIEF_KIND_MORNING" and new["brief"]["ownerId"] == "ann" and new["brief"]["id"]

    async with full_mesh.http() as http:  # a client that reconnects replays what it missed
        since = BRIEFS_START.isoformat().replace("+00:00", "Z")
        async with http.stream("GET", "/v1/briefs/owners/ann/briefs:watch", params={"since": since}) as again:
            replayed = await asyncio.wait_for(_first_data(again), timeout=10)
    assert replayed["brief"]["id"] == new["brief"]["id"]


async def test_readyz_follows_the_routers_health(serve: Any, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('[[backends]]\nname = "mock-a"\nkind = "mock"\n')
    down = "127.0.0.1:1"
    router = await serve("router", settings=RouterSettings(
        data_dir=tmp_path, config=config, learning_address=down, cache_address=down, monitor_address=down,
        router_probe_ollama=False, router_outcome_flush_timeout_s=0.5, shutdown_grace_s=1))
    gateway = await serve("gateway", settings=GatewaySettings(
        data_dir=tmp_path, router_address=router.address, shutdown_grace_s=1))
    health = router.server.health
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=10) as http:
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "router": "SERVING"})
        await health.set(ROUTER_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        draining = await http.get("/readyz")
        assert (draining.status_code, draining.json()) == (503, {"status": "not ready", "router": "NOT_SERVING"})
        assert (await http.get("/healthz")).status_code == 200  # alive all the same
        await health.set(ROUTER_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        assert (await http.get("/readyz")).status_code == 200
        await router.stop()
        gone = await http.get("/readyz")
        assert (gone.status_code, gone.json()["router"]) == (503, "UNREACHABLE")


@pytest.mark.parametrize("keys", ["", "k-123=acme"])
async def test_openapi_document_is_valid_openapi_3(serve: Any, tmp_path: Path, keys: str) -> None:
    gateway = await serve("gateway", settings=GatewaySettings(data_dir=tmp_path, api_keys=keys, shutdown_grace_s=1))
    headers = {"Authorization": f"Bearer {keys.split('=')[0]}"} if keys else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=10, headers=headers) as http:
        document = (await http.get("/openapi.json")).json()
    validate(document)  # raises OpenAPIValidationError, naming the offending part
    assert document["openapi"] == "3.1.0" and ("security" in document) == bool(keys)


async def test_openai_sdk_through_the_full_mesh_is_not_degraded(full_mesh: Mesh) -> None:
    async with openai.AsyncOpenAI(base_url=f"{full_mesh.url}/v1", api_key="unused", max_retries=0, timeout=20) as sdk:
        messages = [{"role": "user", "content": "Is everything up?"}]
        reply = await sdk.chat.completions.create(model="mock-a", messages=messages, user="u-sdk",
                                                  metadata={"topic": "code"})
        assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
        details = reply.model_extra["switchboard"]
        assert details["degraded"] is False, details  # learning, cache and monitor all answer here
        stream = await sdk.chat.completions.create(model="mock-a", messages=messages, stream=True,
                                                   stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert chunks[0].model_extra["switchboard"]["degraded"] is False
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_every_annotated_route_answers_through_its_real_service(full_mesh: Mesh) -> None:
    """One call per route, in an order that makes the ids the later calls need;
    each answer is the documented one (2xx, or the real service's 404)."""
    called: set[tuple[str, str]] = set()

    async def call(http: httpx.AsyncClient, method: str, template: str, expect: int = 200, *,
                   path: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
        url = template.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})
        if template.endswith(":watch"):  # a watch stream: its headers, then hang up
            async with http.stream(method, url, **options) as reply:
                assert reply.status_code == expect, (template, reply.status_code)
                body: dict[str, Any] = {}
        else:
            reply = await http.request(method, url, **options)
            assert reply.status_code == expect, (method, template, reply.status_code, reply.text[:500])
            sse = reply.headers["content-type"].startswith("text/event-stream")
            body = {"events": _events(reply.text.splitlines())} if sse else reply.json()
        called.add((method, template))
        return body

    owner = {"owner_id": "ann"}
    async with full_mesh.http() as http:
        # router
        await call(http, "GET", "/v1/router/backends")
        await call(http, "POST", "/v1/router/complete", json={"prompt": "one"})
        streamed = await call(http, "POST", "/v1/router/generate", json={"prompt": "two"})
        assert "done" in streamed["events"][-1]
        reset = await call(http, "POST", "/v1/router/backends/{backend}:setBreakerState", path={"backend": "mock-a"},
                           json={"command": "BREAKER_COMMAND_RESET"})
        assert reset["backend"]["breakerState"] == "BREAKER_STATE_CLOSED"
        # cache
        await call(http, "PUT", "/v1/cache/entries/{key}", path={"key": "k"},
                   json={"value": "aGk=", "metadata": {"backend": "mock-a"}})
        await call(http, "GET", "/v1/cache/entries/{key}", path={"key": "k"})
        await call(http, "GET", "/v1/cache/stats")
        gone = await call(http, "POST", "/v1/cache:invalidate", json={"namespace": "backend:mock-a"})
        assert gone["removed"] == "1"
        # learning
        await call(http, "POST", "/v1/learning/interactions", json={"interaction": {
            "interactionId": "i-1", "backend": "mock-a", "outcome": "OUTCOME_SUCCESS", "userId": "u-1"}})
        await call(http, "POST", "/v1/learning/interactions/{interaction_id}/feedback", path={"interaction_id": "i-1"},
                   json={"thumb": "THUMB_UP", "userId": "u-1"})
        await call(http, "POST", "/v1/learning/recommend", json={"topic": "code"})
        await call(http, "GET", "/v1/learning/users/{user_id}/profile", path={"user_id": "u-1"})
        await call(http, "GET", "/v1/learning/users/{user_id}/time-saved", path={"user_id": "u-1"})
        await call(http, "GET", "/v1/learning/insights")
        await call(http, "DELETE", "/v1/learning/users/{user_id}", path={"user_id": "u-1"})
        # briefs
        await call(http, "PUT", "/v1/briefs/owners/{owner_id}/settings", path=owner,
                   json={"timeZone": "America/New_York"})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/settings", path=owner)
        contact = (await call(http, "POST", "/v1/briefs/owners/{owner_id}/contacts", path=owner,
                              json={"name": "Bo Chen", "email": "bo@example.com"}))["contact"]
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/contacts", path=owner)
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/contacts:import", path=owner,
                   json={"csvText": "name,email\nCy Dee,cy@example.com\n"})
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/deals", path=owner,
                   json={"contactId": contact["id"], "title": "Rollout", "stage": "DEAL_STAGE_LEAD"})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/deals", path=owner)
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/deals:import", path=owner,
                   json={"csvText": "title,contact_email,stage\nPilot,cy@example.com,QUALIFIED\n"})
        task = (await call(http, "POST", "/v1/briefs/owners/{owner_id}/tasks", path=owner,
                           json={"title": "Send the quote"}))["task"]
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/tasks", path=owner)
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/tasks/{task_id}:complete",
                   path={**owner, "task_id": task["id"]}, json={})
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/events", path=owner, json={
            "title": "Demo", "startAt": "2026-03-09T14:00:00Z", "endAt": "2026-03-09T15:00:00Z"})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/events", path=owner)
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:u-1\r\n"
               "DTSTAMP:20260301T000000Z\r\nDTSTART:20260310T140000Z\r\nDTEND:20260310T150000Z\r\n"
               "SUMMARY:Call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/events:import", path=owner, json={"icsText": ics})
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/outreach", path=owner, json={
            "contactId": contact["id"], "channel": "OUTREACH_CHANNEL_EMAIL", "outcome": "OUTREACH_OUTCOME_SENT"})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/outreach", path=owner)
        await call(http, "POST", "/v1/briefs/owners/{owner_id}/briefs:generate", path=owner,
                   json={"kind": "BRIEF_KIND_MORNING", "withNarrative": False})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/briefs", path=owner)
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/briefs/{date}", 404,  # none stored yet
                   path={**owner, "date": "2026-03-09"}, params={"kind": "BRIEF_KIND_MORNING"})
        await call(http, "GET", "/v1/briefs/owners/{owner_id}/briefs:watch", path=owner)
        # monitor
        await call(http, "GET", "/v1/monitor/status")
        await call(http, "GET", "/v1/monitor/status:watch")
        await call(http, "GET", "/v1/monitor/targets/{target}/history", path={"target": "database"})
        await call(http, "GET", "/v1/monitor/backends")
        await call(http, "GET", "/v1/monitor/alerts")
        await call(http, "POST", "/v1/monitor/alerts/{alert_id}:acknowledge", 404,  # no such alert
                   path={"alert_id": "a-none"}, json={"acknowledgedBy": "ops"})
    assert called == {(r.http_method, r.template) for r in mesh_routes()}
