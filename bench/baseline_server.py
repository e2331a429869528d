"""The floor: a bare grpc.aio server with none of switchboard's runtime (no
interceptors, telemetry, health, logging), answering the same RPCs from memory.

  CacheService.Lookup / Store  a dict
  RouterService.Generate       StartEvent, `--tokens` TokenEvents, DoneEvent; no backend

What a switchboard service costs above these is its own; what these cost is
Python gRPC's.

    python -m bench.baseline_server --port N [--tokens 20]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator

import grpc

from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc


class Cache(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    async def Lookup(  # noqa: N802
        self, request: cache_pb2.LookupRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.LookupResponse:
        value = self.entries.get(request.key)
        if value is None:
            return cache_pb2.LookupResponse(found=False)
        return cache_pb2.LookupResponse(found=True, entry=cache_pb2.CacheEntry(key=request.key, value=value))

    async def Store(  # noqa: N802
        self, request: cache_pb2.StoreRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.StoreResponse:
        self.entries[request.key] = request.value
        return cache_pb2.StoreResponse(stored=True)


class Router(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    async def Generate(  # noqa: N802
        self, request: router_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        yield router_pb2.GenerateResponse(start=router_pb2.StartEvent(backend="memory", model="memory"))
        for i in range(self.tokens):
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=f" w{i}", backend="memory"))
        done = router_pb2.DoneEvent(finish_reason=router_pb2.FINISH_REASON_STOP, backend="memory")
        done.usage.completion_tokens = self.tokens
        yield router_pb2.GenerateResponse(done=done)


async def serve(port: int, tokens: int) -> None:
    server = grpc.aio.server()
    cache_pb2_grpc.add_CacheServiceServicer_to_server(Cache(), server)
    router_pb2_grpc.add_RouterServiceServicer_to_server(Router(tokens), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"baseline gRPC server on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=20, help="TokenEvents per Generate")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.tokens))


if __name__ == "__main__":
    main()
