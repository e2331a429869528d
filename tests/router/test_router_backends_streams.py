"""Each HTTP adapter against the fake backend over real sockets: streaming with
usage, continuation, every fault, every timeout, closing early, probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.router.backends import (
    Backend,
    BackendClient,
    BackendConfig,
    BackendError,
    BackendRequest,
    ChatTurn,
    Chunk,
    ErrorKind,
    Timeouts,
    build_backend,
    make_http_client,
)
from switchboard.runtime.clock import SystemClock
from switchboard.testing.fake_backend import FakeBackend, split_tokens
from switchboard.testing.infra import free_port

KINDS = ["openai", "ollama", "anthropic"]
ENV = {"FAKE_KEY": "sk-test-123"}
REQUEST = BackendRequest(
    messages=(ChatTurn("system", "Be brief."), ChatTurn("user", "Tell me about rivers and stones.")),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    async with FakeBackend() as fb:
        yield fb


@pytest.fixture
async def client() -> AsyncIterator[BackendClient]:
    async with make_http_client(trust_env=False) as c:
        yield c


def make(kind: str, base_url: str, client: BackendClient, **timeouts: float) -> Backend:
    config = BackendConfig(
        name=f"t-{kind}",
        kind=kind,
        base_url=base_url,
        model="fake-model",
        api_key_env="FAKE_KEY",
        timeouts=Timeouts(**timeouts),
    )
    return build_backend(config, client, SystemClock(), ENV)


async def collect(backend: Backend, request: BackendRequest = REQUEST) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(request)]


async def collect_until_error(backend: Backend, request: BackendRequest = REQUEST) -> tuple[str, BackendError]:
    text = ""
    with pytest.raises(BackendError) as info:
        async for chunk in backend.stream(request):
            assert chunk.finish_reason is None, "a failing stream must not report a finish"
            text += chunk.text
    return text, info.value


@pytest.mark.parametrize("kind", KINDS)
async def test_streams_the_answer_with_usage_and_a_final_chunk(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    backend = make(kind, fake.url, client)
    chunks = await collect(backend)

    rec = fake.requests[-1]
    assert rec.wire == kind and rec.stream
    expected = fake.answer_for(rec.messages)
    assert "".join(c.text for c in chunks) == expected
    # Tokens that arrive in one network read go on as one chunk, each counted.
    assert sum(c.pieces for c in chunks if c.text) == len(split_tokens(expected))
    assert len(chunks) < len(split_tokens(expected))  # the fake sends the answer at once
    last = chunks[-1]
    assert last.finish_reason == "stop"
    assert last.completion_tokens == len(split_tokens(expected))
    assert last.prompt_tokens == sum(len(c.split()) for _, c in rec.messages)
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert rec.completed and not rec.disconnected


@pytest.mark.parametrize("kind", KINDS)
async def test_tokens_that_arrive_apart_go_on_apart(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.token_delay_s = 0.02
    chunks = await collect(make(kind, fake.url, client))
    expected = fake.answer_for(fake.requests[-1].messages)
    # Nothing waits for more: each token is handed on as it arrives.
    assert [c.text for c in chunks if c.text] == split_tokens(expected)
    assert all(c.pieces == 1 for c in chunks)


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_is_kept_alive_between_streams(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    backend = make(kind, fake.url, client)
    await collect(backend)
    await collect(backend)
    first, second = fake.requests[-2], fake.requests[-1]
    assert first.peer == second.peer  # the pooled connection was reused


async def test_idle_connections_beyond_the_keepalive_cap_are_closed(fake: FakeBackend) -> None:
    async with make_http_client(max_connections=4, max_keepalive_connections=1, trust_env=False) as client:
        backend = make("openai", fake.url, client)
        await asyncio.gather(*(collect(backend) for _ in range(3)))  # three streams, three connections
        burst = {r.peer for r in fake.requests}
        assert len(burst) == 3
        await asyncio.gather(*(collect(backend) for _ in range(2)))
        after = {r.peer for r in list(fake.requests)[3:]}
        assert len(after) == 2 and len(after & burst) == 1  # one was kept for reuse, two were closed


async def test_proxies_come_from_the_environment_and_no_proxy_is_honoured(
    fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there: only a proxy can answer
    monkeypatch.setenv("HTTP_PROXY", fake.url)  # the fake answers absolute-form requests, as a proxy would
    async with make_http_client(trust_env=True) as client:
        assert (await collect(make("openai", unreachable, client)))[-1].finish_reason == "stop"
    async with make_http_client(trust_env=False) as client:  # trust_env off: the proxy is not used
        assert (await collect_until_error(make("openai", unreachable, client)))[1].kind is ErrorKind.CONNECTION
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with make_http_client(trust_env=True) as client:
        assert (await collect_until_error(make("openai", unreachable, client)))[1].kind is ErrorKind.CONNECTION


async def test_a_full_pool_fails_fast_as_local_overload_and_frees_its_slot(fake: FakeBackend) -> None:
    fake.set_fault("stall:1")
    async with make_http_client(max_connections=1, pool_timeout_s=0.1, trust_env=False) as client:
        backend = make("openai", fake.url, client)
        holder = backend.stream(REQUEST)
        assert (await anext(holder)).text  # holds the only connection
        error = (await collect_until_error(backend))[1]
        assert error.kind is ErrorKind.POOL_EXHAUSTED
        assert len(fake.requests) == 1  # the refused request never reached the backend
        await holder.aclose()  # type: ignore[attr-defined]
        fake.set_fault(None)
        assert (await collect(backend))[-1].finish_reason == "stop"  # the slot came back


@pytest.mark.parametrize("kind", KINDS)
async def test_max_tokens_ends_with_length(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.tokens = 10
    backend = make(kind, fake.url, client)
    chunks = await collect(backend, BackendRequest(messages=REQUEST.messages, max_tokens=3))
    assert sum(c.pieces for c in chunks if c.text) == 3
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].completion_tokens == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_continuation_sends_the_prefix_as_a_trailing_assistant_turn(
    kind: str, fake: FakeBackend, client: BackendClient
) -> None:
    backend = make(kind, fake.url, client)
    assert backend.supports_continuation
    full = "".join(c.text for c in await collect(backend))
    prefix = "".join(split_tokens(full)[:3])

    chunks = await collect(backend, BackendRequest(messages=REQUEST.messages, assistant_prefix=prefix))

    rec = fake.requests[-1]
    assert rec.assistant_prefix == prefix
    last_turn = rec.body["messages"][-1]
    assert last_turn == {"role": "assistant", "content": prefix}
    rest = "".join(c.text for c in chunks)
    assert prefix + rest == full  # the continuation carries only the new text
    assert chunks[-1].finish_reason == "stop"


FAULTS = [
    # spec, error kind, HTTP status, text tokens received before the error
    ("http_error:500", ErrorKind.SERVER, 500, 0),
    ("http_error:503", ErrorKind.SERVER, 503, 0),
    ("http_error:401", ErrorKind.CLIENT, 401, 0),
    ("http_error:404", ErrorKind.CLIENT, 404, 0),
    ("rate_limit:2", ErrorKind.RATE_LIMITED, 429, 0),
    ("reset_before_first_token", ErrorKind.CONNECTION, None, 0),
    ("reset_after:3", ErrorKind.CONNECTION, None, 3),
    ("malformed:0", ErrorKind.MALFORMED, None, 0),
    ("malformed:2", ErrorKind.MALFORMED, None, 2),
    ("missing_end", ErrorKind.MALFORMED, None, 12),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("spec", "error_kind", "status", "tokens"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_maps_to_error_kind(
    kind: str,
    spec: str,
    error_kind: ErrorKind,
    status: int | None,
    tokens: int,
    fake: FakeBackend,
    client: BackendClient,
) -> None:
    fake.tokens = 12
    fake.set_fault(spec)
    backend = make(kind, fake.url, client)

    text, error = await collect_until_error(backend)

    assert error.kind is error_kind, error.detail
    assert error.status_code == status
    assert len(split_tokens(text)) == tokens
    if error_kind is ErrorKind.RATE_LIMITED:
        assert error.retry_after_s == 2.0
    if status is not None:
        assert f"HTTP {status}" in error.detail
    if spec == "missing_end":
        assert "end marker" in error.detail


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_clears_after_times(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault("http_error:502", times=1)
    backend = make(kind, fake.url, client)
    _, error = await collect_until_error(backend)
    assert error.kind is ErrorKind.SERVER
    chunks = await collect(backend)
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused_is_connection(kind: str, client: BackendClient) -> None:
    backend = make(kind, f"http://127.0.0.1:{free_port()}", client)
    _, error = await collect_until_error(backend)
    assert error.kind is ErrorKind.CONNECTION
    with pytest.raises(BackendError) as info:
        await backend.probe()
    assert info.value.kind is ErrorKind.CONNECTION


@pytest.mark.parametrize("kind", KINDS)
async def test_first_token_timeout(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault("stall:0")
    backend = make(kind, fake.url, client, first_token_s=0.2)
    text, error = await collect_until_error(backend)
    assert error.kind is ErrorKind.TIMEOUT
    assert "first token" in error.detail
    assert text == ""
    rec = await fake.requests[-1].wait_ended(2.0)
    assert rec.disconnected  # the adapter closed the stalled stream


@pytest.mark.parametrize("kind", KINDS)
async def test_gap_between_tokens_timeout(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault("stall:2")
    backend = make(kind, fake.url, client, between_tokens_s=0.2)
    text, error = await collect_until_error(backend)
    assert error.kind is ErrorKind.TIMEOUT
    assert "gap between tokens" in error.detail
    assert len(split_tokens(text)) == 2
    rec = await fake.requests[-1].wait_ended(2.0)
    assert rec.disconnected


@pytest.mark.parametrize("kind", KINDS)
async def test_total_timeout(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.tokens = 40
    fake.set_fault("slow:0.03")  # ~1.2 s in all, each gap well under between_tokens_s
    backend = make(kind, fake.url, client, total_s=0.3, between_tokens_s=5)
    text, error = await collect_until_error(backend)
    assert error.kind is ErrorKind.TIMEOUT
    assert "total time" in error.detail
    assert 0 < len(split_tokens(text)) < 40
    rec = await fake.requests[-1].wait_ended(2.0)
    assert rec.disconnected and not rec.completed


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_the_generator_early_closes_the_upstream_stream(
    kind: str, fake: FakeBackend, client: BackendClient
) -> None:
    fake.tokens = 50
    fake.set_fault("slow:0.05")
    backend = make(kind, fake.url, client)
    stream = backend.stream(REQUEST)
    got = [await anext(stream), await anext(stream)]
    assert all(c.text for c in got)
    await stream.aclose()  # type: ignore[attr-defined]

    rec = await fake.requests[-1].wait_ended(2.0)
    assert rec.disconnected
    assert rec.tokens_sent < 50


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelling_the_consumer_closes_the_upstream_stream(
    kind: str, fake: FakeBackend, client: BackendClient
) -> None:
    fake.set_fault("stall:1")
    backend = make(kind, fake.url, client)
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in backend.stream(REQUEST):
            if chunk.text:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rec = await fake.requests[-1].wait_ended(2.0)
    assert rec.disconnected and rec.tokens_sent == 1


PROBE_PATHS = {"openai": "/v1/models", "ollama": "/api/tags", "anthropic": "/v1/models"}


@pytest.mark.parametrize("kind", KINDS)
async def test_probe_is_a_cheap_get(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    backend = make(kind, fake.url, client)
    await backend.probe()
    rec = fake.requests[-1]
    assert (rec.method, rec.path) == ("GET", PROBE_PATHS[kind])
    assert rec.tokens_sent == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("spec", "error_kind"),
    [
        ("http_error:500", ErrorKind.SERVER),
        ("http_error:401", ErrorKind.CLIENT),
        ("rate_limit:1", ErrorKind.RATE_LIMITED),
        ("reset_before_first_token", ErrorKind.CONNECTION),
        ("stall:0", ErrorKind.TIMEOUT),
    ],
)
async def test_probe_faults(kind: str, spec: str, error_kind: ErrorKind, fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault(spec, probes=True)
    backend = make(kind, fake.url, client, connect_s=0.2, first_token_s=0.2)
    with pytest.raises(BackendError) as info:
        await backend.probe()
    assert info.value.kind is error_kind


async def test_generation_faults_leave_probes_alone_by_default(fake: FakeBackend, client: BackendClient) -> None:
    fake.set_fault("http_error:500")
    await make("openai", fake.url, client).probe()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_slow_consumer_is_not_charged_to_the_backend(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    fake.tokens = 3
    fake.set_fault("slow:0.1")  # each token is a separate read from the socket
    backend = make(kind, fake.url, client, between_tokens_s=0.25)
    chunks = []
    async for chunk in backend.stream(REQUEST):
        chunks.append(chunk)
        await asyncio.sleep(0.4)  # longer than the gap limit, on our side
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("kind", KINDS)
async def test_streams_ask_for_their_media_type_and_probes_do_not(kind: str, fake: FakeBackend, client: BackendClient) -> None:
    backend = make(kind, fake.url, client)
    await collect(backend)
    expected = "application/x-ndjson" if kind == "ollama" else "text/event-stream"
    assert fake.requests[-1].headers["accept"] == expected
    await backend.probe()
    assert fake.requests[-1].headers["accept"] == "*/*"


async def test_text_is_not_held_back_while_a_slow_body_end_is_read(client: BackendClient) -> None:
    """An OpenAI server that sends the answer and [DONE] in one write but ends
    the chunked body a second later: the text goes on at once; only the final
    chunk waits for the body's end (so the connection can be pooled)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        events = (b'data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n'
                  b'data: {"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}]}\n\n'
                  b"data: [DONE]\n\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     + b"%x\r\n%s\r\n" % (len(events), events))
        await writer.drain()
        await asyncio.sleep(1.0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        arrivals: list[tuple[float, Chunk]] = []
        async for chunk in make("openai", f"http://127.0.0.1:{port}", client).stream(REQUEST):
            arrivals.append((loop.time() - started, chunk))
    finally:
        server.close()
    (text_at, text), (final_at, final) = arrivals
    assert text.text == "Hello world" and text.pieces == 2
    assert final.finish_reason == "stop"
    assert text_at < 0.5 <= final_at
