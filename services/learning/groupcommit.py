"""Group commit: concurrent writers of interactions share one transaction.

Each RecordInteraction call used to be a transaction of its own (a pool
checkout, an INSERT, a COMMIT and its WAL flush). Here callers queue their
rows; one flusher at a time takes everything queued (up to `max_rows`) and
writes it in one transaction, and the calls that arrive meanwhile form the
next group. There is no waiting window: an idle service writes a lone call at
once, and groups grow only while a commit is in flight.

Every caller is answered only after the transaction holding its rows has
committed, with its own share of the result (a key two members of one group
both sent counts as inserted for the first of them only, exactly as if they
had come one after the other). When the transaction fails:

- the database is unavailable (or the commit times out): every member gets the
  error, and the ingestor spools each one's rows as before;
- anything else (a statement the database refuses): the members are written
  again one by one, so that only the caller whose rows cause it fails.

A caller that gives up (a cancelled RPC, or `timeout_s` spent in the queue)
while still queued is withdrawn: its rows are not written. Once its
transaction has started, it is bounded by the transaction's own `timeout_s`,
and giving up does not stop it, for the sake of the other members; so what
must follow a commit (the model counting the rows) is the `on_commit`
callback's job, which runs whether or not the caller is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.learning.records import Key
from services.learning.store import Accepted, InsertResult, is_unavailable

log = logging.getLogger("switchboard.learning.groupcommit")

Write = Callable[[Sequence[Accepted]], Awaitable[InsertResult]]
OnCommit = Callable[[Sequence[Accepted], InsertResult], None]


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class _Member:
    accepted: Sequence[Accepted]
    on_commit: OnCommit | None = None
    taken: asyncio.Future[None] = field(default_factory=_future)
    done: asyncio.Future[InsertResult] = field(default_factory=_future)


class GroupCommit:
    def __init__(self, write: Write, *, timeout_s: float, max_rows: int = 2000) -> None:
        self._write = write  # one transaction: Store.insert_interactions
        self._timeout_s = timeout_s  # bounds one transaction, whoever waits for it
        self._max_rows = max_rows
        self._queue: deque[_Member] = deque()
        self._flusher: asyncio.Task[None] | None = None

    async def insert_interactions(self, accepted: Sequence[Accepted], on_commit: OnCommit | None = None) -> InsertResult:
        """Like Store.insert_interactions, in a transaction shared with the
        callers that arrive at about the same time; returns once it committed.
        `on_commit(accepted, result)` runs as soon as it has, even if this
        caller has given up by then. Raises TimeoutError when the rows waited
        `timeout_s` in the queue (then they are not written)."""
        if not accepted:
            return InsertResult()
        member = _Member(accepted, on_commit)
        self._queue.append(member)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="learning-group-commit")
        try:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await asyncio.shield(member.taken)
            except TimeoutError:
                if member in self._queue:
                    self._queue.remove(member)  # never started: withdrawn, nothing written
                    raise
                # Taken just as the time ran out: its transaction has its own bound.
            return await asyncio.shield(member.done)
        except asyncio.CancelledError:
            if member in self._queue:
                self._queue.remove(member)  # not started: withdrawn
            else:  # started: its outcome is nobody's business any more
                member.done.add_done_callback(_consume)
            raise

    async def _flush(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # callers already scheduled join this group
            group = self._take()
            if group:
                await self._commit(group)

    def _take(self) -> list[_Member]:
        group: list[_Member] = []
        rows = 0
        while self._queue and (not group or rows + len(self._queue[0].accepted) <= self._max_rows):
            member = self._queue.popleft()
            member.taken.set_result(None)
            group.append(member)
            rows += len(member.accepted)
        return group

    async def _commit(self, group: list[_Member]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await self._write([a for m in group for a in m.accepted])
        except Exception as exc:  # noqa: BLE001  (whatever it is, it is the members' to handle)
            if len(group) > 1 and not is_unavailable(exc):
                await self._one_by_one(group)
                return
            _fail(group, exc)
            return
        except BaseException:  # cancelled (shutting down): whether it committed is unknown, so are the callers
            for member in group:
                member.done.cancel()
            raise
        for member, share in zip(group, _shares(group, result), strict=True):
            if member.on_commit is not None:
                try:
                    member.on_commit(member.accepted, share)
                except Exception:  # noqa: BLE001  (the rows are committed: the caller still gets its answer)
                    log.exception("after-commit work failed")
            if not member.done.done():
                member.done.set_result(share)

    async def _one_by_one(self, group: list[_Member]) -> None:
        """Finds whose rows the database refuses; stops at the first sign that
        it is unavailable instead (the rest get that error, no more waiting)."""
        try:
            for i, member in enumerate(group):
                await self._commit([member])
                failure = None if member.done.cancelled() else member.done.exception()
                if failure is not None and is_unavailable(failure):
                    _fail(group[i + 1:], failure)
                    return
        finally:
            for member in group:  # cancelled midway (shutting down): nobody is left waiting
                if not member.done.done():
                    member.done.cancel()


def _fail(group: Sequence[_Member], exc: BaseException) -> None:
    for member in group:
        if not member.done.done():
            member.done.set_exception(exc)


def _shares(group: Sequence[_Member], result: InsertResult) -> list[InsertResult]:
    """Splits the group's result by member: a key inserted by the group belongs
    to the first member that sent it (its row was the one written); for the
    later ones it already existed, accepted at the first one's time."""
    owner: dict[Key, tuple[_Member, datetime]] = {}
    shares: list[InsertResult] = []
    for member in group:
        share = InsertResult()
        for accepted in member.accepted:
            key = accepted.record.key
            if key in result.inserted:
                first, stored_at = owner.setdefault(key, (member, accepted.stored_at))
                if first is member:
                    share.inserted.add(key)
                else:
                    share.existing[key] = stored_at
            elif key in result.existing:
                share.existing[key] = result.existing[key]
        shares.append(share)
    return shares


def _consume(future: asyncio.Future[InsertResult]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        future.exception()  # retrieved: no "exception was never retrieved" warning
