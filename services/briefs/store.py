"""Storage of the briefs service on the shared SQL layer (PostgreSQL or SQLite).

Every method takes a `Scope` (tenant, owner) and touches only that owner's rows.
Writes that may create rows accept an idempotency key: the first call's result
is stored in the same transaction as the write and replayed on a retry.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.briefs import tables as t
from services.briefs.errors import AlreadyExists, FailedPrecondition, NotFound, StorageUnavailable
from services.briefs.model import (
    AfternoonBrief,
    Brief,
    BriefContent,
    BriefKind,
    CalendarEvent,
    CalendarImportProblem,
    CalendarImportResult,
    Contact,
    CsvImportResult,
    Deal,
    DealStage,
    Delivery,
    DeliveryStatus,
    EveningBrief,
    Money,
    MorningBrief,
    NarrativeStatus,
    OutreachChannel,
    OutreachEntry,
    OutreachOutcome,
    OwnerSettings,
    RowError,
    Scope,
    Sink,
    Snapshot,
    StageChange,
    Task,
    TaskPriority,
    TaskStatus,
)
from services.briefs.paging import Page
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import FieldViolation, InvalidArgument

R = TypeVar("R")

_CONTENT: dict[BriefKind, TypeAdapter[Any]] = {
    BriefKind.MORNING: TypeAdapter(MorningBrief),
    BriefKind.AFTERNOON: TypeAdapter(AfternoonBrief),
    BriefKind.EVENING: TypeAdapter(EveningBrief),
}
_OPEN_TASK = (int(TaskStatus.OPEN), int(TaskStatus.IN_PROGRESS))
_OPEN_DEAL = tuple(int(s) for s in DealStage if s.is_open)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ScheduledOwner:
    scope: Scope
    settings: OwnerSettings
    first_seen_at: datetime


@dataclass(frozen=True)
class DeliveryRef:
    scope: Scope
    brief_id: str
    sink_index: int
    delivery: Delivery


class BriefStore:
    def __init__(self, engine: AsyncEngine, clock: Clock, *, make_id: Callable[[], str] = new_id) -> None:
        self._engine = engine
        self._clock = clock
        self._new_id = make_id
        self._dialect = engine.dialect.name

    # --- plumbing ---------------------------------------------------------------

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise StorageUnavailable(f"database unavailable: {exc.orig or exc}") from exc
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable(f"database connection lost: {exc.orig or exc}") from exc
            raise

    def _insert(self, table: sa.Table) -> Any:
        return pg_insert(table) if self._dialect == "postgresql" else sqlite_insert(table)

    @staticmethod
    def _where(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.tenant == scope.tenant, table.c.owner_id == scope.owner_id)

    async def _touch_owner(self, conn: AsyncConnection, scope: Scope) -> None:
        stmt = self._insert(t.owners).values(
            tenant=scope.tenant, owner_id=scope.owner_id, first_seen_at=self._clock.now()
        )
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["tenant", "owner_id"]))

    async def _idempotent(
        self,
        scope: Scope,
        rpc: str,
        key: str,
        adapter: TypeAdapter[R],
        work: Callable[[AsyncConnection], Awaitable[R]],
    ) -> R:
        """Runs `work` once per (scope, rpc, key); a repeat returns the first result."""
        if not key:
            async with self._tx() as conn:
                await self._touch_owner(conn, scope)
                return await work(conn)
        where = sa.and_(self._where(t.idempotency, scope), t.idempotency.c.rpc == rpc, t.idempotency.c.key == key)
        try:
            async with self._tx() as conn:
                stored = await conn.scalar(sa.select(t.idempotency.c.result).where(where))
                if stored is not None:
                    return adapter.validate_json(stored)
                await self._touch_owner(conn, scope)
                result = await work(conn)
                await conn.execute(
                    sa.insert(t.idempotency).values(
                        tenant=scope.tenant,
                        owner_id=scope.owner_id,
                        rpc=rpc,
                        key=key,
                        result=adapter.dump_json(result).decode(),
                        created_at=self._clock.now(),
                    )
                )
                return result
        except sa_exc.IntegrityError:
            # A concurrent call with the same key won the race: answer with its result.
            async with self._tx() as conn:
                stored = await conn.scalar(sa.select(t.idempotency.c.result).where(where))
            if stored is None:
                raise
            return adapter.validate_json(stored)

    async def purge_idempotency(self, older_than: datetime) -> int:
        async with self._tx() as conn:
            result = await conn.execute(sa.delete(t.idempotency).where(t.idempotency.c.created_at < older_than))
            return result.rowcount or 0

    async def ping(self) -> None:
        async with self._tx() as conn:
            await conn.execute(sa.select(1))

    # --- contacts -----------------------------------------------------------------

    async def upsert_contact(self, scope: Scope, contact: Contact, idempotency_key: str = "") -> tuple[Contact, bool]:
        async def work(conn: AsyncConnection) -> tuple[Contact, bool]:
            return await self._upsert_contact(conn, scope, contact)

        try:
            return await self._idempotent(
                scope, "UpsertContact", idempotency_key, TypeAdapter(tuple[Contact, bool]), work
            )
        except sa_exc.IntegrityError:
            raise AlreadyExists(f"another contact has the email {contact.email!r}") from None

    async def _upsert_contact(self, conn: AsyncConnection, scope: Scope, contact: Contact) -> tuple[Contact, bool]:
        now = self._clock.now()
        existing = await self._get_contact(conn, scope, contact.id) if contact.id else None
        if contact.id and existing is None:
            raise NotFound(f"contact {contact.id!r} not found")
        email_key = contact.email.strip().lower() or None
        if email_key is not None:
            clash = await conn.scalar(
                sa.select(t.contacts.c.id).where(
                    self._where(t.contacts, scope), t.contacts.c.email_key == email_key, t.contacts.c.id != contact.id
                )
            )
            if clash is not None:
                raise AlreadyExists(f"contact {clash!r} already has the email {contact.email!r}")
        stored = replace(
            contact,
            id=contact.id or self._new_id(),
            owner_id=scope.owner_id,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        values = {
            "name": stored.name,
            "email": stored.email,
            "email_key": email_key,
            "company": stored.company,
            "phone": stored.phone,
            "time_zone": stored.time_zone,
            "notes": stored.notes,
            "updated_at": now,
        }
        # The email check above is advisory; uq_briefs_contacts_email decides a race.
        if existing:
            await conn.execute(
                sa.update(t.contacts).where(self._where(t.contacts, scope), t.contacts.c.id == stored.id).values(**values)
            )
        else:
            await conn.execute(
                sa.insert(t.contacts).values(tenant=scope.tenant, owner_id=scope.owner_id, id=stored.id, created_at=now, **values)
            )
        return stored, existing is None

    async def _get_contact(self, conn: AsyncConnection, scope: Scope, contact_id: str) -> Contact | None:
        row = (
            await conn.execute(sa.select(t.contacts).where(self._where(t.contacts, scope), t.contacts.c.id == contact_id))
        ).first()
        return _contact(row) if row else None

    async def _contact_by_email(self, conn: AsyncConnection, scope: Scope, email: str) -> Contact | None:
        row = (
            await conn.execute(
                sa.select(t.contacts).where(self._where(t.contacts, scope), t.contacts.c.email_key == email.strip().lower())
            )
        ).first()
        return _contact(row) if row else None

    async def list_contacts(self, scope: Scope, query: str, page: Page) -> tuple[list[Contact], bool]:
        stmt = sa.select(t.contacts).where(self._where(t.contacts, scope))
        if query:
            c = t.contacts.c
            stmt = stmt.where(
                sa.or_(c.name.icontains(query, autoescape=True), c.email.icontains(query, autoescape=True),
                       c.company.icontains(query, autoescape=True))
            )
        stmt = stmt.order_by(t.contacts.c.name, t.contacts.c.id)
        rows = await self._page(stmt, page)
        return [_contact(r) for r in rows[: page.size]], len(rows) > page.size

    async def _page(self, stmt: sa.Select[Any], page: Page) -> Sequence[sa.Row[Any]]:
        async with self._tx() as conn:
            return (await conn.execute(stmt.offset(page.offset).limit(page.size + 1))).all()

    # --- deals -------------------------------------------------------------------------

    async def upsert_deal(self, scope: Scope, deal: Deal, idempotency_key: str = "") -> tuple[Deal, bool]:
        async def work(conn: AsyncConnection) -> tuple[Deal, bool]:
            return await self._upsert_deal(conn, scope, deal, field_prefix="deal.")

        return await self._idempotent(scope, "UpsertDeal", idempotency_key, TypeAdapter(tuple[Deal, bool]), work)

    async def _upsert_deal(self, conn: AsyncConnection, scope: Scope, deal: Deal, field_prefix: str) -> tuple[Deal, bool]:
        now = self._clock.now()
        if await self._get_contact(conn, scope, deal.contact_id) is None:
            raise InvalidArgument([FieldViolation(f"{field_prefix}contact_id", f"unknown contact {deal.contact_id!r}")])
        existing = await self._get_deal(conn, scope, deal.id) if deal.id else None
        if deal.id and existing is None:
            raise NotFound(f"deal {deal.id!r} not found")
        stage_changed = existing is None or existing.stage != deal.stage
        stored = replace(
            deal,
            id=deal.id or self._new_id(),
            owner_id=scope.owner_id,
            stage_changed_at=now if stage_changed else existing.stage_changed_at if existing else now,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        values = {
            "contact_id": stored.contact_id,
            "title": stored.title,
            "value_minor": stored.value.minor_units if stored.value else None,
            "currency": stored.value.currency if stored.value else None,
            "stage": int(stored.stage),
            "probability": stored.probability,
            "last_contact_at": stored.last_contact_at,
            "next_step": stored.next_step,
            "expected_close": stored.expected_close,
            "stage_changed_at": stored.stage_changed_at,
            "updated_at": now,
        }
        if existing:
            await conn.execute(sa.update(t.deals).where(self._where(t.deals, scope), t.deals.c.id == stored.id).values(**values))
        else:
            await conn.execute(
                sa.insert(t.deals).values(tenant=scope.tenant, owner_id=scope.owner_id, id=stored.id, created_at=now, **values)
            )
        if stage_changed:
            await conn.execute(
                sa.insert(t.deal_stage_changes).values(
                    tenant=scope.tenant,
                    owner_id=scope.owner_id,
                    id=self._new_id(),
                    deal_id=stored.id,
                    from_stage=int(existing.stage if existing else DealStage.UNSPECIFIED),
                    to_stage=int(stored.stage),
                    at=now,
                )
            )
        return stored, existing is None

    async def _get_deal(self, conn: AsyncConnection, scope: Scope, deal_id: str) -> Deal | None:
        row = (await conn.execute(sa.select(t.deals).where(self._where(t.deals, scope), t.deals.c.id == deal_id))).first()
        return _deal(row) if row else None

    async def list_deals(
        self, scope: Scope, stages: Sequence[DealStage], contact_id: str, page: Page
    ) -> tuple[list[Deal], bool]:
        stmt = sa.select(t.deals).where(self._where(t.deals, scope))
        if stages:
            stmt = stmt.where(t.deals.c.stage.in_([int(s) for s in stages]))
        if contact_id:
            stmt = stmt.where(t.deals.c.contact_id == contact_id)
        stmt = stmt.order_by(t.deals.c.updated_at.desc(), t.deals.c.id)
        rows = await self._page(stmt, page)
        return [_deal(r) for r in rows[: page.size]], len(rows) > page.size

    # --- tasks -----------------------------------------------------------------------------

    async def upsert_task(self, scope: Scope, task: Task, idempotency_key: str = "") -> tuple[Task, bool]:
        async def work(conn: AsyncConnection) -> tuple[Task, bool]:
            now = self._clock.now()
            existing = await self._get_task(conn, scope, task.id) if task.id else None
            if task.id and existing is None:
                raise NotFound(f"task {task.id!r} not found")
            priority = task.priority if task.priority != TaskPriority.UNSPECIFIED else TaskPriority.MEDIUM
            status = task.status if task.status != TaskStatus.UNSPECIFIED else TaskStatus.OPEN
            completed_at = (task.completed_at or now) if status == TaskStatus.DONE else None
            stored = replace(
                task,
                id=task.id or self._new_id(),
                owner_id=scope.owner_id,
                priority=priority,
                status=status,
                completed_at=completed_at,
                created_at=existing.created_at if existing else now,
                updated_at=now,
            )
            await self._write_task(conn, scope, stored, create=existing is None)
            return stored, existing is None

        return await self._idempotent(scope, "UpsertTask", idempotency_key, TypeAdapter(tuple[Task, bool]), work)

    async def _write_task(self, conn: AsyncConnection, scope: Scope, task: Task, *, create: bool) -> None:
        values = {
            "title": task.title,
            "due_at": task.due_at,
            "priority": int(task.priority),
            "status": int(task.status),
            "completed_at": task.completed_at,
            "estimated_us": _micros(task.estimated),
            "updated_at": task.updated_at,
        }
        if create:
            await conn.execute(
                sa.insert(t.tasks).values(
                    tenant=scope.tenant, owner_id=scope.owner_id, id=task.id, created_at=task.created_at, **values
                )
            )
        else:
            await conn.execute(sa.update(t.tasks).where(self._where(t.tasks, scope), t.tasks.c.id == task.id).values(**values))

    async def _get_task(self, conn: AsyncConnection, scope: Scope, task_id: str) -> Task | None:
        row = (await conn.execute(sa.select(t.tasks).where(self._where(t.tasks, scope), t.tasks.c.id == task_id))).first()
        return _task(row) if row else None

    async def complete_task(self, scope: Scope, task_id: str, completed_at: datetime | None) -> Task:
        async with self._tx() as conn:
            task = await self._get_task(conn, scope, task_id)
            if task is None:
                raise NotFound(f"task {task_id!r} not found")
            if task.status == TaskStatus.DONE:
                return task
            if task.status == TaskStatus.CANCELLED:
                raise FailedPrecondition(f"task {task_id!r} is CANCELLED and cannot be completed")
            now = self._clock.now()
            done = replace(task, status=TaskStatus.DONE, completed_at=completed_at or now, updated_at=now)
            await self._write_task(conn, scope, done, create=False)
            return done

    async def list_tasks(
        self,
        scope: Scope,
        statuses: Sequence[TaskStatus],
        due_after: datetime | None,
        due_before: datetime | None,
        page: Page,
    ) -> tuple[list[Task], bool]:
        c = t.tasks.c
        stmt = sa.select(t.tasks).where(self._where(t.tasks, scope))
        if statuses:
            stmt = stmt.where(c.status.in_([int(s) for s in statuses]))
        if due_after is not None:
            stmt = stmt.where(c.due_at >= due_after)
        if due_before is not None:
            stmt = stmt.where(c.due_at < due_before)
        stmt = stmt.order_by(c.due_at.is_(None), c.due_at, c.id)
        rows = await self._page(stmt, page)
        return [_task(r) for r in rows[: page.size]], len(rows) > page.size

    # --- calendar ------------------------------------------------------------------------------

    async def upsert_event(self, scope: Scope, event: CalendarEvent, idempotency_key: str = "") -> tuple[CalendarEvent, bool]:
        async def work(conn: AsyncConnection) -> tuple[CalendarEvent, bool]:
            now = self._clock.now()
            existing = await self._get_event(conn, scope, event.id) if event.id else None
            if event.id and existing is None:
                raise NotFound(f"event {event.id!r} not found")
            stored = replace(
                event,
                id=event.id or self._new_id(),
                owner_id=scope.owner_id,
                # Imported identity stays with the row; UpsertEvent cannot forge one.
                source_uid=existing.source_uid if existing else "",
                recurrence_id=existing.recurrence_id if existing else None,
                created_at=existing.created_at if existing else now,
                updated_at=now,
            )
            values = _event_values(stored)
            if existing:
                values.pop("source_key")
                await conn.execute(
                    sa.update(t.events).where(self._where(t.events, scope), t.events.c.id == stored.id).values(**values)
                )
            else:
                await conn.execute(
                    sa.insert(t.events).values(tenant=scope.tenant, owner_id=scope.owner_id, id=stored.id, created_at=now, **values)
                )
            return stored, existing is None

        return await self._idempotent(scope, "UpsertEvent", idempotency_key, TypeAdapter(tuple[CalendarEvent, bool]), work)

    async def _get_event(self, conn: AsyncConnection, scope: Scope, event_id: str) -> CalendarEvent | None:
        row = (await conn.execute(sa.select(t.events).where(self._where(t.events, scope), t.events.c.id == event_id))).first()
        return _event(row) if row else None

    async def list_events(
        self, scope: Scope, window_start: datetime | None, window_end: datetime | None, page: Page
    ) -> tuple[list[CalendarEvent], bool]:
        c = t.events.c
        stmt = sa.select(t.events).where(self._where(t.events, scope))
        if window_start is not None:
            stmt = stmt.where(c.end_at > window_start)
        if window_end is not None:
            stmt = stmt.where(c.start_at < window_end)
        stmt = stmt.order_by(c.start_at, c.id)
        rows = await self._page(stmt, page)
        return [_event(r) for r in rows[: page.size]], len(rows) > page.size

    async def import_events(
        self,
        scope: Scope,
        events: Sequence[CalendarEvent],
        problems: Sequence[CalendarImportProblem],
        idempotency_key: str = "",
    ) -> CalendarImportResult:
        """Upserts parsed events keyed by (source_uid, recurrence_id)."""

        async def work(conn: AsyncConnection) -> CalendarImportResult:
            now = self._clock.now()
            result = CalendarImportResult(problems=list(problems))
            for event in events:
                key = _source_key(event)
                row = (
                    await conn.execute(
                        sa.select(t.events.c.id).where(self._where(t.events, scope), t.events.c.source_key == key)
                    )
                ).first()
                values = _event_values(replace(event, updated_at=now))
                if row is None:
                    await conn.execute(
                        sa.insert(t.events).values(
                            tenant=scope.tenant, owner_id=scope.owner_id, id=self._new_id(), created_at=now, **values
                        )
                    )
                    result.imported += 1
                else:
                    await conn.execute(
                        sa.update(t.events).where(self._where(t.events, scope), t.events.c.id == row.id).values(**values)
                    )
                    result.updated += 1
            return result

        return await self._idempotent(scope, "ImportCalendar", idempotency_key, TypeAdapter(CalendarImportResult), work)

    # --- outreach ---------------------------------------------------------------------------------

    async def log_outreach(self, scope: Scope, entry: OutreachEntry, idempotency_key: str = "") -> OutreachEntry:
        async def work(conn: AsyncConnection) -> OutreachEntry:
            if await self._get_contact(conn, scope, entry.contact_id) is None:
                raise InvalidArgument([FieldViolation("entry.contact_id", f"unknown contact {entry.contact_id!r}")])
            stage: DealStage | None = None
            if entry.deal_id is not None:
                deal = await self._get_deal(conn, scope, entry.deal_id)
                if deal is None:
                    raise InvalidArgument([FieldViolation("entry.deal_id", f"unknown deal {entry.deal_id!r}")])
                if deal.contact_id != entry.contact_id:
                    raise InvalidArgument([FieldViolation("entry.deal_id", "the deal belongs to another contact")])
                stage = deal.stage
            stored = replace(entry, id=self._new_id(), owner_id=scope.owner_id, deal_stage=stage)
            await conn.execute(
                sa.insert(t.outreach).values(
                    tenant=scope.tenant,
                    owner_id=scope.owner_id,
                    id=stored.id,
                    contact_id=stored.contact_id,
                    deal_id=stored.deal_id,
                    deal_stage=int(stage) if stage is not None else None,
                    channel=int(stored.channel),
                    outcome=int(stored.outcome),
                    at=stored.at,
                    note=stored.note,
                    created_at=self._clock.now(),
                )
            )
            d = t.deals.c
            await conn.execute(
                sa.update(t.deals)
                .where(
                    self._where(t.deals, scope),
                    d.contact_id == stored.contact_id,
                    sa.or_(d.last_contact_at.is_(None), d.last_contact_at < stored.at),
                )
                .values(last_contact_at=stored.at)
            )
            return stored

        return await self._idempotent(scope, "LogOutreach", idempotency_key, TypeAdapter(OutreachEntry), work)

    async def list_outreach(
        self,
        scope: Scope,
        contact_id: str,
        deal_id: str,
        since: datetime | None,
        until: datetime | None,
        page: Page,
    ) -> tuple[list[OutreachEntry], bool]:
        c = t.outreach.c
        stmt = sa.select(t.outreach).where(self._where(t.outreach, scope))
        if contact_id:
            stmt = stmt.where(c.contact_id == contact_id)
        if deal_id:
            stmt = stmt.where(c.deal_id == deal_id)
        if since is not None:
            stmt = stmt.where(c.at >= since)
        if until is not None:
            stmt = stmt.where(c.at < until)
        stmt = stmt.order_by(c.at.desc(), c.id)
        rows = await self._page(stmt, page)
        return [_outreach(r) for r in rows[: page.size]], len(rows) > page.size

    # --- CSV imports (rows already parsed and validated) ---------------------------------------------

    async def import_contacts(
        self,
        scope: Scope,
        rows: Sequence[tuple[int, Contact]],
        errors: Sequence[RowError],
        idempotency_key: str = "",
    ) -> CsvImportResult:
        """Each row updates the contact with the same id, else the same email, else creates one."""
        async def work(conn: AsyncConnection) -> CsvImportResult:
            result = CsvImportResult(errors=list(errors))
            for line, contact in rows:
                target: Contact | None = None
                if contact.id:
                    target = await self._get_contact(conn, scope, contact.id)
                    if target is None:
                        result.errors.append(RowError(line, "id", f"unknown contact id {contact.id!r}"))
                        continue
                elif contact.email:
                    target = await self._contact_by_email(conn, scope, contact.email)
                try:
                    _, created = await self._upsert_contact(conn, scope, replace(contact, id=target.id if target else ""))
                except AlreadyExists as exc:
                    result.errors.append(RowError(line, "email", str(exc)))
                    continue
                if created:
                    result.imported += 1
                else:
                    result.updated += 1
            result.errors.sort(key=lambda e: e.line)
            return result

        return await self._idempotent(scope, "ImportContactsCsv", idempotency_key, TypeAdapter(CsvImportResult), work)

    async def import_deals(
        self,
        scope: Scope,
        rows: Sequence[tuple[int, Deal, str]],
        errors: Sequence[RowError],
        idempotency_key: str = "",
    ) -> CsvImportResult:
        """Rows are (line, deal, contact_email); the contact comes from contact_id or the email."""
        async def work(conn: AsyncConnection) -> CsvImportResult:
            result = CsvImportResult(errors=list(errors))
            for line, deal, contact_email in rows:
                if not deal.contact_id:
                    contact = await self._contact_by_email(conn, scope, contact_email)
                    if contact is None:
                        result.errors.append(RowError(line, "contact_email", f"no contact with email {contact_email!r}"))
                        continue
                    deal = replace(deal, contact_id=contact.id)
                elif await self._get_contact(conn, scope, deal.contact_id) is None:
                    result.errors.append(RowError(line, "contact_id", f"unknown contact id {deal.contact_id!r}"))
                    continue
                if deal.id and await self._get_deal(conn, scope, deal.id) is None:
                    result.errors.append(RowError(line, "id", f"unknown deal id {deal.id!r}"))
                    continue
                _, created = await self._upsert_deal(conn, scope, deal, field_prefix="")
                if created:
                    result.imported += 1
                else:
                    result.updated += 1
            result.errors.sort(key=lambda e: e.line)
            return result

        return await self._idempotent(scope, "ImportDealsCsv", idempotency_key, TypeAdapter(CsvImportResult), work)

    # --- owner settings -------------------------------------------------------------------------------

    async def get_settings(self, scope: Scope) -> OwnerSettings:
        async with self._tx() as conn:
            row = (await conn.execute(sa.select(t.owner_settings).where(self._where(t.owner_settings, scope)))).first()
        return _settings(row) if row else OwnerSettings(owner_id=scope.owner_id)

    async def update_settings(self, scope: Scope, settings: OwnerSettings) -> OwnerSettings:
        now = self._clock.now()
        stored = replace(settings, owner_id=scope.owner_id, updated_at=now)
        values = {
            "time_zone": stored.time_zone,
            "morning_s": _seconds(stored.morning_time),
            "afternoon_s": _seconds(stored.afternoon_time),
            "evening_s": _seconds(stored.evening_time),
            "sinks": [{"webhook_url": s.webhook_url, "email_address": s.email_address} for s in stored.sinks],
            "narrative_enabled": stored.narrative_enabled,
            "stale_deal_days": stored.stale_deal_days,
            "updated_at": now,
        }
        async with self._tx() as conn:
            await self._touch_owner(conn, scope)
            stmt = self._insert(t.owner_settings).values(tenant=scope.tenant, owner_id=scope.owner_id, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "owner_id"], set_=values))
        return stored

    async def scheduled_owners(self) -> list[ScheduledOwner]:
        """Every owner with their settings (defaults when never saved)."""
        o, s = t.owners, t.owner_settings
        settings_cols = [c for c in s.c if c.name not in ("tenant", "owner_id")]
        stmt = sa.select(o.c.tenant, o.c.owner_id, o.c.first_seen_at, *settings_cols).select_from(
            o.outerjoin(s, sa.and_(s.c.tenant == o.c.tenant, s.c.owner_id == o.c.owner_id))
        )
        async with self._tx() as conn:
            rows = (await conn.execute(stmt)).all()
        found = []
        for row in rows:
            scope = Scope(row[0], row[1])
            settings = _settings(row) if row.time_zone is not None else OwnerSettings(owner_id=scope.owner_id)
            found.append(ScheduledOwner(scope, settings, row.first_seen_at))
        return found

    # --- brief inputs -------------------------------------------------------------------------------------

    async def snapshot(self, scope: Scope, start: datetime, end: datetime, outreach_since: datetime) -> Snapshot:
        """Everything a brief for [start, end) needs (and some more: compose filters by `at`)."""
        snap = Snapshot()
        async with self._tx() as conn:
            tc = t.tasks.c
            rows = await conn.execute(
                sa.select(t.tasks).where(
                    self._where(t.tasks, scope),
                    sa.or_(
                        sa.and_(tc.status.in_(_OPEN_TASK), tc.due_at.is_not(None)),
                        sa.and_(tc.due_at >= start, tc.due_at < end),
                        tc.completed_at >= start,
                    ),
                )
            )
            snap.tasks = [_task(r) for r in rows]
            ec = t.events.c
            rows = await conn.execute(
                sa.select(t.events)
                .where(self._where(t.events, scope), ec.start_at < end, sa.or_(ec.end_at > start, ec.start_at >= start))
                .order_by(ec.start_at, ec.id)
            )
            snap.events = [_event(r) for r in rows]
            dc = t.deals.c
            rows = await conn.execute(
                sa.select(t.deals).where(
                    self._where(t.deals, scope), sa.or_(dc.stage.in_(_OPEN_DEAL), dc.stage_changed_at >= start)
                )
            )
            snap.deals = [_deal(r) for r in rows]
            contact_ids = {d.contact_id for d in snap.deals}
            if contact_ids:
                rows = await conn.execute(
                    sa.select(t.contacts).where(self._where(t.contacts, scope), t.contacts.c.id.in_(contact_ids))
                )
                snap.contacts = {r.id: _contact(r) for r in rows}
            rows = await conn.execute(
                sa.select(t.outreach).where(self._where(t.outreach, scope), t.outreach.c.at >= outreach_since)
            )
            snap.outreach = [_outreach(r) for r in rows]
            sc = t.deal_stage_changes.c
            rows = await conn.execute(
                sa.select(t.deal_stage_changes)
                .where(self._where(t.deal_stage_changes, scope), sc.at >= start)
                .order_by(sc.at, sc.id)
            )
            snap.stage_changes = [
                StageChange(r.deal_id, DealStage(r.from_stage), DealStage(r.to_stage), r.at) for r in rows
            ]
        return snap

    # --- briefs -------------------------------------------------------------------------------------------

    async def insert_brief(self, scope: Scope, brief: Brief) -> Brief | None:
        """Stores a brief and its PENDING deliveries; None if the owner already
        has one of that kind and date (another run or replica got there first)."""
        stored = replace(brief, id=brief.id or self._new_id(), owner_id=scope.owner_id)
        stored.deliveries = [
            Delivery(sink=d.sink, status=DeliveryStatus.PENDING, next_attempt_at=stored.generated_at)
            for d in brief.deliveries
        ]
        try:
            async with self._tx() as conn:
                await conn.execute(
                    sa.insert(t.briefs).values(
                        tenant=scope.tenant,
                        owner_id=scope.owner_id,
                        id=stored.id,
                        kind=int(stored.kind),
                        date=stored.date,
                        as_of=stored.as_of,
                        generated_at=stored.generated_at,
                        time_zone=stored.time_zone,
                        content=_CONTENT[stored.kind].dump_json(stored.content).decode(),
                        text=stored.text,
                        narrative=stored.narrative,
                        narrative_status=int(stored.narrative_status),
                    )
                )
                for index, delivery in enumerate(stored.deliveries):
                    await conn.execute(
                        sa.insert(t.deliveries).values(
                            tenant=scope.tenant,
                            owner_id=scope.owner_id,
                            brief_id=stored.id,
                            sink_index=index,
                            webhook_url=delivery.sink.webhook_url,
                            email_address=delivery.sink.email_address,
                            status=int(delivery.status),
                            attempts=0,
                            last_error="",
                            delivered_at=None,
                            next_attempt_at=delivery.next_attempt_at,
                        )
                    )
        except sa_exc.IntegrityError:
            return None
        return stored

    async def stored_days(self, scope: Scope, dates: Iterable[date]) -> set[tuple[BriefKind, date]]:
        """(kind, date) pairs among `dates` that already have a stored brief."""
        dates = list(dates)
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(t.briefs.c.kind, t.briefs.c.date).where(self._where(t.briefs, scope), t.briefs.c.date.in_(dates))
            )
            return {(BriefKind(r.kind), r.date) for r in rows}

    async def get_brief(self, scope: Scope, kind: BriefKind, day: date) -> Brief:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    sa.select(t.briefs).where(self._where(t.briefs, scope), t.briefs.c.kind == int(kind), t.briefs.c.date == day)
                )
            ).first()
            if row is None:
                raise NotFound(f"no {kind.label} brief for {day.isoformat()}")
            return (await self._with_deliveries(conn, scope, [row]))[0]

    async def list_briefs(
        self, scope: Scope, kind: BriefKind, start: date | None, end: date | None, page: Page
    ) -> tuple[list[Brief], bool]:
        c = t.briefs.c
        stmt = sa.select(t.briefs).where(self._where(t.briefs, scope))
        if kind != BriefKind.UNSPECIFIED:
            stmt = stmt.where(c.kind == int(kind))
        if start is not None:
            stmt = stmt.where(c.date >= start)
        if end is not None:
            stmt = stmt.where(c.date <= end)
        stmt = stmt.order_by(c.date.desc(), c.kind.desc()).offset(page.offset).limit(page.size + 1)
        async with self._tx() as conn:
            rows = (await conn.execute(stmt)).all()
            briefs = await self._with_deliveries(conn, scope, rows[: page.size])
        return briefs, len(rows) > page.size

    async def briefs_generated_since(
        self, scope: Scope, kinds: Sequence[BriefKind], since: datetime, limit: int = 500
    ) -> list[Brief]:
        """Briefs with generated_at at or after `since`, oldest first."""
        c = t.briefs.c
        stmt = sa.select(t.briefs).where(self._where(t.briefs, scope), c.generated_at >= since)
        if kinds:
            stmt = stmt.where(c.kind.in_([int(k) for k in kinds]))
        stmt = stmt.order_by(c.generated_at, c.id).limit(limit)
        async with self._tx() as conn:
            rows = (await conn.execute(stmt)).all()
            return await self._with_deliveries(conn, scope, rows)

    async def _with_deliveries(self, conn: AsyncConnection, scope: Scope, rows: Sequence[sa.Row[Any]]) -> list[Brief]:
        if not rows:
            return []
        d = t.deliveries.c
        drows = await conn.execute(
            sa.select(t.deliveries)
            .where(self._where(t.deliveries, scope), d.brief_id.in_([r.id for r in rows]))
            .order_by(d.brief_id, d.sink_index)
        )
        by_brief: dict[str, list[Delivery]] = {}
        for r in drows:
            by_brief.setdefault(r.brief_id, []).append(_delivery(r))
        return [_brief(r, by_brief.get(r.id, [])) for r in rows]

    # --- deliveries -------------------------------------------------------------------------------------------

    async def update_delivery(
        self,
        scope: Scope,
        brief_id: str,
        sink_index: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        last_error: str | None = None,
        delivered_at: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": int(status),
            "attempts": attempts,
            "delivered_at": delivered_at,
            "next_attempt_at": next_attempt_at,
        }
        if last_error is not None:
            values["last_error"] = last_error[:2000]
        d = t.deliveries.c
        async with self._tx() as conn:
            await conn.execute(
                sa.update(t.deliveries)
                .where(self._where(t.deliveries, scope), d.brief_id == brief_id, d.sink_index == sink_index)
                .values(**values)
            )

    async def claim_stalled_deliveries(self, overdue_before: datetime, lease_until: datetime, limit: int = 100) -> list[DeliveryRef]:
        """PENDING/RETRYING deliveries whose next attempt is long overdue (their
        process died). Each is claimed by moving next_attempt_at forward with a
        compare-and-set, so one replica resumes it."""
        d = t.deliveries.c
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.deliveries)
                    .where(
                        d.status.in_([int(DeliveryStatus.PENDING), int(DeliveryStatus.RETRYING)]),
                        d.next_attempt_at < overdue_before,
                    )
                    .order_by(d.next_attempt_at)
                    .limit(limit)
                )
            ).all()
        claimed: list[DeliveryRef] = []
        for row in rows:
            async with self._tx() as conn:
                result = await conn.execute(
                    sa.update(t.deliveries)
                    .where(
                        d.tenant == row.tenant,
                        d.owner_id == row.owner_id,
                        d.brief_id == row.brief_id,
                        d.sink_index == row.sink_index,
                        d.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=lease_until)
                )
            if result.rowcount == 1:
                claimed.append(DeliveryRef(Scope(row.tenant, row.owner_id), row.brief_id, row.sink_index, _delivery(row)))
        return claimed

    async def get_brief_by_id(self, scope: Scope, brief_id: str) -> Brief:
        async with self._tx() as conn:
            row = (
                await conn.execute(sa.select(t.briefs).where(self._where(t.briefs, scope), t.briefs.c.id == brief_id))
            ).first()
            if row is None:
                raise NotFound(f"brief {brief_id!r} not found")
            return (await self._with_deliveries(conn, scope, [row]))[0]


# --- row ↔ domain ---------------------------------------------------------------------------------------------


def _micros(value: timedelta | None) -> int | None:
    return None if value is None else value // timedelta(microseconds=1)


def _seconds(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _time(seconds: int) -> time:
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def _source_key(event: CalendarEvent) -> str | None:
    if not event.source_uid:
        return None
    rid = event.recurrence_id.isoformat() if event.recurrence_id else ""
    return f"{event.source_uid}|{rid}"


def _event_values(event: CalendarEvent) -> dict[str, Any]:
    return {
        "title": event.title,
        "start_at": event.start_at,
        "end_at": event.end_at,
        "all_day": event.all_day,
        "attendees": list(event.attendees),
        "location": event.location,
        "source_uid": event.source_uid,
        "recurrence_id": event.recurrence_id,
        "source_key": _source_key(event),
        "updated_at": event.updated_at,
    }


def _contact(r: Any) -> Contact:
    return Contact(
        id=r.id, owner_id=r.owner_id, name=r.name, email=r.email, company=r.company, phone=r.phone,
        time_zone=r.time_zone, notes=r.notes, created_at=r.created_at, updated_at=r.updated_at,
    )


def _deal(r: Any) -> Deal:
    value = Money(r.value_minor, r.currency) if r.value_minor is not None and r.currency else None
    return Deal(
        id=r.id, owner_id=r.owner_id, contact_id=r.contact_id, title=r.title, stage=DealStage(r.stage),
        value=value, probability=r.probability, last_contact_at=r.last_contact_at, next_step=r.next_step,
        expected_close=r.expected_close, stage_changed_at=r.stage_changed_at, created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _task(r: Any) -> Task:
    return Task(
        id=r.id, owner_id=r.owner_id, title=r.title, due_at=r.due_at, priority=TaskPriority(r.priority),
        status=TaskStatus(r.status), completed_at=r.completed_at,
        estimated=None if r.estimated_us is None else timedelta(microseconds=r.estimated_us),
        created_at=r.created_at, updated_at=r.updated_at,
    )


def _event(r: Any) -> CalendarEvent:
    return CalendarEvent(
        id=r.id, owner_id=r.owner_id, title=r.title, start_at=r.start_at, end_at=r.end_at, all_day=r.all_day,
        attendees=list(r.attendees or []), location=r.location, source_uid=r.source_uid,
        recurrence_id=r.recurrence_id, created_at=r.created_at, updated_at=r.updated_at,
    )


def _outreach(r: Any) -> OutreachEntry:
    return OutreachEntry(
        id=r.id, owner_id=r.owner_id, contact_id=r.contact_id, channel=OutreachChannel(r.channel),
        outcome=OutreachOutcome(r.outcome), at=r.at, deal_id=r.deal_id, note=r.note,
        deal_stage=DealStage(r.deal_stage) if r.deal_stage is not None else None,
    )


def _settings(r: Any) -> OwnerSettings:
    return OwnerSettings(
        owner_id=r.owner_id,
        time_zone=r.time_zone,
        morning_time=_time(r.morning_s),
        afternoon_time=_time(r.afternoon_s),
        evening_time=_time(r.evening_s),
        sinks=[Sink(webhook_url=s.get("webhook_url", ""), email_address=s.get("email_address", "")) for s in r.sinks],
        narrative_enabled=r.narrative_enabled,
        stale_deal_days=r.stale_deal_days,
        updated_at=r.updated_at,
    )


def _delivery(r: Any) -> Delivery:
    return Delivery(
        sink=Sink(webhook_url=r.webhook_url, email_address=r.email_address),
        status=DeliveryStatus(r.status),
        attempts=r.attempts,
        last_error=r.last_error,
        delivered_at=r.delivered_at,
        next_attempt_at=r.next_attempt_at,
    )


def _brief(r: Any, deliveries: list[Delivery]) -> Brief:
    kind = BriefKind(r.kind)
    content: BriefContent = _CONTENT[kind].validate_json(r.content)
    return Brief(
        id=r.id, owner_id=r.owner_id, kind=kind, date=r.date, as_of=r.as_of, generated_at=r.generated_at,
        time_zone=r.time_zone, content=content, text=r.text, narrative=r.narrative,
        narrative_status=NarrativeStatus(r.narrative_status), deliveries=deliveries,
    )
