"""Token coalescing for the caller's stream, without adding latency.

Every gRPC message costs the router a fixed amount of CPU (serialisation, a
write, a syscall), so relaying one message per backend chunk is what bounds a
busy router. `coalesced` runs the event source in a small pump task that
buffers events while the previous message is being written; each time the
caller's stream is ready for more, everything already buffered goes out at
once, adjacent tokens of the same backend merged into one. Nothing is ever held
back waiting for more (no timers): when the buffer is empty the next event goes
out as soon as it arrives, so the first token, and every token of a slow
backend, is sent as promptly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.router.chain import Event, Token

MAX_BUFFERED_EVENTS = 256  # the pump waits beyond this: a slow caller does not buffer a whole answer


class _End:
    """The source ended (with `error` when it raised)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def merge_tokens(events: list[Event]) -> list[Event]:
    """Adjacent tokens of the same backend as one token; everything else, and the
    order, unchanged."""
    out: list[Event] = []
    run: list[str] = []
    backend = ""
    for event in events:
        if isinstance(event, Token) and (not run or event.backend == backend):
            run.append(event.text)
            backend = event.backend
            continue
        if run:
            out.append(Token("".join(run), backend))
            run = []
        if isinstance(event, Token):
            run, backend = [event.text], event.backend
        else:
            out.append(event)
    if run:
        out.append(Token("".join(run), backend))
    return out


async def coalesced(source: AsyncIterator[Event], *, max_buffered: int = MAX_BUFFERED_EVENTS) -> AsyncIterator[Event]:
    """`source`'s events, adjacent tokens merged whenever several were ready at
    once. Closing (or cancelling) the consumer cancels the pump and closes
    `source`; an exception of `source` is raised to the consumer."""
    queue: asyncio.Queue[Event | _End] = asyncio.Queue(max_buffered)
    first_token_out = False

    async def pump() -> None:
        try:
            async for event in source:
                await queue.put(event)
                if not first_token_out:
                    # Until the first token is on its way, let the loop run between events:
                    # a burst already in the socket buffer would otherwise be parsed whole
                    # before the start event's write completes, delaying the first token.
                    # After it, a burst is parsed in one go and sent as one message.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, which raises it)
            await queue.put(_End(exc))
            return
        await queue.put(_End())

    task = asyncio.create_task(pump())
    try:
        while True:
            batch: list[Event | _End] = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            end = batch[-1] if isinstance(batch[-1], _End) else None
            events = [e for e in batch if not isinstance(e, _End)]
            if not first_token_out:
                first_token_out = any(isinstance(e, Token) for e in events)
            for event in merge_tokens(events):
                yield event
            if end is not None:
                if end.error is not None:
                    raise end.error
                return
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
