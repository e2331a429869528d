"""Thin gRPC layer of the briefs service: tenant from metadata, proto ↔ domain,
domain errors → status codes. The work happens in the store, the brief maker
and the importers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import grpc

from services.briefs import convert, validate
from services.briefs.csv_import import parse_contacts, parse_deals
from services.briefs.errors import AlreadyExists, FailedPrecondition, NotFound, StorageUnavailable
from services.briefs.generate import BriefMaker
from services.briefs.ics_import import parse_ics
from services.briefs.model import BriefKind, DealStage, Scope, TaskStatus
from services.briefs.paging import page_of
from services.briefs.settings import BriefsSettings
from services.briefs.store import BriefStore
from services.briefs.watch import BriefFeed, watch_briefs
from switchboard.runtime.tenant import tenant_or_default
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import FieldViolation, InvalidArgument

# Briefs look back (decay) and ahead (tomorrow) from `at`: keep it well inside datetime's range.
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_CODES: dict[type[Exception], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
}

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _code_for(exc: Exception) -> grpc.StatusCode | None:
    for kind, code in _CODES.items():
        if isinstance(exc, kind):
            return code
    return None


def unary(
    method: Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
    """Maps the domain errors; InvalidArgument is left to the shared error boundary."""

    @functools.wraps(method)
    async def wrapped(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except (NotFound, AlreadyExists, FailedPrecondition, StorageUnavailable) as exc:
            await context.abort(_code_for(exc) or grpc.StatusCode.UNKNOWN, str(exc))
            raise  # abort raises; this keeps type checkers calm

    return wrapped


def _scope(request: Any, context: grpc.aio.ServicerContext) -> Scope:
    tenant = tenant_or_default(context)
    validate.raise_if(validate.owner_id(request.owner_id))
    return Scope(tenant, request.owner_id)


def _required_message(request: Any, name: str) -> None:
    if not request.HasField(name):
        raise InvalidArgument([FieldViolation(name, "is required")])


def _kind(number: int, name: str, *, allow_unspecified: bool = False) -> BriefKind:
    try:
        kind = BriefKind(number)
    except ValueError:
        raise InvalidArgument([FieldViolation(name, f"unknown brief kind {number}")]) from None
    if kind == BriefKind.UNSPECIFIED and not allow_unspecified:
        raise InvalidArgument([FieldViolation(name, "is required (MORNING, AFTERNOON or EVENING)")])
    return kind


class BriefServiceServicer(briefs_pb2_grpc.BriefServiceServicer):
    def __init__(
        self,
        store: BriefStore,
        maker: BriefMaker,
        feed: BriefFeed,
        clock: Clock,
        settings: BriefsSettings,
        stopping: asyncio.Event,
    ) -> None:
        self._store = store
        self._maker = maker
        self._feed = feed
        self._clock = clock
        self._settings = settings
        self._stopping = stopping

    # --- contacts ----------------------------------------------------------------------

    @unary
    async def UpsertContact(self, request: pb.UpsertContactRequest, context: grpc.aio.ServicerContext) -> pb.UpsertContactResponse:
        scope = _scope(request, context)
        _required_message(request, "contact")
        contact = convert.contact_in(request.contact)
        validate.raise_if(validate.contact(contact))
        stored, created = await self._store.upsert_contact(scope, contact, request.idempotency_key)
        return pb.UpsertContactResponse(contact=convert.contact_out(stored), created=created)

    @unary
    async def ListContacts(self, request: pb.ListContactsRequest, context: grpc.aio.ServicerContext) -> pb.ListContactsResponse:
        scope = _scope(request, context)
        page = page_of(request.page_size, request.page_token, "contacts", scope, request.query)
        items, more = await self._store.list_contacts(scope, request.query.strip(), page)
        return pb.ListContactsResponse(
            contacts=[convert.contact_out(c) for c in items], next_page_token=page.next_token(len(items), more)
        )

    # --- deals ---------------------------------------------------------------------------

    @unary
    async def UpsertDeal(self, request: pb.UpsertDealRequest, context: grpc.aio.ServicerContext) -> pb.UpsertDealResponse:
        scope = _scope(request, context)
        _required_message(request, "deal")
        violations: list[FieldViolation] = []
        deal = convert.deal_in(request.deal, violations)
        validate.raise_if(violations + validate.deal(deal))
        stored, created = await self._store.upsert_deal(scope, deal, request.idempotency_key)
        return pb.UpsertDealResponse(deal=convert.deal_out(stored), created=created)

    @unary
    async def ListDeals(self, request: pb.ListDealsRequest, context: grpc.aio.ServicerContext) -> pb.ListDealsResponse:
        scope = _scope(request, context)
        violations: list[FieldViolation] = []
        stages = [convert.enum_in(DealStage, s, f"stages[{i}]", violations) for i, s in enumerate(request.stages)]
        validate.raise_if(violations)
        page = page_of(request.page_size, request.page_token, "deals", scope, sorted(stages), request.contact_id)
        items, more = await self._store.list_deals(scope, stages, request.contact_id, page)
        return pb.ListDealsResponse(deals=[convert.deal_out(d) for d in items], next_page_token=page.next_token(len(items), more))

    # --- tasks ----------------------------------------------------------------------------

    @unary
    async def UpsertTask(self, request: pb.UpsertTaskRequest, context: grpc.aio.ServicerContext) -> pb.UpsertTaskResponse:
        scope = _scope(request, context)
        _required_message(request, "task")
        violations: list[FieldViolation] = []
        task = convert.task_in(request.task, violations)
        validate.raise_if(violations + validate.task(task))
        stored, created = await self._store.upsert_task(scope, task, request.idempotency_key)
        return pb.UpsertTaskResponse(task=convert.task_out(stored), created=created)

    @unary
    async def ListTasks(self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext) -> pb.ListTasksResponse:
        scope = _scope(request, context)
        violations: list[FieldViolation] = []
        statuses = [convert.enum_in(TaskStatus, s, f"statuses[{i}]", violations) for i, s in enumerate(request.statuses)]
        validate.raise_if(violations)
        after, before = convert.ts_in(request, "due_after"), convert.ts_in(request, "due_before")
        page = page_of(request.page_size, request.page_token, "tasks", scope, sorted(statuses), after, before)
        items, more = await self._store.list_tasks(scope, statuses, after, before, page)
        return pb.ListTasksResponse(tasks=[convert.task_out(t) for t in items], next_page_token=page.next_token(len(items), more))

    @unary
    async def CompleteTask(self, request: pb.CompleteTaskRequest, context: grpc.aio.ServicerContext) -> pb.CompleteTaskResponse:
        scope = _scope(request, context)
        validate.raise_if(validate.required(request.task_id, "task_id"))
        task = await self._store.complete_task(scope, request.task_id, convert.ts_in(request, "completed_at"))
        return pb.CompleteTaskResponse(task=convert.task_out(task))

    # --- calendar ----------------------------------------------------------------------------

    @unary
    async def UpsertEvent(self, request: pb.UpsertEventRequest, context: grpc.aio.ServicerContext) -> pb.UpsertEventResponse:
        scope = _scope(request, context)
        _required_message(request, "event")
        violations: list[FieldViolation] = []
        event = convert.event_in(request.event, violations)
        validate.raise_if(violations + ([] if violations else validate.event(event)))
        stored, created = await self._store.upsert_event(scope, event, request.idempotency_key)
        return pb.UpsertEventResponse(event=convert.event_out(stored), created=created)

    @unary
    async def ListEvents(self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext) -> pb.ListEventsResponse:
        scope = _scope(request, context)
        start, end = convert.ts_in(request, "window_start"), convert.ts_in(request, "window_end")
        if start and end and end < start:
            raise InvalidArgument([FieldViolation("window_end", "must not be before window_start")])
        page = page_of(request.page_size, request.page_token, "events", scope, start, end)
        items, more = await self._store.list_events(scope, start, end, page)
        return pb.ListEventsResponse(events=[convert.event_out(e) for e in items], next_page_token=page.next_token(len(items), more))

    @unary
    async def ImportCalendar(self, request: pb.ImportCalendarRequest, context: grpc.aio.ServicerContext) -> pb.ImportCalendarResponse:
        scope = _scope(request, context)
        validate.raise_if(validate.required(request.ics_text, "ics_text"))
        start = convert.ts_in(request, "window_start") or self._clock.now() - timedelta(days=7)
        if not _EARLIEST <= start < _LATEST:
            raise InvalidArgument([FieldViolation("window_start", "must be between 1971 and 9000")])
        end = convert.ts_in(request, "window_end") or start + timedelta(days=90)
        if end <= start:
            raise InvalidArgument([FieldViolation("window_end", "must be after window_start")])
        if end - start > timedelta(days=3660):
            raise InvalidArgument([FieldViolation("window_end", "the window may span at most 10 years")])
        settings = await self._store.get_settings(scope)
        parsed = await asyncio.to_thread(parse_ics, request.ics_text, ZoneInfo(settings.time_zone), start, end)
        result = await self._store.import_events(scope, parsed.events, parsed.problems, request.idempotency_key)
        return convert.calendar_result_out(result)

    # --- outreach -------------------------------------------------------------------------------

    @unary
    async def LogOutreach(self, request: pb.LogOutreachRequest, context: grpc.aio.ServicerContext) -> pb.LogOutreachResponse:
        scope = _scope(request, context)
        _required_message(request, "entry")
        violations: list[FieldViolation] = []
        entry = convert.outreach_in(request.entry, self._clock.now(), violations)
        validate.raise_if(violations + validate.outreach(entry))
        stored = await self._store.log_outreach(scope, entry, request.idempotency_key)
        return pb.LogOutreachResponse(entry=convert.outreach_out(stored))

    @unary
    async def ListOutreach(self, request: pb.ListOutreachRequest, context: grpc.aio.ServicerContext) -> pb.ListOutreachResponse:
        scope = _scope(request, context)
        since, until = convert.ts_in(request, "since"), convert.ts_in(request, "until")
        page = page_of(request.page_size, request.page_token, "outreach", scope, request.contact_id, request.deal_id, since, until)
        items, more = await self._store.list_outreach(scope, request.contact_id, request.deal_id, since, until, page)
        return pb.ListOutreachResponse(
            entries=[convert.outreach_out(o) for o in items], next_page_token=page.next_token(len(items), more)
        )

    # --- CSV imports -------------------------------------------------------------------------------

    @unary
    async def ImportContactsCsv(self, request: pb.ImportContactsCsvRequest, context: grpc.aio.ServicerContext) -> pb.ImportContactsCsvResponse:
        scope = _scope(request, context)
        rows, errors = parse_contacts(request.csv_text)
        result = await self._store.import_contacts(scope, rows, errors, request.idempotency_key)
        return pb.ImportContactsCsvResponse(**convert.csv_result_out(result))

    @unary
    async def ImportDealsCsv(self, request: pb.ImportDealsCsvRequest, context: grpc.aio.ServicerContext) -> pb.ImportDealsCsvResponse:
        scope = _scope(request, context)
        rows, errors = parse_deals(request.csv_text)
        result = await self._store.import_deals(scope, rows, errors, request.idempotency_key)
        return pb.ImportDealsCsvResponse(**convert.csv_result_out(result))

    # --- settings -------------------------------------------------------------------------------------

    @unary
    async def GetOwnerSettings(self, request: pb.GetOwnerSettingsRequest, context: grpc.aio.ServicerContext) -> pb.GetOwnerSettingsResponse:
        scope = _scope(request, context)
        return pb.GetOwnerSettingsResponse(settings=convert.settings_out(await self._store.get_settings(scope)))

    @unary
    async def UpdateOwnerSettings(self, request: pb.UpdateOwnerSettingsRequest, context: grpc.aio.ServicerContext) -> pb.UpdateOwnerSettingsResponse:
        scope = _scope(request, context)
        _required_message(request, "settings")
        violations: list[FieldViolation] = []
        settings = convert.settings_in(request.settings, violations)
        validate.raise_if(violations + validate.owner_settings(settings))
        stored = await self._store.update_settings(scope, settings)
        return pb.UpdateOwnerSettingsResponse(settings=convert.settings_out(stored))

    # --- briefs ------------------------------------------------------------------------------------------

    @unary
    async def GenerateBrief(self, request: pb.GenerateBriefRequest, context: grpc.aio.ServicerContext) -> pb.GenerateBriefResponse:
        scope = _scope(request, context)
        kind = _kind(request.kind, "kind")
        at = convert.ts_in(request, "at") or self._clock.now()
        if not _EARLIEST <= at < _LATEST:
            raise InvalidArgument([FieldViolation("at", "must be between 1971 and 9000")])
        with_narrative = request.with_narrative if request.HasField("with_narrative") else None
        brief = await self._maker.make(scope, kind, at, with_narrative=with_narrative)
        brief.deliveries = []  # a preview is never delivered
        return pb.GenerateBriefResponse(brief=convert.brief_out(brief))

    @unary
    async def GetBrief(self, request: pb.GetBriefRequest, context: grpc.aio.ServicerContext) -> pb.GetBriefResponse:
        scope = _scope(request, context)
        violations: list[FieldViolation] = []
        day: date | None = None
        try:
            day = date.fromisoformat(request.date)
        except ValueError:
            violations.append(FieldViolation("date", f"must be a YYYY-MM-DD date, got {request.date!r}"))
        try:
            kind = _kind(request.kind, "kind")
        except InvalidArgument as exc:
            violations += exc.violations
        validate.raise_if(violations)
        assert day is not None
        return pb.GetBriefResponse(brief=convert.brief_out(await self._store.get_brief(scope, kind, day)))

    @unary
    async def ListBriefs(self, request: pb.ListBriefsRequest, context: grpc.aio.ServicerContext) -> pb.ListBriefsResponse:
        scope = _scope(request, context)
        kind = _kind(request.kind, "kind", allow_unspecified=True)
        violations: list[FieldViolation] = []
        start = convert.date_in(request.start_date, "start_date", violations) if request.HasField("start_date") else None
        end = convert.date_in(request.end_date, "end_date", violations) if request.HasField("end_date") else None
        if start and end and end < start:
            violations.append(FieldViolation("end_date", "must not be before start_date"))
        validate.raise_if(violations)
        page = page_of(request.page_size, request.page_token, "briefs", scope, kind, start, end)
        items, more = await self._store.list_briefs(scope, kind, start, end, page)
        return pb.ListBriefsResponse(briefs=[convert.brief_out(b) for b in items], next_page_token=page.next_token(len(items), more))

    async def WatchBriefs(self, request: pb.WatchBriefsRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.WatchBriefsResponse]:
        scope = _scope(request, context)
        kinds = [_kind(k, f"kinds[{i}]") for i, k in enumerate(request.kinds)]
        stream = watch_briefs(
            self._store,
            self._feed,
            self._clock,
            scope,
            kinds,
            convert.ts_in(request, "since"),
            self._stopping,
            poll_s=self._settings.briefs_watch_poll_s,
            slack=timedelta(seconds=self._settings.briefs_watch_slack_s),
            # Initial metadata tells the client the stream is live (nothing stored from now on is missed).
            on_ready=lambda: context.send_initial_metadata(()),
        )
        try:
            async for brief in stream:
                yield pb.WatchBriefsResponse(brief=convert.brief_out(brief))
        except (NotFound, StorageUnavailable) as exc:
            await context.abort(_code_for(exc) or grpc.StatusCode.UNKNOWN, str(exc))
