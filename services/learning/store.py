"""The learning service's repository: every SQL statement it runs.

Interactions are inserted with INSERT … ON CONFLICT DO NOTHING on the
(tenant, interaction_id) key, on PostgreSQL and SQLite alike, so a repeat — from
a caller's retry or from a spool replay after a crash — is stored once.

Every row written is stamped with this process's `origin`; the model rebuild
reads its history in one snapshot and says where it ends (`Marks`), and the
tail (sync.py) reads what was written after that, by row id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.schema import Table

from services.learning.records import FeedbackRecord, InteractionRecord, Key
from services.learning.tables import (
    FeedbackRow,
    ForgottenRow,
    InteractionRow,
    ProfileRow,
)

# What "the database is unreachable" looks like (as opposed to a bug in a statement).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    OSError,
    TimeoutError,
)

_CHUNK = 500  # rows per statement with a parameter per value: well under SQLite's and PostgreSQL's limits
# Tombstones older than this are pruned: a replica whose tail is further behind
# than that has been cut off from the database for days and rebuilds anyway.
FORGOTTEN_RETENTION = timedelta(days=7)

# Interaction columns written from the record's fields of the same name.
_RECORD_COLUMNS = tuple(f.name for f in fields(InteractionRecord))


def _pg_element_type(column: Any) -> str:
    """The column's type without a length: an explicit cast to varchar(n) would
    truncate silently, the insert's own coercion refuses overlong values."""
    if isinstance(column.type, String):
        return "text"
    return str(column.type.compile(dialect=postgresql.dialect()))


def _pg_unnest_insert(table: Table, names: Sequence[str], key: tuple[str, str]) -> str:
    """INSERT … SELECT FROM unnest(one array per column) ON CONFLICT (key) DO
    NOTHING RETURNING the keys it inserted: a multi-row insert whose text does
    not depend on the number of rows, so psycopg converts it once and
    PostgreSQL prepares it once (SQLAlchemy's multi-row VALUES differs with
    every batch size, and psycopg re-parsed it on every write). Driver SQL with
    binary parameters (%(name)b): psycopg dumps arrays in binary several times
    faster than as text."""
    arrays = ", ".join(f"CAST(%({n})b AS {_pg_element_type(table.c[n])}[])" for n in names)
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(key)}) DO NOTHING RETURNING {', '.join(key)}"
    )


_PG_INSERT_INTERACTIONS = _pg_unnest_insert(
    InteractionRow.__table__, [*_RECORD_COLUMNS, "stored_at", "origin"], ("tenant", "interaction_id")
)
# Implicit signals never replace anything: replaced_* are left NULL.
_IMPLICIT_FEEDBACK_COLUMNS = (
    "tenant", "feedback_id", "interaction_id", "user_id", "kind", "thumb", "stars", "signal",
    "related_interaction_id", "positive", "comment", "occurred_at", "stored_at", "origin",
)
_PG_INSERT_IMPLICIT_FEEDBACK = _pg_unnest_insert(
    FeedbackRow.__table__, _IMPLICIT_FEEDBACK_COLUMNS, ("tenant", "feedback_id")
)
_SQLITE_INSERT_INTERACTIONS = (
    sqlite.insert(InteractionRow.__table__)
    .on_conflict_do_nothing(index_elements=["tenant", "interaction_id"])
    .returning(InteractionRow.__table__.c.tenant, InteractionRow.__table__.c.interaction_id)
)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached right now."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(frozen=True)
class Accepted:
    """An interaction and when the service first accepted it."""

    record: InteractionRecord
    stored_at: datetime


@dataclass
class InsertResult:
    inserted: set[Key] = field(default_factory=set)
    existing: dict[Key, datetime] = field(default_factory=dict)  # key → original stored_at


@dataclass(frozen=True)
class FeedbackWrite:
    stored_at: datetime
    duplicate: bool
    replaced_previous: bool
    previous: FeedbackRecord | None = None  # what it replaced


@dataclass(frozen=True)
class ForgetCounts:
    interactions: int
    feedback: int
    profiles: int


@dataclass(frozen=True)
class RatedInteraction:
    """Feedback joined to the interaction it is about (for the model and profiles)."""

    feedback: FeedbackRecord
    stored_at: datetime
    interaction: InteractionRecord | None


@dataclass(frozen=True)
class Marks:
    """Where a snapshot of one table ends: its highest row id, and the ids
    below it that were not visible (rolled back or burnt by ON CONFLICT, or
    still being written by another replica's transaction: the tail re-checks
    them for a while)."""

    high: int
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class History:
    """What the model is rebuilt from, read in one snapshot, and where it ends."""

    interactions: list[tuple[InteractionRecord, datetime]]  # in acceptance order
    feedback: list[RatedInteraction]  # in acceptance order
    interaction_marks: Marks
    feedback_marks: Marks
    forgotten_marks: Marks


class TailedInteraction:
    """A row read by the tail. The tail reads this replica's own rows too, for
    their ids, but never absorbs them: their content is not read (it was most
    of the tail's cost), and a record is built only when asked for."""

    __slots__ = ("_record", "_row", "origin", "row_id")

    def __init__(self, row_id: int, origin: str, row: Any | None) -> None:
        self.row_id = row_id
        self.origin = origin
        self._row = row  # the full row; None for this replica's own rows
        self._record: InteractionRecord | None = None

    @property
    def record(self) -> InteractionRecord:
        if self._record is None:
            self._record = InteractionRecord.from_row(self._content())
        return self._record

    @property
    def stored_at(self) -> datetime:
        return self._content().stored_at  # type: ignore[no-any-return]

    def _content(self) -> Any:
        if self._row is None:
            raise LookupError(f"row {self.row_id} was written by this replica: its content was not read")
        return self._row


@dataclass(frozen=True)
class TailedFeedback:
    row_id: int
    origin: str
    record: FeedbackRecord
    replaced: tuple[float, datetime] | None  # (positive, occurred_at) of the rating it replaced


@dataclass(frozen=True)
class TailedForget:
    row_id: int
    origin: str
    tenant: str
    user_id: str


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    def __init__(self, engine: AsyncEngine, origin: str = "") -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._origin = origin  # stamped on every row this process writes
        feedback = FeedbackRow.__table__
        # Built once, so SQLAlchemy compiles it once: implicit signals come in bursts.
        self._insert_feedback = (
            self._insert(feedback)
            .on_conflict_do_nothing(index_elements=["tenant", "feedback_id"])
            .returning(feedback.c.tenant, feedback.c.feedback_id)
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # --- interactions ------------------------------------------------------------

    async def insert_interactions(self, accepted: Sequence[Accepted]) -> InsertResult:
        """Inserts the ones not stored yet, all or none; reports which were new
        and the original acceptance time of the others."""
        result = InsertResult()
        if not accepted:
            return result
        if self._dialect == "postgresql":
            # One statement whatever the number of rows (an array per column:
            # no parameter limit), atomic by itself: autocommit spares the
            # BEGIN and COMMIT round trips of a transaction.
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                rows = await conn.exec_driver_sql(_PG_INSERT_INTERACTIONS, self._interaction_columns(accepted))
                await self._sort_out(conn, accepted, {(r.tenant, r.interaction_id) for r in rows}, result)
            return result
        async with self._engine.begin() as conn:
            for chunk in _chunks(accepted, _CHUNK):
                columns = self._interaction_columns(chunk)
                params = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
                rows = await conn.execute(_SQLITE_INSERT_INTERACTIONS, params)  # executemany
                await self._sort_out(conn, chunk, {(r.tenant, r.interaction_id) for r in rows}, result)
        return result

    async def _sort_out(
        self, conn: AsyncConnection, accepted: Sequence[Accepted], inserted: set[Key], result: InsertResult
    ) -> None:
        """Adds what one statement inserted to `result`, and when the others were stored."""
        result.inserted |= inserted
        missing = [a.record.key for a in accepted if a.record.key not in inserted]
        if missing:
            result.existing.update(await self._stored_at(conn, missing))

    def _interaction_columns(self, chunk: Sequence[Accepted]) -> dict[str, list[Any]]:
        """The chunk's values column by column (plain values: no per-row dicts)."""
        records = [a.record for a in chunk]
        columns = {name: [getattr(r, name) for r in records] for name in _RECORD_COLUMNS}
        columns["outcome"] = [o.value for o in columns["outcome"]]
        columns["stored_at"] = [a.stored_at for a in chunk]
        columns["origin"] = [self._origin] * len(chunk)
        for name in ("occurred_at", "stored_at"):
            if any(t.tzinfo is None for t in columns[name]):
                raise ValueError(f"naive datetime given to {name}")
        return columns

    async def _stored_at(
        self, conn: AsyncConnection, keys: Sequence[Key], row: Any = InteractionRow, id_name: str = "interaction_id"
    ) -> dict[Key, datetime]:
        """When the rows with these (tenant, id) keys were first stored."""
        found: dict[Key, datetime] = {}
        by_tenant: dict[str, list[str]] = {}
        for tenant, key_id in keys:
            by_tenant.setdefault(tenant, []).append(key_id)
        id_column = getattr(row, id_name)
        for tenant, ids in by_tenant.items():
            for chunk in _chunks(ids, _CHUNK):
                stmt = select(id_column, row.stored_at).where(row.tenant == tenant, id_column.in_(chunk))
                for found_id, stored_at in await conn.execute(stmt):
                    found[(tenant, found_id)] = stored_at
        return found

    async def find_interaction(self, key: Key) -> tuple[InteractionRecord, datetime] | None:
        stmt = select(InteractionRow).where(
            InteractionRow.tenant == key[0], InteractionRow.interaction_id == key[1]
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return (InteractionRecord.from_row(row), row.stored_at) if row else None

    async def interactions_between(
        self,
        start: datetime,
        end: datetime,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        topic: str | None = None,
        backend: str | None = None,
    ) -> list[tuple[InteractionRecord, int]]:
        """Interactions with start ≤ occurred_at < end matching the filters, oldest
        first, with their row ids."""
        stmt = select(InteractionRow).where(
            InteractionRow.occurred_at >= start, InteractionRow.occurred_at < end
        )
        stmt = _filtered(stmt, tenant=tenant, user_id=user_id, topic=topic, backend=backend)
        stmt = stmt.order_by(InteractionRow.occurred_at, InteractionRow.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(InteractionRecord.from_row(r), r.id) for r in rows]

    async def user_interactions(self, tenant: str, user_id: str) -> list[tuple[InteractionRecord, int]]:
        stmt = (
            select(InteractionRow)
            .where(InteractionRow.tenant == tenant, InteractionRow.user_id == user_id)
            .order_by(InteractionRow.occurred_at, InteractionRow.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(InteractionRecord.from_row(r), r.id) for r in rows]

    # --- feedback ------------------------------------------------------------------

    async def write_feedback(self, records: Sequence[tuple[FeedbackRecord, datetime]]) -> list[FeedbackWrite]:
        """Stores feedback in order, in one transaction. A repeat is a duplicate; a
        new rating under a derived id (same user, same interaction) replaces the
        previous one; under a caller's id the first write wins."""
        out: list[FeedbackWrite] = []
        async with self._engine.begin() as conn:
            if records and all(not record.explicit for record, _ in records):
                # All or none, like the per-row path: the multi-row insert may be
                # several statements (SQLAlchemy pages executemany), and a repeat's
                # original time is read after it.
                return await self._write_implicit_feedback(conn, records)
            for record, stored_at in records:
                out.append(await self._write_feedback(conn, record, stored_at))
        return out

    async def _write_implicit_feedback(
        self, conn: AsyncConnection, records: Sequence[tuple[FeedbackRecord, datetime]]
    ) -> list[FeedbackWrite]:
        """Implicit signals are never replaced (a repeat is a duplicate), so a burst of
        them is a multi-row INSERT … ON CONFLICT DO NOTHING (executemany with
        RETURNING, batched by SQLAlchemy), not a freshly compiled statement each:
        re-ask signals can be as many as the interactions themselves."""
        if self._dialect == "postgresql":
            columns = self._implicit_feedback_columns(records)
            rows = await conn.exec_driver_sql(_PG_INSERT_IMPLICIT_FEEDBACK, columns)
        else:
            params = [{**_feedback_values(r), "stored_at": at, "origin": self._origin,
                       "replaced_positive": None, "replaced_occurred_at": None} for r, at in records]
            rows = await conn.execute(self._insert_feedback, params)
        inserted = {(row.tenant, row.feedback_id) for row in rows}
        out: list[FeedbackWrite] = []
        earlier: dict[Key, datetime] = {}  # stored_at of what was there already (or first in this batch)
        missing = [r.key for r, _ in records if r.key not in inserted]
        if missing:
            earlier.update(await self._stored_at(conn, missing, FeedbackRow, "feedback_id"))
        for record, stored_at in records:
            if record.key in inserted:
                inserted.discard(record.key)  # a second one with the same key is a repeat of the first
                earlier[record.key] = stored_at
                out.append(FeedbackWrite(stored_at, duplicate=False, replaced_previous=False))
            else:
                out.append(FeedbackWrite(earlier.get(record.key, stored_at), duplicate=True, replaced_previous=False))
        return out

    def _implicit_feedback_columns(
        self, records: Sequence[tuple[FeedbackRecord, datetime]]
    ) -> dict[str, list[Any]]:
        """The implicit signals' values column by column, for the unnest insert."""
        for record, stored_at in records:
            if record.occurred_at.tzinfo is None or stored_at.tzinfo is None:
                raise ValueError("naive datetime given to occurred_at or stored_at")
        signals = [r.signal.value if r.signal else None for r, _ in records]
        return {
            "tenant": [r.tenant for r, _ in records],
            "feedback_id": [r.feedback_id for r, _ in records],
            "interaction_id": [r.interaction_id for r, _ in records],
            "user_id": [r.user_id for r, _ in records],
            "kind": [r.kind.value for r, _ in records],
            "thumb": [r.thumb for r, _ in records],
            "stars": [r.stars for r, _ in records],
            "signal": signals,
            "related_interaction_id": [r.related_interaction_id for r, _ in records],
            "positive": [float(r.positive) for r, _ in records],  # one type per array (psycopg)
            "comment": [r.comment for r, _ in records],
            "occurred_at": [r.occurred_at for r, _ in records],
            "stored_at": [at for _, at in records],
            "origin": [self._origin] * len(records),
        }

    async def _write_feedback(self, conn: AsyncConnection, record: FeedbackRecord, stored_at: datetime) -> FeedbackWrite:
        table = FeedbackRow.__table__
        values = {**_feedback_values(record), "stored_at": stored_at, "origin": self._origin}
        same_key = (FeedbackRow.tenant == record.tenant, FeedbackRow.feedback_id == record.feedback_id)
        for _ in range(3):  # another replica may replace the same rating at the same moment
            stmt = (
                self._insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["tenant", "feedback_id"])
                .returning(table.c.id)
            )
            if (await conn.execute(stmt)).first() is not None:
                return FeedbackWrite(stored_at, duplicate=False, replaced_previous=False)
            row = (await conn.execute(select(FeedbackRow).where(*same_key).with_for_update())).first()
            if row is None:
                continue  # replaced (or forgotten) concurrently: try again
            previous = FeedbackRecord.from_row(row)
            if previous.same_content(record) or record.caller_id or not record.explicit:
                return FeedbackWrite(row.stored_at, duplicate=True, replaced_previous=False)
            # A new row rather than an UPDATE: it gets a new id, so other
            # replicas' tails (and the profile cache's watermark) notice it.
            await conn.execute(delete(FeedbackRow).where(FeedbackRow.id == row.id))
            await conn.execute(
                self._insert(table).values(
                    **values, replaced_positive=previous.positive, replaced_occurred_at=previous.occurred_at
                )
            )
            return FeedbackWrite(stored_at, duplicate=False, replaced_previous=True, previous=previous)
        raise RuntimeError(f"feedback {record.feedback_id!r} keeps being replaced concurrently")

    async def feedback_on_window(
        self,
        start: datetime,
        end: datetime,
        *,
        tenant: str | None = None,
        topic: str | None = None,
        backend: str | None = None,
    ) -> list[FeedbackRecord]:
        """Feedback on the interactions `interactions_between` returns for the same arguments."""
        stmt = (
            select(*FeedbackRow.__table__.columns)
            .join(
                InteractionRow,
                and_(
                    InteractionRow.tenant == FeedbackRow.tenant,
                    InteractionRow.interaction_id == FeedbackRow.interaction_id,
                ),
            )
            .where(InteractionRow.occurred_at >= start, InteractionRow.occurred_at < end)
        )
        stmt = _filtered(stmt, tenant=tenant, topic=topic, backend=backend)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [FeedbackRecord.from_row(r) for r in rows]

    # --- the model's view: history in one snapshot, then the tail ---------------------

    async def history(self, since: datetime, *, lookback: int, partition: int = 2000) -> History:
        """The interactions that occurred at or after `since` and the feedback
        given since then (with its interaction, None when it has not arrived),
        each in acceptance order, read in one snapshot (REPEATABLE READ on
        PostgreSQL; on SQLite one writer at a time means ids become visible in
        order), with the marks where the tail takes over. Ids missing among the
        last `lookback` ids below each high mark are reported for the tail to
        re-check."""
        async with self._engine.connect() as conn:
            if self._dialect == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                i_marks = await self._marks(conn, InteractionRow.__table__, lookback)
                f_marks = await self._marks(conn, FeedbackRow.__table__, lookback)
                g_marks = await self._marks(conn, ForgottenRow.__table__, lookback)
                stmt = (
                    select(InteractionRow)
                    .where(InteractionRow.occurred_at >= since, InteractionRow.id <= i_marks.high)
                    .order_by(InteractionRow.stored_at, InteractionRow.id)
                )
                interactions: list[tuple[InteractionRecord, datetime]] = []
                result = await conn.stream(stmt.execution_options(yield_per=partition))
                async for rows in result.partitions(partition):
                    interactions.extend((InteractionRecord.from_row(r), r.stored_at) for r in rows)
                stmt_f = (
                    select(FeedbackRow)
                    .where(FeedbackRow.occurred_at >= since, FeedbackRow.id <= f_marks.high)
                    .order_by(FeedbackRow.stored_at, FeedbackRow.id)
                )
                feedback = [(FeedbackRecord.from_row(r), r.stored_at) for r in (await conn.execute(stmt_f)).all()]
                by_key = await self._interactions_by_key(conn, [f.interaction_key for f, _ in feedback])
        rated = [RatedInteraction(f, at, by_key.get(f.interaction_key)) for f, at in feedback]
        return History(interactions, rated, i_marks, f_marks, g_marks)

    async def _marks(self, conn: AsyncConnection, table: Table, lookback: int) -> Marks:
        high = int((await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one())
        if self._dialect != "postgresql" or high == 0:
            return Marks(high)
        low = max(0, high - lookback)
        seen = set((await conn.execute(select(table.c.id).where(table.c.id > low))).scalars())
        return Marks(high, tuple(i for i in range(low + 1, high) if i not in seen))

    async def _tail(
        self, table: Table, after: int, also: Sequence[int], limit: int, columns: Sequence[Any] = ()
    ) -> list[Any]:
        """Rows (or `columns` of them) with id > `after` (at most `limit`), and
        the rows among ids `also`, by id."""
        what = select(*columns) if columns else select(table)
        async with self._engine.connect() as conn:
            rows = list(await conn.execute(what.where(table.c.id > after).order_by(table.c.id).limit(limit)))
            for chunk in _chunks(list(also), _CHUNK):
                rows.extend(await conn.execute(what.where(table.c.id.in_(chunk))))
        return sorted(rows, key=lambda r: r.id)

    async def interactions_after(self, after: int, also: Sequence[int] = (), limit: int = 1000) -> list[TailedInteraction]:
        """Ids and origins first; the content only of the rows other replicas wrote."""
        table = InteractionRow.__table__
        heads = await self._tail(table, after, also, limit, columns=(table.c.id, table.c.origin))
        theirs = [r.id for r in heads if r.origin != self._origin]
        full: dict[int, Any] = {}
        if theirs:
            async with self._engine.connect() as conn:
                for chunk in _chunks(theirs, _CHUNK):
                    full.update((r.id, r) for r in await conn.execute(select(table).where(table.c.id.in_(chunk))))
        return [
            TailedInteraction(r.id, r.origin, full.get(r.id))
            for r in heads
            if r.origin == self._origin or r.id in full  # gone in between: forgotten, the tombstone follows
        ]

    async def feedback_after(self, after: int, also: Sequence[int] = (), limit: int = 1000) -> list[TailedFeedback]:
        rows = await self._tail(FeedbackRow.__table__, after, also, limit)
        return [
            TailedFeedback(
                r.id, r.origin, FeedbackRecord.from_row(r),
                None if r.replaced_positive is None else (r.replaced_positive, r.replaced_occurred_at),
            )
            for r in rows
        ]

    async def forgotten_after(self, after: int, also: Sequence[int] = (), limit: int = 1000) -> list[TailedForget]:
        rows = await self._tail(ForgottenRow.__table__, after, also, limit)
        return [TailedForget(r.id, r.origin, r.tenant, r.user_id) for r in rows]

    async def interactions_by_key(self, keys: Sequence[Key]) -> dict[Key, InteractionRecord]:
        async with self._engine.connect() as conn:
            return await self._interactions_by_key(conn, keys)

    async def _interactions_by_key(self, conn: AsyncConnection, keys: Sequence[Key]) -> dict[Key, InteractionRecord]:
        found: dict[Key, InteractionRecord] = {}
        by_tenant: dict[str, list[str]] = {}
        for tenant, iid in set(keys):
            by_tenant.setdefault(tenant, []).append(iid)
        for tenant, ids in by_tenant.items():
            for chunk in _chunks(ids, _CHUNK):
                stmt = select(InteractionRow).where(
                    InteractionRow.tenant == tenant, InteractionRow.interaction_id.in_(chunk)
                )
                for row in await conn.execute(stmt):
                    found[(tenant, row.interaction_id)] = InteractionRecord.from_row(row)
        return found

    async def feedback_on_user(self, tenant: str, user_id: str) -> list[tuple[FeedbackRecord, int]]:
        """Feedback given by the user or on the user's interactions, with row ids."""
        theirs = select(InteractionRow.interaction_id).where(
            InteractionRow.tenant == tenant, InteractionRow.user_id == user_id
        )
        stmt = (
            select(FeedbackRow)
            .where(
                FeedbackRow.tenant == tenant,
                or_(FeedbackRow.user_id == user_id, FeedbackRow.interaction_id.in_(theirs)),
            )
            .order_by(FeedbackRow.occurred_at, FeedbackRow.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(FeedbackRecord.from_row(r), r.id) for r in rows]

    # --- profiles ------------------------------------------------------------------

    async def user_watermark(self, tenant: str, user_id: str) -> str:
        """Changes whenever the user's interactions or feedback change."""
        theirs = select(InteractionRow.interaction_id).where(
            InteractionRow.tenant == tenant, InteractionRow.user_id == user_id
        )
        interactions = select(func.max(InteractionRow.id), func.count()).where(
            InteractionRow.tenant == tenant, InteractionRow.user_id == user_id
        )
        feedback = select(func.max(FeedbackRow.id), func.count()).where(
            FeedbackRow.tenant == tenant,
            or_(FeedbackRow.user_id == user_id, FeedbackRow.interaction_id.in_(theirs)),
        )
        async with self._engine.connect() as conn:
            i = (await conn.execute(interactions)).one()
            f = (await conn.execute(feedback)).one()
        return f"{i[0] or 0}/{i[1]}:{f[0] or 0}/{f[1]}"

    async def cached_profile(self, tenant: str, user_id: str, time_zone: str) -> ProfileRow | None:
        stmt = select(ProfileRow).where(
            ProfileRow.tenant == tenant, ProfileRow.user_id == user_id, ProfileRow.time_zone == time_zone
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return ProfileRow(
            tenant=row.tenant, user_id=row.user_id, time_zone=row.time_zone,
            watermark=row.watermark, computed_at=row.computed_at, payload=row.payload,
        )

    async def save_profile(self, row: ProfileRow) -> None:
        values = {
            "tenant": row.tenant, "user_id": row.user_id, "time_zone": row.time_zone,
            "watermark": row.watermark, "computed_at": row.computed_at, "payload": row.payload,
        }
        stmt = self._insert(ProfileRow.__table__).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant", "user_id", "time_zone"],
            set_={"watermark": values["watermark"], "computed_at": values["computed_at"], "payload": values["payload"]},
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    # --- privacy -------------------------------------------------------------------

    async def forget_user(self, tenant: str, user_id: str, at: datetime) -> ForgetCounts:
        """Deletes the user's interactions, the feedback they gave or that is on
        their interactions, and their stored profiles, in one transaction, and
        leaves a tombstone for the other replicas (pruning old ones)."""
        theirs = select(InteractionRow.interaction_id).where(
            InteractionRow.tenant == tenant, InteractionRow.user_id == user_id
        )
        async with self._engine.begin() as conn:
            feedback = await conn.execute(
                delete(FeedbackRow).where(
                    FeedbackRow.tenant == tenant,
                    or_(FeedbackRow.user_id == user_id, FeedbackRow.interaction_id.in_(theirs)),
                )
            )
            interactions = await conn.execute(
                delete(InteractionRow).where(InteractionRow.tenant == tenant, InteractionRow.user_id == user_id)
            )
            profiles = await conn.execute(
                delete(ProfileRow).where(ProfileRow.tenant == tenant, ProfileRow.user_id == user_id)
            )
            await conn.execute(delete(ForgottenRow).where(ForgottenRow.forgotten_at < at - FORGOTTEN_RETENTION))
            await conn.execute(
                self._insert(ForgottenRow.__table__).values(
                    tenant=tenant, user_id=user_id, origin=self._origin, forgotten_at=at
                )
            )
        return ForgetCounts(interactions.rowcount, feedback.rowcount, profiles.rowcount)


def _filtered(stmt: Select[Any], **filters: str | None) -> Select[Any]:
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(InteractionRow, name) == value)
    return stmt


def _feedback_values(record: FeedbackRecord) -> dict[str, Any]:
    values = record.to_json()
    values.pop("caller_id")
    values["occurred_at"] = record.occurred_at
    return values
