"""A lean `text/event-stream` response for streams relayed from gRPC.

Starlette's StreamingResponse sends every yielded chunk as its own body
message (one socket write each, through every middleware's `send`), ends with
one more empty message for the terminating chunk, and watches for a client's
disconnect from an anyio task group. On the gateway's hot path (an OpenAI
stream is a handful of router events) those writes were most of the per-request
cost: on loopback each write is a send() that runs the receiver's TCP path.
Here each chunk the caller yields is one body message (the OpenAI route joins
what one read of the router's stream brought), the last one carries the end of
the body in the same write, and a disconnect is one waiting future whose
callback stops the upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.responses import Response

# (text, last): `last` marks the chunk that ends the body (it goes out with the terminator).
Chunks = AsyncIterator[tuple[str, bool]]


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, chunks: Chunks, *, on_disconnect: Callable[[], object],
                 headers: Mapping[str, str] | None = None) -> None:
        """`chunks` yields each event's framed SSE text; `on_disconnect` runs
        once if the client goes away first (cancel the upstream call: the
        iterator then ends with CancelledError, which is taken as the end)."""
        self._chunks = chunks
        self._on_disconnect = on_disconnect
        self._client_gone = False
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gone = asyncio.ensure_future(_disconnected(receive))
        gone.add_done_callback(self._client_left)
        ended = False
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for text, last in self._chunks:
                await send({"type": "http.response.body", "body": text.encode(), "more_body": not last})
                if last:
                    ended = True
                    break
        except asyncio.CancelledError:
            # Our own cancel of the upstream call after the client left; a
            # cancel of this task (shutdown) still propagates.
            task = asyncio.current_task()
            if not self._client_gone or (task is not None and task.cancelling()):
                raise
            return
        finally:
            gone.remove_done_callback(self._client_left)
            gone.cancel()
            with contextlib.suppress(Exception):
                await self._chunks.aclose()  # type: ignore[attr-defined]
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _client_left(self, gone: asyncio.Future[None]) -> None:
        if not gone.cancelled() and gone.exception() is None:
            self._client_gone = True
            self._on_disconnect()


async def _disconnected(receive: Any) -> None:
    """Returns when the client has gone (the request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass
