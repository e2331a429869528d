"""`switchboard chat`: stream one answer through the router to the terminal."""

from __future__ import annotations

import sys
from typing import TextIO

import grpc

from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.settings import MeshSettings


async def chat(
    settings: MeshSettings,
    prompt: str,
    *,
    user: str = "",
    topic: str = "",
    backend: str = "",
    timeout: float = 120.0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Prints the answer as it streams; details (backend, timings) go to `err`.
    Exit code 0 on a complete answer, 1 on an error event or status."""
    channels = PeerChannels(settings)
    stub = router_pb2_grpc.RouterServiceStub(channels.channel("router"))
    request = router_pb2.GenerateRequest(prompt=prompt, user_id=user, topic=topic, pinned_backend=backend)
    try:
        async for event in stub.Generate(request, timeout=timeout):
            kind = event.WhichOneof("event")
            if kind == "start":
                s = event.start
                label = " (mock)" if s.mock else ""
                cached = ", cache hit" if s.cache_hit else ""
                print(f"[{s.backend}{label} · {s.model} · {s.topic}{cached}]", file=err)
            elif kind == "token":
                out.write(event.token.text)
                out.flush()
            elif kind == "backend_switch":
                sw = event.backend_switch
                print(f"\n[switched {sw.from_backend} → {sw.to_backend}: {sw.reason}]", file=err)
            elif kind == "done":
                d = event.done
                out.write("\n")
                ttft = d.time_to_first_token.ToTimedelta().total_seconds() * 1000
                total = d.total_time.ToTimedelta().total_seconds() * 1000
                note = f", degraded: {d.degraded_reason}" if d.degraded else ""
                print(f"[{d.backend} · {d.usage.completion_tokens} tokens · first token {ttft:.0f} ms"
                      f" · total {total:.0f} ms{note}]", file=err)
            elif kind == "error":
                print(f"\n[error {event.error.code}: {event.error.message}]", file=err)
                return 1
        return 0
    except grpc.aio.AioRpcError as exc:
        hint = ""
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            hint = f" (router at {channels.address('router')}: is `switchboard up` running?)"
        print(f"switchboard chat: {exc.code().name}: {exc.details()}{hint}", file=err)
        return 1
    finally:
        await channels.close()
