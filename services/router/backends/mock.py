"""The mock backend: deterministic text derived from the prompt, configurable
delays and seeded faults. It is what runs when no real backend is configured,
and its answer says so; the router labels it mock everywhere it shows.

Time is the injected clock's (delays and timeouts), so tests can drive it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

from services.router.backends.base import (
    BackendError,
    BackendRequest,
    ChatTurn,
    Chunk,
    DeadlineReached,
    ErrorKind,
)
from services.router.backends.config import BackendConfig, MockOptions
from switchboard.runtime.clock import Clock

_TOKEN = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """Word tokens with their leading whitespace, as LLM tokens usually come."""
    return _TOKEN.findall(text)


def mock_answer(messages: tuple[ChatTurn, ...]) -> str:
    """The same answer for the same conversation, saying plainly it is a mock."""
    asked = next((t.content for t in reversed(messages) if t.role == "user"), "")
    words = asked.split()
    quoted = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
    return (
        "This is a mock answer from switchboard: no real model is configured. "
        f'Your message had {len(words)} words and began: "{quoted}".'
    )


def _prompt_tokens(request: BackendRequest) -> int:
    return sum(len(t.content.split()) for t in request.messages) + len(request.assistant_prefix.split())


class MockBackend:
    supports_continuation = True

    def __init__(self, config: BackendConfig, clock: Clock) -> None:
        self.config = config
        self._options = config.mock or MockOptions()
        self._clock = clock
        # One seeded stream of fault draws per backend: the same calls fail on every run.
        self._rng = random.Random(self._options.seed)

    async def stream(self, request: BackendRequest, *, deadline: float | None = None) -> AsyncIterator[Chunk]:
        opts = self._options
        timeouts = self.config.timeouts
        start = self._clock.monotonic()
        total_deadline = start + timeouts.total_s
        progress_deadline = start + timeouts.first_token_s
        failing = opts.fail_rate > 0 and self._rng.random() < opts.fail_rate

        text = opts.text if opts.text is not None else mock_answer(request.messages)
        prefix = request.assistant_prefix
        if prefix and text.startswith(prefix):
            tokens = split_tokens(text[len(prefix) :])
        else:  # a prefix from another backend: carry on with the rest of our answer
            tokens = split_tokens(text)[len(split_tokens(prefix)) :]
        limit = request.max_tokens if request.max_tokens is not None else len(tokens)
        sent = 0
        for index, token in enumerate(tokens[:limit]):
            if failing and sent >= opts.fail_after_tokens:
                raise self._fault()
            delay = opts.first_token_delay_s if index == 0 else opts.token_delay_s
            await self._wait(delay, progress_deadline, total_deadline, sent > 0, deadline)
            sent += 1
            yield Chunk(text=token)
            progress_deadline = self._clock.monotonic() + timeouts.between_tokens_s
        if failing:
            raise self._fault()
        yield Chunk(
            finish_reason="length" if limit < len(tokens) else "stop",
            prompt_tokens=_prompt_tokens(request),
            completion_tokens=sent,
        )

    async def _wait(
        self, delay: float, progress_deadline: float, total_deadline: float, got_token: bool, caller: float | None
    ) -> None:
        """Sleeps `delay`, or until the first deadline it would cross and then
        raises TIMEOUT, as the HTTP adapters do; the caller's deadline is on the
        event loop's clock (real time), the backend's own on the injected one."""
        if caller is not None and delay > 0:
            try:
                async with asyncio.timeout_at(caller):
                    await self._wait(delay, progress_deadline, total_deadline, got_token, None)
            except TimeoutError:
                raise DeadlineReached() from None
            return
        now = self._clock.monotonic()
        deadline = min(progress_deadline, total_deadline)
        if now + delay <= deadline:
            if delay > 0:
                await self._clock.sleep(delay)
            return
        await self._clock.sleep(max(0.0, deadline - now))
        t = self.config.timeouts
        if total_deadline <= progress_deadline:
            what = f"total time limit of {t.total_s:g}s exceeded"
        elif got_token:
            what = f"no token for {t.between_tokens_s:g}s (gap between tokens)"
        else:
            what = f"no first token within {t.first_token_s:g}s"
        raise BackendError(ErrorKind.TIMEOUT, what)

    def _fault(self) -> BackendError:
        kind = ErrorKind(self._options.fail_kind)
        status = {
            ErrorKind.SERVER: 500,
            ErrorKind.RATE_LIMITED: 429,
            ErrorKind.CLIENT: 400,
        }.get(kind)
        return BackendError(
            kind,
            f"mock fault ({kind.value}, fail_rate={self._options.fail_rate:g})",
            status_code=status,
            retry_after_s=1.0 if kind is ErrorKind.RATE_LIMITED else None,
        )

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
