"""Floors: what single library operations on the request path cost, measured
in the harness process (CPU time over many repetitions, after a warm-up).

They explain the per-request figures of the other sections: a routed request
is a handful of these, and what they cost is the libraries', not the mesh's.

- the router's backend call: one streamed chat completion read to its end with
  aiohttp (the router's HTTP client), httpx (the one it replaced), and
  bench/http.py's minimal client;
- one OpenTelemetry span, recorded and exported vs not recorded (what
  switchboard does when no exporter is configured);
- one redis-py asyncio round trip (PING) and one cache lookup on the Redis
  store (the Lua script a cache hit runs);
- one unary gRPC call's client CPU with no interceptor, with OpenTelemetry's
  client interceptors when the span is not recorded, and with switchboard's
  trace-context interceptor (what a service uses when nothing is exported).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import targets as T
from bench.http import HttpPool
from bench.procs import Mesh, redis_cleanup

Op = Callable[[], Awaitable[Any]]


async def cpu_per_op(op: Op, *, repeat: int, warmup: int) -> dict[str, float]:
    """µs of this process's CPU and of wall time per call of `op`, run one at a time."""
    for _ in range(warmup):
        await op()
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        await op()
    return {
        "cpu_us": (time.process_time() - c0) / repeat * 1e6,
        "wall_us": (time.perf_counter() - t0) / repeat * 1e6,
        "repeat": repeat,
    }


def _item(what: str, group: str, m: dict[str, float], note: str = "") -> dict[str, Any]:
    return {"what": what, "group": group, **m, "note": note}


async def http_clients(mesh: Mesh, tokens: int, repeat: int) -> list[dict[str, Any]]:
    import aiohttp  # noqa: PLC0415
    import httpx  # noqa: PLC0415

    fb = await mesh.fake_backend("floor-backend", tokens=tokens)
    url = f"http://127.0.0.1:{fb.port}/v1/chat/completions"
    body = T.chat_body("fake-model")
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    pool = HttpPool("127.0.0.1", fb.port)
    out = []
    async with httpx.AsyncClient() as client:

        async def with_httpx() -> None:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                async for _ in response.aiter_bytes():
                    pass

        out.append(_item(f"httpx: one streamed chat completion ({tokens} tokens), read to the end", "HTTP client",
                         await cpu_per_op(with_httpx, repeat=repeat, warmup=repeat // 10),
                         "the router's backend client before aiohttp"))
    async with aiohttp.ClientSession() as session:

        async def with_aiohttp() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                while await response.content.readany():
                    pass

        out.append(_item("aiohttp: the same request", "HTTP client",
                         await cpu_per_op(with_aiohttp, repeat=repeat, warmup=repeat // 10),
                         "the router's backend client (services/router/backends/client.py)"))
    direct = T.direct_chat(pool)
    out.append(_item("bench/http.py (asyncio streams, no framework): the same request", "HTTP client",
                     await cpu_per_op(direct, repeat=repeat, warmup=repeat // 10), "what the transport itself costs"))
    await pool.close()
    mesh.stop(fb)
    return out


async def spans(repeat: int) -> list[dict[str, Any]]:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    from switchboard.runtime import telemetry  # noqa: PLC0415

    class Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    recorded = TracerProvider(sampler=telemetry.build_sampler({}))
    recorded.add_span_processor(BatchSpanProcessor(Discard()))
    unrecorded = telemetry.build_tracer_provider("bench", env={})  # no endpoint: switchboard's default
    out = []
    for label, provider in (("recorded and exported (an OTLP endpoint is set)", recorded),
                            ("not recorded (no exporter: the default)", unrecorded)):
        tracer = provider.get_tracer("bench")

        async def one(tracer: Any = tracer) -> None:
            with tracer.start_as_current_span("op", kind=SpanKind.SERVER, attributes={"rpc.system": "grpc"}) as s:
                s.set_attribute("rpc.method", "Generate")
                s.set_attribute("switchboard.backend", "fake-a")

        out.append(_item(f"OpenTelemetry span, {label}", "tracing", await cpu_per_op(one, repeat=repeat, warmup=500),
                         "a routed request makes about ten across the mesh"))
        provider.shutdown()
    return out


async def grpc_client_tracing(mesh: Mesh, repeat: int) -> list[dict[str, Any]]:
    import grpc  # noqa: PLC0415
    from opentelemetry.instrumentation.grpc import aio_client_interceptors  # noqa: PLC0415

    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc  # noqa: PLC0415
    from switchboard.runtime import telemetry  # noqa: PLC0415
    from switchboard.runtime.trace_context import trace_context_client  # noqa: PLC0415

    base = await mesh.baseline("floor-grpc", tokens=1)
    quiet = telemetry.build_tracer_provider("bench", env={})  # no endpoint: nothing recorded
    variants: list[tuple[str, list[Any], str]] = [
        ("no interceptor", [], "the floor"),
        ("OpenTelemetry's client interceptors, span not recorded", aio_client_interceptors(tracer_provider=quiet),
         "what every peer call paid without an exporter before 2026-11-22"),
        ("switchboard's trace-context interceptor", trace_context_client(),
         "what a peer call pays without an exporter (switchboard/runtime/trace_context.py)"),
    ]
    out = []
    try:
        for label, chain, note in variants:
            channel = grpc.aio.insecure_channel(base.address, interceptors=chain)
            try:
                await T.cache_store(channel, "floor", b"x" * 64)
                stub, request = cache_pb2_grpc.CacheServiceStub(channel), cache_pb2.LookupRequest(key="floor")

                async def lookup(stub: Any = stub, request: Any = request) -> None:
                    await stub.Lookup(request, timeout=5.0)

                # Inside a (dropped) server span, as a peer call made while serving a request is.
                with quiet.get_tracer("bench").start_as_current_span("request", kind=SpanKind.SERVER):
                    cost = await cpu_per_op(lookup, repeat=repeat * 4, warmup=200)
                out.append(_item(f"gRPC client: one unary call (cache Lookup on a bare grpc.aio server) made while "
                                 f"serving a request, {label}", "tracing", cost, note))
            finally:
                await channel.close()
    finally:
        mesh.stop(base)
    return out


async def redis_ops(redis_url: str, repeat: int) -> list[dict[str, Any]]:
    from services.cache.model import EntryMeta, StoredEntry  # noqa: PLC0415
    from services.cache.store_redis import RedisStore, connect  # noqa: PLC0415

    prefix = f"sbfloor:{uuid.uuid4().hex[:8]}:"
    client = connect(redis_url, timeout_s=1.0, max_connections=4)
    store = RedisStore(client, prefix=prefix, max_entries=1000)
    now = datetime.now(UTC)
    await store.put("bench", StoredEntry("k", b"x" * 1024, False, EntryMeta(), now, now + timedelta(hours=1)), 3600)
    try:
        out = [
            _item("redis-py asyncio: PING round trip", "Redis", await cpu_per_op(client.ping, repeat=repeat, warmup=200)),
            _item("cache Redis store: one lookup (the hit script, 1 KiB entry)", "Redis",
                  await cpu_per_op(lambda: store.get("bench", "k"), repeat=repeat, warmup=200),
                  "what a cache hit adds over the memory store"),
        ]
    finally:
        await store.close()
        redis_cleanup(redis_url, prefix)
    return out


async def measure(mesh: Mesh, *, tokens: int, repeat: int, redis_url: str | None) -> dict[str, Any]:
    items = await http_clients(mesh, tokens, repeat)
    items += await spans(repeat * 10)
    items += await grpc_client_tracing(mesh, repeat)
    notes = []
    if redis_url:
        items += await redis_ops(redis_url, repeat)
    else:
        notes.append("Redis not configured: its floors were not measured")
    return {"available": True, "items": items, "notes": notes}
