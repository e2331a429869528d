"""The OpenAI-compatible API through a real gateway in front of a real gRPC
router, driven with the official `openai` SDK (streaming and not) and raw HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import openai
import pytest

from services.gateway import openai_compat
from services.gateway.settings import GatewaySettings
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.status import FieldViolation, InvalidArgument

BACKENDS = [
    router_pb2.BackendInfo(name="mock-a", model="mock-model", kind=router_pb2.BACKEND_KIND_MOCK, mock=True),
    router_pb2.BackendInfo(name="llama", model="llama3", kind=router_pb2.BACKEND_KIND_OLLAMA),
]


def _last_text(request: Any) -> str:
    return request.messages[-1].content if request.messages else request.prompt


class ScriptedRouter(router_pb2_grpc.RouterServiceServicer):
    """A small real router (the real one is issue #3) whose answers depend on the
    last message: "fail" fails, "switch" switches backend mid-answer, ..."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.list_calls = 0
        self.slow_stream_cancelled = asyncio.Event()
        self.generate_cancelled: list[bool] = []  # per finished Generate: did it end cancelled?

    async def ListBackends(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        self.list_calls += 1
        return router_pb2.ListBackendsResponse(backends=BACKENDS)

    def _backend(self, request: Any) -> tuple[str, str]:
        chosen = request.pinned_backend or "mock-a"
        return chosen, {b.name: b.model for b in BACKENDS}[chosen]

    async def Complete(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        self.requests.append(request)
        text = _last_text(request)
        if text == "fail":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "every backend failed")
        if text == "rude":
            raise InvalidArgument([FieldViolation("messages[0].content", "must be polite")])
        backend, model = self._backend(request)
        done = router_pb2.DoneEvent(
            finish_reason=router_pb2.FINISH_REASON_LENGTH if request.max_tokens == 1 else router_pb2.FINISH_REASON_STOP,
            usage=router_pb2.Usage(prompt_tokens=3, completion_tokens=2),
            backend=backend, degraded=text == "degraded", degraded_reason="learning unreachable" if text == "degraded" else "",
        )
        return router_pb2.CompleteResponse(request_id=request.request_id, text=f"echo: {text}", backend=backend,
                                           model=model, topic=request.topic or "general", done=done)

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        self.requests.append(request)
        context.add_done_callback(lambda ctx: self.generate_cancelled.append(ctx.cancelled()))
        text = _last_text(request)
        if text == "fail before":
            yield router_pb2.GenerateResponse(error=router_pb2.ErrorEvent(code="UNAVAILABLE", message="no backend up"))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no backend up")
        backend, model = self._backend(request)
        if text == "fail after start":  # every backend failed before a token
            yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(request_id=request.request_id, backend=backend))
            yield router_pb2.GenerateResponse(error=router_pb2.ErrorEvent(code="UNAVAILABLE", message="no token came"))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no token came")
        yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(
            request_id=request.request_id, backend=backend, model=model, topic=request.topic or "general",
            degraded=text.startswith("degraded"), degraded_reason="cache unreachable" if text.startswith("degraded") else ""))
        words = text.split()
        if "slowly" in words:  # a token a second until the caller leaves
            try:
                for word in words * 60:
                    yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=word + " ", backend=backend))
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                self.slow_stream_cancelled.set()
                raise
        for i, word in enumerate(words):
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=word + " ", backend=backend))
            if i == 0 and "switch" in words:
                yield router_pb2.GenerateResponse(backend_switch=router_pb2.BackendSwitchEvent(
                    from_backend=backend, to_backend="llama", reason="timeout", chars_before_switch=len(word) + 1,
                    continuation=True))
                backend = "llama"
        if "midway" in words:
            yield router_pb2.GenerateResponse(error=router_pb2.ErrorEvent(
                code="UNAVAILABLE", message="llama went away", chars_sent=len(text) + 1))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "llama went away")
        if "abort" in words:  # a failed stream without an ErrorEvent
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "too slow")
        if "truncate" in words:  # a broken router: no DoneEvent, no error
            return
        yield router_pb2.GenerateResponse(done=router_pb2.DoneEvent(
            finish_reason=router_pb2.FINISH_REASON_STOP, backend=backend,
            usage=router_pb2.Usage(prompt_tokens=4, completion_tokens=len(words), estimated=True)))


@pytest.fixture
async def router(serve: Any) -> Any:
    servicer = ScriptedRouter()
    running = await serve("router", app=GrpcApp(
        service_names=["switchboard.router.v1.RouterService"],
        servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, servicer)]))
    running.servicer = servicer
    return running


@pytest.fixture
async def base_url(serve: Any, router: Any, tmp_path: Any) -> str:
    settings = GatewaySettings(data_dir=tmp_path, router_address=router.address, shutdown_grace_s=1)
    gw = await serve("gateway", settings=settings)
    return f"http://127.0.0.1:{gw.port}"


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=10) as c:
        yield c


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_non_streaming_with_the_sdk(client: openai.AsyncOpenAI, router: Any) -> None:
    reply = await client.chat.completions.create(
        model="auto",
        messages=[{"role": "system", "content": "be brief"},
                  {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]}],
        user="u-42", metadata={"topic": "code"}, max_completion_tokens=50, temperature=0.2,
    )
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.content == "echo: hello\nthere"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "mock-model" and reply.system_fingerprint == "mock-a"
    assert reply.usage is not None and reply.usage.total_tokens == 5
    extra = reply.model_extra["switchboard"]
    assert extra["backend"] == "mock-a" and extra["topic"] == "code" and extra["degraded"] is False
    sent = router.servicer.requests[-1]
    assert [(m.role, m.content) for m in sent.messages] == [
        (router_pb2.ROLE_SYSTEM, "be brief"), (router_pb2.ROLE_USER, "hello\nthere")]
    assert (sent.user_id, sent.topic, sent.max_tokens, sent.pinned_backend) == ("u-42", "code", 50, "")
    assert sent.HasField("temperature") and sent.temperature == pytest.approx(0.2)
    assert reply.id == f"chatcmpl-{sent.request_id}"


async def test_model_naming_a_backend_pins_it(client: openai.AsyncOpenAI, router: Any) -> None:
    reply = await client.chat.completions.create(model="llama", messages=_user("hi"), max_tokens=1)
    assert router.servicer.requests[-1].pinned_backend == "llama"
    assert reply.model == "llama3" and reply.choices[0].finish_reason == "length"
    assert router.servicer.requests[-1].max_tokens == 1
    await client.chat.completions.create(model="gpt-4o", messages=_user("hi"))
    assert router.servicer.requests[-1].pinned_backend == ""  # not a backend: the router chooses
    assert not router.servicer.requests[-1].HasField("temperature")
    assert router.servicer.list_calls == 1  # the backend list is reused


async def test_degraded_surfaces_in_header_and_body(client: openai.AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(model="auto", messages=_user("degraded"))
    assert raw.headers["x-switchboard-degraded"] == "true" and raw.headers["x-switchboard-backend"] == "mock-a"
    reply = raw.parse()
    assert reply.model_extra["switchboard"]["degraded"] is True
    assert reply.model_extra["switchboard"]["degraded_reason"] == "learning unreachable"


async def test_streaming_with_the_sdk(client: openai.AsyncOpenAI, router: Any) -> None:
    stream = await client.chat.completions.create(
        model="auto", messages=_user("one two three"), stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["switchboard"]["backend"] == "mock-a"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].model_extra["switchboard"]["usage_estimated"] is True
    assert len({c.id for c in chunks}) == 1


async def test_a_finished_stream_ends_ok_at_the_router_not_cancelled(
    client: openai.AsyncOpenAI, router: Any
) -> None:
    for _ in range(5):
        stream = await client.chat.completions.create(model="auto", messages=_user("one two"), stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "one two "
    for _ in range(50):
        if len(router.servicer.generate_cancelled) == 5:
            break
        await asyncio.sleep(0.02)
    assert router.servicer.generate_cancelled == [False] * 5


async def test_stream_without_usage_and_with_a_backend_switch(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="auto", messages=_user("a switch b"), stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"
    switches = [c.model_extra["switchboard"]["backend_switch"] for c in chunks
                if c.model_extra and "backend_switch" in (c.model_extra.get("switchboard") or {})]
    assert switches == [{"from_backend": "mock-a", "to_backend": "llama", "reason": "timeout",
                         "chars_before_switch": 2, "continuation": True}]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "a switch b "
    assert chunks[-1].system_fingerprint == "llama"  # the backend that finished the answer


async def test_error_midstream_is_an_error_object_not_a_truncated_success(
    client: openai.AsyncOpenAI, base_url: str
) -> None:
    stream = await client.chat.completions.create(model="auto", messages=_user("a b midway"), stream=True)
    received = []
    with pytest.raises(openai.APIError) as err:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "llama went away" in err.value.message and "".join(received) == "a b midway "
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "unavailable"
    for words in ("a b midway", "a abort", "a truncate"):
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            reply = await http.post("/v1/chat/completions",
                                    json={"model": "auto", "messages": _user(words), "stream": True})
        assert reply.status_code == 200
        events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
        assert "[DONE]" not in events, words
        last = json.loads(events[-1])
        assert set(last["error"]) == {"message", "type", "param", "code"}, words
    assert json.loads(events[-1])["error"]["type"] == "server_error"


async def test_a_client_leaving_midstream_stops_the_router_stream(
    client: openai.AsyncOpenAI, base_url: str, router: Any
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        async with http.stream("POST", "/v1/chat/completions",
                               json={"model": "auto", "messages": _user("slowly"), "stream": True}) as reply:
            assert reply.status_code == 200
            async for line in reply.aiter_lines():
                if '"content":"slowly' in line:
                    break  # the first token is here: leave
    await asyncio.wait_for(router.servicer.slow_stream_cancelled.wait(), 5)
    # The gateway is unharmed: the next stream is whole.
    stream = await client.chat.completions.create(model="auto", messages=_user("one two"), stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "one two "


async def test_each_router_event_is_one_write_and_the_last_ends_the_body(base_url: str) -> None:
    """Raw socket: the stream's chunked framing shows one HTTP chunk per router
    event (the start's role chunk waits for the first token and goes with it;
    the finish goes with [DONE]) and the terminating chunk in the same write as
    the last (no empty chunk of its own)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"model": "auto", "messages": _user("one two"), "stream": True}).encode()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
    raw = b""
    while not raw.endswith(b"\r\n0\r\n\r\n"):
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, raw
        raw += data
    writer.close()
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    chunks = []
    while True:
        size_line, _, chunked = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        chunks.append(chunked[:size])
        chunked = chunked[size + 2:]
    # start + "one ", "two ", done: four router events, three chunks.
    assert len(chunks) == 3, chunks
    assert chunks[0].count(b"data: ") == 2 and b'"role":"assistant"' in chunks[0] and b'"one ' in chunks[0]
    assert chunks[-1].endswith(b"data: [DONE]\n\n") and b'"finish_reason":"stop"' in chunks[-1]


async def test_errors_before_streaming_have_the_openai_shape(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        await client.chat.completions.create(model="auto", messages=_user("fail before"), stream=True)
    assert err.value.status_code == 503 and err.value.body["type"] == "server_error"
    assert err.value.response.headers["retry-after"] == "1"  # a refusal says when to come back
    with pytest.raises(openai.APIStatusError) as err:  # after the start event, still before any token
        await client.chat.completions.create(model="auto", messages=_user("fail after start"), stream=True)
    assert err.value.status_code == 503 and "no token came" in err.value.message
    with pytest.raises(openai.APIStatusError) as err:
        await client.chat.completions.create(model="auto", messages=_user("fail"))
    assert err.value.status_code == 503 and "every backend failed" in err.value.message
    assert err.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="auto", messages=_user("rude"))
    assert bad.value.body["param"] == "messages[0].content" and bad.value.body["code"] == "invalid_argument"
    assert "retry-after" not in bad.value.response.headers  # bad input is not worth retrying


async def test_models_with_the_sdk(client: openai.AsyncOpenAI) -> None:
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == ["mock-a", "llama"]
    assert all(m.owned_by == "switchboard" and m.object == "model" for m in models)
    assert models[1].model_extra["switchboard"]["model"] == "llama3"


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": _user("x")}, "model"),
    ({"model": "auto", "messages": []}, "messages"),
    ({"model": "auto", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"model": "auto", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content"),
    ({"model": "auto", "messages": [{"role": "assistant"}]}, "messages[0].content"),
    ({"model": "auto", "messages": _user("x"), "temperature": 3}, "temperature"),
    ({"model": "auto", "messages": _user("x"), "n": 2}, "n"),
    ({"model": "auto", "messages": _user("x"), "tools": [{"type": "function"}]}, "tools"),
    ({"model": "auto", "messages": _user("x"), "max_tokens": 0}, "max_tokens"),
    ({"model": "auto", "messages": _user("\ud800")}, None),
])
async def test_bad_chat_requests_are_400_naming_the_param(base_url: str, body: dict[str, Any], param: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        reply = await http.post("/v1/chat/completions", content=json.dumps(body),
                                headers={"content-type": "application/json"})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"] and error["param"] == param


async def test_malformed_and_oversized_bodies(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        cases = [
            await http.post("/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}),
            await http.post("/v1/chat/completions", content=b"[" * 100_000, headers={"content-type": "application/json"}),
            await http.post("/v1/chat/completions", content=b"\xff\xfe", headers={"content-type": "application/json"}),
            await http.post("/v1/chat/completions", json=[1]),
            await http.post("/v1/chat/completions", content=b"x" * (1024 * 1024 + 1),
                            headers={"content-type": "application/json"}),
            await http.post("/v1/chat/completions", content=b"a=b",
                            headers={"content-type": "application/x-www-form-urlencoded"}),
            await http.get("/v1/chat/completions"),
            await http.post("/v1/models"),
        ]
    assert [r.status_code for r in cases] == [400, 400, 400, 400, 413, 415, 405, 405]
    assert all(r.json()["error"]["message"] and "type" in r.json()["error"] for r in cases)


def test_stream_mapper_needs_done_before_done_marker() -> None:
    mapper = openai_compat.StreamMapper("chatcmpl-x", 0, include_usage=False)
    mapper.map(router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text="abc")))
    assert not mapper.finished
    error = mapper.truncated()
    assert mapper.failed and error["error"]["code"] == "unavailable" and error["switchboard"]["chars_sent"] == 3


async def test_openapi_lists_the_openai_routes_and_docs_render(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        doc = (await http.get("/openapi.json")).json()
        page = await http.get("/docs")
    assert "post" in doc["paths"]["/v1/chat/completions"] and "get" in doc["paths"]["/v1/models"]
    assert "ChatCompletionRequest" in doc["components"]["schemas"] and "security" not in doc
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/chat/completions" in page.text and "/v1/router/generate" in page.text
    assert "<script" not in page.text and "http://" not in page.text.replace('href="/openapi.json"', "")
