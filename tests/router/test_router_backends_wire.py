"""What each adapter puts on the wire (seen by the fake server), and the parsers'
handling of in-band errors and odd events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry import trace as otel_context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.router.backends import (
    BackendClient,
    BackendConfig,
    BackendError,
    BackendRequest,
    ChatTurn,
    ErrorKind,
    build_backend,
    make_http_client,
)
from services.router.backends.anthropic import AnthropicParser
from services.router.backends.base import parse_retry_after
from services.router.backends.ollama import OllamaParser
from services.router.backends.openai import OpenAIParser
from switchboard.runtime.clock import ManualClock, SystemClock
from switchboard.testing.fake_backend import FakeBackend, Fault, split_tokens

MESSAGES = (
    ChatTurn("system", "You are terse."),
    ChatTurn("user", "Name a river."),
    ChatTurn("assistant", "Nile."),
    ChatTurn("user", "Another one?"),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    async with FakeBackend(model="served-model") as fb:
        yield fb


@pytest.fixture
async def client() -> AsyncIterator[BackendClient]:
    async with make_http_client(trust_env=False) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, for what the fake answers outside the adapters."""
    async with httpx.AsyncClient(trust_env=False) as c:
        yield c


def backend(kind: str, base_url: str, client: BackendClient, key_env: str | None = "KEY"):
    config = BackendConfig(name=kind, kind=kind, base_url=base_url, model="m-1", api_key_env=key_env)
    return build_backend(config, client, SystemClock(), {"KEY": "secret-key"})


async def drain(b, request: BackendRequest) -> str:
    return "".join([c.text async for c in b.stream(request)])


async def test_openai_request_shape(fake: FakeBackend, client: BackendClient) -> None:
    b = backend("openai", fake.url + "/v1", client)  # a base URL ending in /v1 is not doubled
    await drain(b, BackendRequest(messages=MESSAGES, max_tokens=7, temperature=0.3))
    rec = fake.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer secret-key"
    assert rec.body == {
        "model": "m-1",
        "messages": [{"role": t.role, "content": t.content} for t in MESSAGES],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 7,
        "temperature": 0.3,
    }


async def test_openai_without_a_key_sends_no_authorization(fake: FakeBackend, client: BackendClient) -> None:
    await drain(backend("openai", fake.url, client, key_env=None), BackendRequest(messages=MESSAGES))
    assert "authorization" not in fake.requests[-1].headers


async def test_ollama_request_shape(fake: FakeBackend, client: BackendClient) -> None:
    await drain(backend("ollama", fake.url, client, key_env=None), BackendRequest(messages=MESSAGES, max_tokens=5, temperature=0.0))
    rec = fake.requests[-1]
    assert rec.path == "/api/chat"
    assert rec.body == {
        "model": "m-1",
        "messages": [{"role": t.role, "content": t.content} for t in MESSAGES],
        "stream": True,
        "options": {"num_predict": 5, "temperature": 0.0},
    }
    assert "authorization" not in rec.headers


async def test_anthropic_request_shape(fake: FakeBackend, client: BackendClient) -> None:
    await drain(backend("anthropic", fake.url, client), BackendRequest(messages=MESSAGES, temperature=1.7))
    rec = fake.requests[-1]
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == "secret-key"
    assert rec.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in rec.headers
    assert rec.body["system"] == "You are terse."
    assert [m["role"] for m in rec.body["messages"]] == ["user", "assistant", "user"]
    assert rec.body["max_tokens"] == 4096  # required by the API: the default when unset
    assert rec.body["temperature"] == 1.0  # clamped to Anthropic's range
    assert rec.body["stream"] is True


async def test_anthropic_prefill_strips_trailing_whitespace_and_does_not_double_it(
    fake: FakeBackend, client: BackendClient
) -> None:
    b = backend("anthropic", fake.url, client)
    request = BackendRequest(messages=MESSAGES[:2])
    full = await drain(b, request)
    prefix = "".join(split_tokens(full)[:2]) + " "  # ends in whitespace, as a cut stream may

    rest = await drain(b, BackendRequest(messages=MESSAGES[:2], assistant_prefix=prefix))

    sent = fake.requests[-1].body["messages"][-1]
    assert sent == {"role": "assistant", "content": prefix.rstrip()}
    assert not rest.startswith(" ")
    assert prefix + rest == full


async def test_error_detail_carries_the_backend_message(fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault(Fault.parse("http_error:400"))
    with pytest.raises(BackendError) as info:
        await drain(backend("openai", fake.url, client), BackendRequest(messages=MESSAGES))
    assert info.value.kind is ErrorKind.CLIENT
    assert "fake HTTP 400" in info.value.detail


async def test_fault_from_a_prompt_directive(fake: FakeBackend, client: BackendClient) -> None:
    request = BackendRequest(messages=(ChatTurn("user", "hello [[fault:http_error:503]]"),))
    with pytest.raises(BackendError) as info:
        await drain(backend("ollama", fake.url, client), request)
    assert info.value.status_code == 503


async def test_fault_from_a_request_header(fake: FakeBackend, http: httpx.AsyncClient) -> None:
    response = await http.post(
        fake.url + "/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-fake-fault": "rate_limit:3"},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/v1/messages"])
async def test_fake_answers_without_streaming_too(path: str, fake: FakeBackend, http: httpx.AsyncClient) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "stream": False, "max_tokens": 50}
    response = await http.post(fake.url + path, json=body)
    assert response.status_code == 200
    text = str(response.json())
    assert fake.answer_for([("user", "hi")]) in text


@pytest.mark.parametrize(
    ("variable", "excluded"),
    [
        ("OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS", ""),
        ("OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS", "/v1/chat"),
        ("OTEL_PYTHON_EXCLUDED_URLS", "chat/completions"),  # the generic fallback
        ("OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS", "localhost:\\d+/v1"),  # on the normalised URL
    ],
)
async def test_trace_context_without_tracing_goes_to_the_backend_unless_excluded(
    fake: FakeBackend, variable: str, excluded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lean path (no exporter, no metrics): no aiohttp tracing, the client adds
    # `traceparent` itself, except for URLs excluded as OpenTelemetry's would.
    monkeypatch.delenv("OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_EXCLUDED_URLS", raising=False)
    monkeypatch.setenv(variable, excluded)
    parent = SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C, span_id=0xEEE19B7EC3C1B174,
                         is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    async with make_http_client(trust_env=False, propagate_trace_context=True) as client:
        with otel_context.use_span(NonRecordingSpan(parent)):
            # Written unusually: upper-case host, as OpenTelemetry sees it normalised.
            await drain(backend("openai", fake.url.replace("127.0.0.1", "LOCALHOST"), client),
                        BackendRequest(messages=MESSAGES))
    headers = fake.requests[-1].headers
    if excluded:
        assert "traceparent" not in headers
    else:
        assert headers["traceparent"] == "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"


async def test_no_trace_context_unless_asked(fake: FakeBackend, client: BackendClient) -> None:
    parent = SpanContext(trace_id=1, span_id=2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with otel_context.use_span(NonRecordingSpan(parent)):
        await drain(backend("openai", fake.url, client), BackendRequest(messages=MESSAGES))
    assert "traceparent" not in fake.requests[-1].headers


def test_retry_after_forms() -> None:
    clock = ManualClock(start=datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
    # Response headers as aiohttp gives them: names in any case.
    assert parse_retry_after(CIMultiDictProxy(CIMultiDict({"Retry-After": "7"})), clock) == 7.0
    assert parse_retry_after(CIMultiDict({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}), clock) == 30.0
    assert parse_retry_after(CIMultiDict({"Retry-After-Ms": "250", "retry-after": "1"}), clock) == 0.25
    assert parse_retry_after(CIMultiDict({"retry-after": "soon"}), clock) is None
    assert parse_retry_after(CIMultiDict(), clock) is None


def _feed_all(parser, lines: list[str]) -> list:
    out = []
    for line in lines:
        out += parser.feed(line)
    return out


def test_openai_in_band_error_is_server() -> None:
    with pytest.raises(BackendError) as info:
        _feed_all(OpenAIParser(), ['data: {"error": {"message": "model crashed", "type": "server_error"}}', ""])
    assert info.value.kind is ErrorKind.SERVER
    assert "model crashed" in info.value.detail


def test_openai_chunk_without_choices_is_malformed() -> None:
    with pytest.raises(BackendError) as info:
        _feed_all(OpenAIParser(), ['data: {"id": "x"}', ""])
    assert info.value.kind is ErrorKind.MALFORMED


def test_openai_finish_reason_and_usage_arrive_with_done() -> None:
    p = OpenAIParser()
    chunks = _feed_all(
        p,
        [
            ": keep-alive comment",
            'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}',
            "",
            'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]}',
            "",
            'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 1}}',
            "",
            "data: [DONE]",
            "",
        ],
    )
    assert [c.text for c in chunks] == ["Hi", ""]
    assert (chunks[-1].finish_reason, chunks[-1].prompt_tokens, chunks[-1].completion_tokens) == ("content_filter", 4, 1)
    assert p.done


def test_ollama_error_line_is_server_and_garbage_is_malformed() -> None:
    with pytest.raises(BackendError) as info:
        OllamaParser().feed('{"error": "model not loaded"}')
    assert info.value.kind is ErrorKind.SERVER
    with pytest.raises(BackendError) as info:
        OllamaParser().feed('{"message": {"content": "x"}}')  # no "done"
    assert info.value.kind is ErrorKind.MALFORMED


@pytest.mark.parametrize(
    ("etype", "kind"),
    [
        ("overloaded_error", ErrorKind.SERVER),
        ("api_error", ErrorKind.SERVER),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("invalid_request_error", ErrorKind.CLIENT),
    ],
)
def test_anthropic_error_event(etype: str, kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as info:
        _feed_all(
            AnthropicParser(strip_leading_space=False),
            ["event: error", f'data: {{"type": "error", "error": {{"type": "{etype}", "message": "nope"}}}}', ""],
        )
    assert info.value.kind is kind


def test_anthropic_ignores_unknown_events_and_non_text_deltas() -> None:
    start = '{"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}'
    chunks = _feed_all(
        AnthropicParser(strip_leading_space=False),
        [
            "event: message_start", f"data: {start}", "",
            "event: brand_new_event", 'data: {"type": "brand_new_event"}', "",
            "event: content_block_delta",
            'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}', "",
            "event: content_block_delta",
            'data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Yes"}}', "",
            "event: message_delta",
            'data: {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}}', "",
            "event: message_stop", 'data: {"type": "message_stop"}', "",
        ],
    )
    assert [c.text for c in chunks] == ["Yes", ""]
    assert (chunks[-1].finish_reason, chunks[-1].prompt_tokens, chunks[-1].completion_tokens) == ("length", 9, 3)


def test_anthropic_delta_before_message_start_is_malformed() -> None:
    with pytest.raises(BackendError) as info:
        _feed_all(
            AnthropicParser(strip_leading_space=False),
            ["event: content_block_delta", 'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}', ""],
        )
    assert info.value.kind is ErrorKind.MALFORMED


async def test_fake_rejects_an_unknown_fault_spec(fake: FakeBackend, http: httpx.AsyncClient) -> None:
    response = await http.post(
        fake.url + "/api/chat",
        json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-fake-fault": "meteor_strike"},
    )
    assert response.status_code == 400
    assert "unknown fault 'meteor_strike'" in response.text
