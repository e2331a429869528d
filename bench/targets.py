"""One `Call` per thing measured: the backend directly, the router over gRPC,
the gateway's OpenAI-compatible API, the cache, learning and briefs."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import grpc

from bench.http import HttpPool
from bench.load import Call, CallError, Outcome, now
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc

PROMPT = "Summarise the benchmark in one sentence."


class Channels:
    """A few gRPC channels to one server, used in turn: one HTTP/2 connection
    serialises its frames, and several are what a busy client would open."""

    def __init__(self, address: str, count: int = 4) -> None:
        self.channels = [
            grpc.aio.insecure_channel(
                address,
                options=[
                    ("grpc.use_local_subchannel_pool", 1),  # a connection of its own each
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                    ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ],
            )
            for _ in range(count)
        ]
        self._next = itertools.cycle(self.channels)

    def next(self) -> grpc.aio.Channel:
        return next(self._next)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


def _seconds(d: Any) -> float:
    return d.seconds + d.nanos * 1e-9


def chat_body(model: str, *, stream: bool = True) -> bytes:
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream},
        separators=(",", ":"),
    ).encode()


def direct_chat(pool: HttpPool) -> Call:
    """The fake backend itself, OpenAI-compatible streaming."""
    body = chat_body("fake-model")

    async def call() -> Outcome:
        return await pool.stream_chat("/v1/chat/completions", body)

    return call


def gateway_chat(pool: HttpPool, model: str = "auto") -> Call:
    """The gateway's OpenAI-compatible /v1/chat/completions, streaming; any model
    that is not a backend's name lets the router choose."""
    body = chat_body(model)

    async def call() -> Outcome:
        return await pool.stream_chat("/v1/chat/completions", body)

    return call


def router_generate(
    channels: Channels,
    *,
    pinned: str = "",
    temperature: float | None = None,
    prompt: str = PROMPT,
    timeout: float = 30.0,
) -> Call:
    """RouterService.Generate; the DoneEvent's overhead is the router's own figure."""
    request = router_pb2.GenerateRequest(prompt=prompt, user_id="bench-user", pinned_backend=pinned)
    if temperature is not None:
        request.temperature = temperature
    stubs = [router_pb2_grpc.RouterServiceStub(c) for c in channels.channels]
    turn = itertools.cycle(stubs)

    async def call() -> Outcome:
        out = Outcome()
        async for event in next(turn).Generate(request, timeout=timeout):
            kind = event.WhichOneof("event")
            if kind == "token":
                if out.first_token_at is None:
                    out.first_token_at = now()
                out.tokens += 1
            elif kind == "done":
                done = event.done
                if done.degraded or done.finish_reason == router_pb2.FINISH_REASON_DEGRADED:
                    # The offline (or cache-only) answer: the mesh answered, but no backend did.
                    raise CallError("degraded answer (no backend)")
                out.reported_overhead_s = _seconds(done.overhead)
                if done.usage.completion_tokens:
                    out.tokens = done.usage.completion_tokens
            elif kind == "error":
                raise CallError(f"ErrorEvent {event.error.code}")
        return out

    return call


async def router_answers(channels: Channels, pinned: str = "") -> str | None:
    """None if Generate streams an answer, else why not."""
    call = router_generate(channels, pinned=pinned, timeout=10.0)
    try:
        out = await call()
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return "router Generate not implemented"
        return f"router Generate failed: {exc.code().name}: {exc.details()}"
    except CallError as exc:
        return f"router Generate failed: {exc}"
    if out.tokens == 0:
        return "router Generate answered no tokens"
    return None


async def reset_breakers(channel: grpc.aio.Channel) -> list[str]:
    """Puts every backend's breaker back to CLOSED (the admin RPC); returns the
    backends whose breaker was not CLOSED. Between load levels, so an overload
    that tripped them cannot turn the next level into offline answers."""
    stub = router_pb2_grpc.RouterServiceStub(channel)
    try:
        listing = await stub.ListBackends(router_pb2.ListBackendsRequest(), timeout=5.0)
    except grpc.aio.AioRpcError:
        return []
    tripped = []
    for b in listing.backends:
        if b.breaker_state != router_pb2.BREAKER_STATE_CLOSED:
            tripped.append(f"{b.name} {router_pb2.BreakerState.Name(b.breaker_state).removeprefix('BREAKER_STATE_')}")
            try:
                await stub.SetBreakerState(
                    router_pb2.SetBreakerStateRequest(backend=b.name, command=router_pb2.BREAKER_COMMAND_RESET),
                    timeout=5.0,
                )
            except grpc.aio.AioRpcError:
                pass
    return tripped


# -- cache ------------------------------------------------------------------------------


async def cache_store(channel: grpc.aio.Channel, key: str, value: bytes) -> None:
    stub = cache_pb2_grpc.CacheServiceStub(channel)
    await stub.Store(cache_pb2.StoreRequest(key=key, value=value), timeout=5.0)


def cache_lookup(channels: Channels, key: str) -> Call:
    request = cache_pb2.LookupRequest(key=key)
    stubs = itertools.cycle([cache_pb2_grpc.CacheServiceStub(c) for c in channels.channels])

    async def call() -> Outcome:
        reply = await next(stubs).Lookup(request, timeout=5.0)
        if not reply.found:
            raise CallError(f"miss, degraded: {reply.degraded_reason}" if reply.degraded else "miss")
        return Outcome()

    return call


def cache_lookup_rest(pool: HttpPool, key: str) -> Call:
    path = f"/v1/cache/entries/{key}"

    async def call() -> Outcome:
        status, body = await pool.get(path)
        if status != 200:
            raise CallError(f"HTTP {status}")
        if b'"found":true' not in body.replace(b" ", b""):
            raise CallError("miss, degraded" if b'"degraded":true' in body.replace(b" ", b"") else "miss")
        return Outcome()

    return call


# -- learning ---------------------------------------------------------------------------

BACKENDS = ("gpt-large", "claude-mid", "code-special", "fast-mini", "local-llama")
TOPICS = ("code", "general", "quick_question", "creative", "math", "long_context")


def interaction(i: int, *, run: str) -> learning_pb2.Interaction:
    """A plausible interaction; ids unique per run so nothing is a duplicate."""
    backend = BACKENDS[i % len(BACKENDS)]
    topic = TOPICS[(i // 5) % len(TOPICS)]
    success = (i * 7919) % 10 != 0
    msg = learning_pb2.Interaction(
        interaction_id=f"{run}-{i}",
        request_id=f"{run}-r{i}",
        user_id=f"user-{i % 200}",
        topic=topic,
        backend=backend,
        model=backend,
        outcome=learning_pb2.OUTCOME_SUCCESS if success else learning_pb2.OUTCOME_SERVER_ERROR,
        attempt=1,
        prompt_tokens=40,
        completion_tokens=120 if success else 0,
        prompt_chars=200,
    )
    msg.total_time.FromNanoseconds(int((0.4 + (i % 13) * 0.1) * 1e9))
    if success:
        msg.time_to_first_token.FromNanoseconds(int((0.1 + (i % 7) * 0.02) * 1e9))
    msg.occurred_at.GetCurrentTime()
    return msg


def recommend(channels: Channels) -> Call:
    stubs = itertools.cycle([learning_pb2_grpc.LearningServiceStub(c) for c in channels.channels])
    requests = [
        learning_pb2.RecommendRequest(user_id=f"user-{u}", topic=t, candidate_backends=list(BACKENDS))
        for u in range(20)
        for t in TOPICS
    ]
    turn = itertools.cycle(requests)

    async def call() -> Outcome:
        reply = await next(stubs).Recommend(next(turn), timeout=5.0)
        if not reply.ranked:
            raise CallError("empty ranking")
        return Outcome()

    return call


def record_interaction(channels: Channels, counts: dict[str, int]) -> Call:
    """Unary RecordInteraction; `counts` tallies the acks' durability."""
    stubs = itertools.cycle([learning_pb2_grpc.LearningServiceStub(c) for c in channels.channels])
    run = uuid.uuid4().hex[:8]
    seq = itertools.count()

    async def call() -> Outcome:
        reply = await next(stubs).RecordInteraction(
            learning_pb2.RecordInteractionRequest(interaction=interaction(next(seq), run=run)), timeout=10.0
        )
        name = learning_pb2.Durability.Name(reply.ack.durability)
        counts[name] = counts.get(name, 0) + 1
        return Outcome(tokens=1)

    return call


def record_batch(channels: Channels, counts: dict[str, int], size: int = 100) -> Call:
    """RecordInteractions with `size` interactions per call; Outcome.tokens = interactions."""
    stubs = itertools.cycle([learning_pb2_grpc.LearningServiceStub(c) for c in channels.channels])
    run = uuid.uuid4().hex[:8]
    seq = itertools.count()

    async def call() -> Outcome:
        batch = [interaction(next(seq), run=run) for _ in range(size)]
        reply = await next(stubs).RecordInteractions(
            learning_pb2.RecordInteractionsRequest(interactions=batch), timeout=30.0
        )
        for ack in reply.acks:
            name = learning_pb2.Durability.Name(ack.durability)
            counts[name] = counts.get(name, 0) + 1
        if reply.rejected:
            raise CallError(f"{len(reply.rejected)} rejected")
        return Outcome(tokens=len(reply.acks))

    return call


def record_stream(channels: Channels, counts: dict[str, int], size: int = 1000) -> Call:
    """StreamInteractions: `size` interactions on one client stream per call."""
    stubs = itertools.cycle([learning_pb2_grpc.LearningServiceStub(c) for c in channels.channels])
    run = uuid.uuid4().hex[:8]
    seq = itertools.count()

    async def call() -> Outcome:
        def requests() -> Any:
            for _ in range(size):
                yield learning_pb2.StreamInteractionsRequest(interaction=interaction(next(seq), run=run))

        reply = await next(stubs).StreamInteractions(requests(), timeout=60.0)
        c = reply.counts
        counts["STORED"] = counts.get("STORED", 0) + int(c.stored)
        counts["SPOOLED"] = counts.get("SPOOLED", 0) + int(c.spooled)
        if c.rejected:
            raise CallError(f"{c.rejected} rejected")
        return Outcome(tokens=int(c.stored + c.spooled + c.duplicates))

    return call


async def seed_interactions(channel: grpc.aio.Channel, total: int) -> None:
    stub = learning_pb2_grpc.LearningServiceStub(channel)
    run = "seed-" + uuid.uuid4().hex[:6]
    for start in range(0, total, 500):
        batch = [interaction(i, run=run) for i in range(start, min(total, start + 500))]
        await stub.RecordInteractions(learning_pb2.RecordInteractionsRequest(interactions=batch), timeout=60.0)

