"""Wraps a remote store so it can never hold a caller up: each call gets a time
budget (the configured Redis timeout, shortened to what the caller's deadline
leaves), and a breaker skips the store entirely while it keeps failing.

A time-out is held against the store only when it is the store's doing: when
this process's own event loop runs late by half the budget or more (the CPU is
saturated), Redis's answer may well be waiting unread, so the time-out is
inconclusive. Otherwise a busy cache would open its breaker on a healthy Redis
and turn every hit into a miss just when load is highest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.cache.breaker import Breaker
from services.cache.model import Counters, EntryStore, StoreBusy, StoredEntry, StoreKind, StoreUnavailable

T = TypeVar("T")


class GuardedStore:
    def __init__(
        self, inner: EntryStore, *, breaker: Breaker, timeout_s: float, budget_s: float | None = None,
        loop_lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._inner = inner
        self._breaker = breaker
        self._timeout_s = timeout_s
        self._budget_s = budget_s  # what the caller's deadline leaves; None: no deadline
        self._loop_lag = loop_lag  # how late this process's event loop runs now (s)
        self.kind: StoreKind = inner.kind

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    def within(self, budget_s: float | None) -> GuardedStore:
        """This store (same breaker, same connections) for calls that must
        answer within `budget_s` seconds."""
        return GuardedStore(self._inner, breaker=self._breaker, timeout_s=self._timeout_s, budget_s=budget_s,
                            loop_lag=self._loop_lag)

    async def _call(self, work: Awaitable[T]) -> T:
        limit = self._timeout_s if self._budget_s is None else min(self._timeout_s, self._budget_s)
        if limit <= 0:
            # Not the store's fault: no verdict, and no half-open probe slot taken.
            _discard(work)
            raise StoreUnavailable(f"{self._breaker.name} not asked: the caller's deadline leaves no time")
        if not self._breaker.allow():
            _discard(work)
            wait = self._breaker.retry_in()
            when = f"next try in {wait:.1f}s" if wait > 0 else "a probe is in flight"
            raise StoreUnavailable(f"{self._breaker.name} unavailable, breaker open ({when}); last error: {self._breaker.last_error}")
        try:
            # asyncio.timeout, not wait_for: no extra task per call on the hit path.
            async with asyncio.timeout(limit):
                result = await work
        except TimeoutError:
            reason = f"{self._breaker.name} did not answer within {limit * 1000:.0f} ms"
            lag = self._loop_lag()
            if lag >= limit / 2:
                # Inconclusive: this process is too busy to have read the answer in time.
                self._breaker.release()
                reason += f" (this process's event loop runs {lag * 1000:.0f} ms late)"
            elif limit >= self._timeout_s / 2:
                self._breaker.record_failure(reason)  # it had a fair share of its own budget
            else:
                self._breaker.release()  # cut short by a tight caller deadline: inconclusive
            raise StoreUnavailable(reason) from None
        except StoreBusy:
            self._breaker.release()  # every connection in use: our load, no verdict
            raise
        except StoreUnavailable as exc:
            self._breaker.record_failure(str(exc))
            raise
        except BaseException:
            self._breaker.release()
            raise
        self._breaker.record_success()
        return result

    async def get(self, tenant: str, key: str) -> StoredEntry | None:
        return await self._call(self._inner.get(tenant, key))

    async def put(self, tenant: str, entry: StoredEntry, ttl_s: float) -> None:
        await self._call(self._inner.put(tenant, entry, ttl_s))

    async def delete(self, tenant: str, key: str) -> int:
        return await self._call(self._inner.delete(tenant, key))

    async def delete_namespace(self, tenant: str, namespace: str) -> int:
        return await self._call(self._inner.delete_namespace(tenant, namespace))

    async def counters(self) -> Counters:
        return await self._call(self._inner.counters())

    async def close(self) -> None:
        await self._inner.close()


def _discard(work: Awaitable[object]) -> None:
    close = getattr(work, "close", None)
    if close is not None:
        close()  # a coroutine never awaited: keep Python from warning about it
