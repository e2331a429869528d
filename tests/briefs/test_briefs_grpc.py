"""The briefs service over real gRPC (the `serve` fixture, PostgreSQL): CRUD
round trips, errors with field violations, tenancy, paging, idempotency,
calendar import, GenerateBrief with the router down / up / slow, the learning
service's time saved, and WatchBriefs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import date_pb2, timeofday_pb2
from sqlalchemy.engine import make_url

from services.briefs.settings import BriefsSettings
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import field_violations
from switchboard.testing.tcp_proxy import TcpProxy

ACME = (("x-switchboard-tenant", "acme"),)
START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # 06:00 EDT, Monday


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


@pytest.fixture
async def briefs(serve, briefs_settings: BriefsSettings) -> briefs_pb2_grpc.BriefServiceStub:  # noqa: ANN001
    settings = briefs_settings.model_copy(update={"briefs_scheduler_enabled": False})
    running = await serve("briefs", settings=settings, clock=ManualClock(START))
    return briefs_pb2_grpc.BriefServiceStub(running.channel)


async def seed(stub: briefs_pb2_grpc.BriefServiceStub, metadata: Any = ACME) -> dict[str, str]:
    await stub.UpdateOwnerSettings(
        pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(time_zone="America/New_York",
                                                                                 narrative_enabled=True)),
        metadata=metadata,
    )
    contact = (await stub.UpsertContact(
        pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(name="Bo Chen", email="bo@example.com", company="Initech")),
        metadata=metadata,
    )).contact
    deal = (await stub.UpsertDeal(
        pb.UpsertDealRequest(owner_id="ann", deal=pb.Deal(
            contact_id=contact.id, title="Initech rollout", stage=pb.DEAL_STAGE_PROPOSAL, probability=0.5,
            value=pb.MoneyAmount(minor_units=1_000_000, currency_code="USD"),
            expected_close=date_pb2.Date(year=2026, month=3, day=20),
        )),
        metadata=metadata,
    )).deal
    task = (await stub.UpsertTask(
        pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(
            title="Send the quote", due_at=ts(datetime(2026, 3, 9, 15, tzinfo=UTC)), priority=pb.TASK_PRIORITY_HIGH,
            estimated=Duration(seconds=1800),
        )),
        metadata=metadata,
    )).task
    return {"contact": contact.id, "deal": deal.id, "task": task.id}


async def test_crud_round_trip_and_morning_preview_with_router_down(briefs: briefs_pb2_grpc.BriefServiceStub) -> None:
    ids = await seed(briefs)
    defaults = (await briefs.GetOwnerSettings(pb.GetOwnerSettingsRequest(owner_id="nobody"), metadata=ACME)).settings
    assert (defaults.time_zone, defaults.morning_time.hours, defaults.evening_time.hours, defaults.narrative_enabled,
            defaults.stale_deal_days) == ("UTC", 7, 17, True, 14)

    logged = await briefs.LogOutreach(pb.LogOutreachRequest(owner_id="ann", entry=pb.OutreachEntry(
        contact_id=ids["contact"], deal_id=ids["deal"], channel=pb.OUTREACH_CHANNEL_PHONE,
        outcome=pb.OUTREACH_OUTCOME_REPLIED, at=ts(datetime(2026, 3, 5, 12, tzinfo=UTC)),
    )), metadata=ACME)
    assert logged.entry.id and logged.entry.owner_id == "ann"
    deals = (await briefs.ListDeals(pb.ListDealsRequest(owner_id="ann"), metadata=ACME)).deals
    assert deals[0].last_contact_at.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 5, 12, tzinfo=UTC)
    outreach = (await briefs.ListOutreach(pb.ListOutreachRequest(owner_id="ann", deal_id=ids["deal"]), metadata=ACME)).entries
    assert [e.id for e in outreach] == [logged.entry.id]

    done = (await briefs.CompleteTask(pb.CompleteTaskRequest(owner_id="ann", task_id=ids["task"]), metadata=ACME)).task
    assert done.status == pb.TASK_STATUS_DONE and done.completed_at.ToDatetime(tzinfo=UTC) == START
    again = (await briefs.CompleteTask(pb.CompleteTaskRequest(
        owner_id="ann", task_id=ids["task"], completed_at=ts(START + timedelta(hours=1))), metadata=ACME)).task
    assert again.completed_at == done.completed_at  # idempotent: kept
    tasks = (await briefs.ListTasks(pb.ListTasksRequest(owner_id="ann", statuses=[pb.TASK_STATUS_DONE]), metadata=ACME)).tasks
    assert [t.id for t in tasks] == [ids["task"]]

    event = (await briefs.UpsertEvent(pb.UpsertEventRequest(owner_id="ann", event=pb.CalendarEvent(
        title="Demo", start_at=ts(datetime(2026, 3, 9, 14, tzinfo=UTC)), end_at=ts(datetime(2026, 3, 9, 15, tzinfo=UTC)),
        attendees=["bo@example.com"],
    )), metadata=ACME)).event
    listed = (await briefs.ListEvents(pb.ListEventsRequest(
        owner_id="ann", window_start=ts(datetime(2026, 3, 9, tzinfo=UTC)), window_end=ts(datetime(2026, 3, 10, tzinfo=UTC)),
    ), metadata=ACME)).events
    assert [e.id for e in listed] == [event.id]

    preview = (await briefs.GenerateBrief(pb.GenerateBriefRequest(
        owner_id="ann", kind=pb.BRIEF_KIND_MORNING, at=ts(datetime(2026, 3, 9, 11, tzinfo=UTC))), metadata=ACME)).brief
    assert preview.id == "" and list(preview.deliveries) == []
    assert preview.WhichOneof("content") == "morning"
    assert (preview.date.year, preview.date.month, preview.date.day) == (2026, 3, 9)
    assert preview.time_zone == "America/New_York"
    assert preview.narrative_status == pb.NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE and preview.narrative == ""
    assert "Initech rollout" in preview.text and "10:00–11:00  Demo" in preview.text
    top = preview.morning.top_opportunities[0]
    assert top.expected_value.minor_units == 500_000 and top.days_since_contact == 3
    assert top.suggested_channel == pb.OUTREACH_CHANNEL_PHONE  # the one channel that got a reply
    no_story = (await briefs.GenerateBrief(pb.GenerateBriefRequest(
        owner_id="ann", kind=pb.BRIEF_KIND_AFTERNOON, with_narrative=False), metadata=ACME)).brief
    assert no_story.narrative_status == pb.NARRATIVE_STATUS_SKIPPED_DISABLED
    assert no_story.as_of.ToDatetime(tzinfo=UTC) == START


async def test_bad_input_not_found_and_preconditions(briefs: briefs_pb2_grpc.BriefServiceStub) -> None:
    ids = await seed(briefs)
    err = await rpc_error(briefs.UpsertDeal(pb.UpsertDealRequest(owner_id="ann", deal=pb.Deal(
        contact_id="", title="", probability=1.5, value=pb.MoneyAmount(minor_units=5, currency_code="usd"),
        expected_close=date_pb2.Date(year=2026, month=2, day=30),
    )), metadata=ACME))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(err)} == {
        "deal.contact_id", "deal.title", "deal.stage", "deal.probability", "deal.value.currency_code", "deal.expected_close",
    }
    err = await rpc_error(briefs.UpsertDeal(pb.UpsertDealRequest(owner_id="ann", deal=pb.Deal(
        contact_id="ghost", title="x", stage=pb.DEAL_STAGE_LEAD)), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["deal.contact_id"]
    err = await rpc_error(briefs.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(
        time_zone="Mars/Olympus", morning_time=timeofday_pb2.TimeOfDay(hours=25),
        sinks=[pb.DeliverySink(webhook_url="ftp://x"), pb.DeliverySink()],
    )), metadata=ACME))
    assert {v.field for v in field_violations(err)} == {
        "settings.time_zone", "settings.morning_time", "settings.sinks[0].webhook_url", "settings.sinks[1]",
    }
    err = await rpc_error(briefs.ListContacts(pb.ListContactsRequest(owner_id=""), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["owner_id"]
    err = await rpc_error(briefs.GetBrief(pb.GetBriefRequest(owner_id="ann", date="9 March"), metadata=ACME))
    assert {v.field for v in field_violations(err)} == {"date", "kind"}
    err = await rpc_error(briefs.GenerateBrief(pb.GenerateBriefRequest(owner_id="ann"), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["kind"]
    err = await rpc_error(briefs.ImportCalendar(pb.ImportCalendarRequest(owner_id="ann", ics_text="nonsense"), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["ics_text"]
    err = await rpc_error(briefs.LogOutreach(pb.LogOutreachRequest(owner_id="ann", entry=pb.OutreachEntry(
        contact_id=ids["contact"], channel=pb.OUTREACH_CHANNEL_EMAIL)), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["entry.outcome"]

    err = await rpc_error(briefs.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(id="nope", title="x")), metadata=ACME))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(briefs.CompleteTask(pb.CompleteTaskRequest(owner_id="bob", task_id=ids["task"]), metadata=ACME))
    assert err.code() == grpc.StatusCode.NOT_FOUND  # another owner's id
    cancelled = (await briefs.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(
        title="Old", status=pb.TASK_STATUS_CANCELLED)), metadata=ACME)).task
    err = await rpc_error(briefs.CompleteTask(pb.CompleteTaskRequest(owner_id="ann", task_id=cancelled.id), metadata=ACME))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(briefs.UpsertContact(pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(
        name="Bo again", email="BO@example.com")), metadata=ACME))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_tenants_paging_and_idempotency(briefs: briefs_pb2_grpc.BriefServiceStub) -> None:
    for name in ["Dee", "Abe", "Cy", "Bea", "Eli"]:
        await briefs.UpsertContact(pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(name=name)), metadata=ACME)
    other = await briefs.ListContacts(pb.ListContactsRequest(owner_id="ann"))  # tenant "default"
    assert list(other.contacts) == []
    names: list[str] = []
    token = ""
    while True:
        page = await briefs.ListContacts(pb.ListContactsRequest(owner_id="ann", page_size=2, page_token=token), metadata=ACME)
        names += [c.name for c in page.contacts]
        token = page.next_page_token
        if not token:
            break
    assert names == ["Abe", "Bea", "Cy", "Dee", "Eli"]
    first = await briefs.ListContacts(pb.ListContactsRequest(owner_id="ann", page_size=2), metadata=ACME)
    err = await rpc_error(briefs.ListContacts(pb.ListContactsRequest(
        owner_id="ann", page_size=2, page_token=first.next_page_token, query="b"), metadata=ACME))
    assert [v.field for v in field_violations(err)] == ["page_token"]
    err = await rpc_error(briefs.ListContacts(pb.ListContactsRequest(owner_id="ann", page_token="%%%"), metadata=ACME))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    request = pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(name="Fay"), idempotency_key="create-fay")
    a = await briefs.UpsertContact(request, metadata=ACME)
    b = await briefs.UpsertContact(request, metadata=ACME)
    assert a == b and a.created
    found = await briefs.ListContacts(pb.ListContactsRequest(owner_id="ann", query="fay"), metadata=ACME)
    assert len(found.contacts) == 1


async def test_calendar_and_csv_import_over_grpc(briefs: briefs_pb2_grpc.BriefServiceStub) -> None:
    ics = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:weekly\nSUMMARY:Pipeline review\nDTSTART;TZID=America/New_York:20260302T093000\n"
        "DTEND;TZID=America/New_York:20260302T100000\nRRULE:FREQ=WEEKLY;COUNT=10\n"
        "EXDATE;TZID=America/New_York:20260316T093000\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:bad\nSUMMARY:Bad\nDTSTART:20260310T090000Z\nDTEND:20260310T080000Z\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    result = await briefs.ImportCalendar(pb.ImportCalendarRequest(
        owner_id="ann", ics_text=ics, window_start=ts(datetime(2026, 3, 1, tzinfo=UTC)),
        window_end=ts(datetime(2026, 3, 31, tzinfo=UTC))), metadata=ACME)
    assert (result.imported, result.updated) == (4, 0)  # 2, 9, 23, 30 March (16 excluded)
    assert [(p.line, p.source_uid, p.property) for p in result.problems] == [(12, "bad", "DTEND")]
    events = (await briefs.ListEvents(pb.ListEventsRequest(owner_id="ann"), metadata=ACME)).events
    # 09:30 EST = 14:30 UTC before the change, 09:30 EDT = 13:30 UTC after it.
    assert [e.start_at.ToDatetime(tzinfo=UTC).strftime("%d %H:%M") for e in events] == [
        "02 14:30", "09 13:30", "23 13:30", "30 13:30",
    ]
    assert all(e.source_uid == "weekly" and e.HasField("recurrence_id") for e in events)

    imported = await briefs.ImportContactsCsv(pb.ImportContactsCsvRequest(
        owner_id="ann", csv_text="name,email\nAnn,ann@example.com\n,missing@example.com\nBob,bob@example.com\n"), metadata=ACME)
    assert (imported.imported, [(e.line, e.field) for e in imported.errors]) == (2, [(3, "name")])
    deals = await briefs.ImportDealsCsv(pb.ImportDealsCsvRequest(
        owner_id="ann", csv_text="title,contact_email,value,currency\nBig one,bob@example.com,99.99,EUR\nLost,x@y.z,1,EUR\n"),
        metadata=ACME)
    assert (deals.imported, [(e.line, e.field) for e in deals.errors]) == (1, [(3, "contact_email")])


# --- peers: stand-in router and learning servers on real ports -----------------------------------------


class Router(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.requests: list[router_pb2.CompleteRequest] = []

    async def Complete(self, request: router_pb2.CompleteRequest, context: Any) -> router_pb2.CompleteResponse:  # noqa: N802
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        return router_pb2.CompleteResponse(text="  A calm Monday: send the quote first.  ", backend="stand-in")


class Learning(learning_pb2_grpc.LearningServiceServicer):
    def __init__(self) -> None:
        self.requests: list[learning_pb2.GetTimeSavedRequest] = []

    async def GetTimeSaved(self, request: learning_pb2.GetTimeSavedRequest, context: Any) -> learning_pb2.GetTimeSavedResponse:  # noqa: N802
        self.requests.append(request)
        return learning_pb2.GetTimeSavedResponse(
            user_id=request.user_id, time_saved=Duration(seconds=3600), request_count=12, successful_requests=11,
        )


async def peer(register: Any, servicer: Any) -> AsyncIterator[str]:
    server = grpc.aio.server()
    register(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def test_narrative_included_deadline_and_time_saved(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    fast, slow, learning = Router(), Router(delay_s=5.0), Learning()
    fast_peer = peer(router_pb2_grpc.add_RouterServiceServicer_to_server, fast)
    slow_peer = peer(router_pb2_grpc.add_RouterServiceServicer_to_server, slow)
    learning_peer = peer(learning_pb2_grpc.add_LearningServiceServicer_to_server, learning)
    fast_addr, slow_addr, learning_addr = await anext(fast_peer), await anext(slow_peer), await anext(learning_peer)
    try:
        base = briefs_settings.model_copy(update={"briefs_scheduler_enabled": False, "learning_address": learning_addr,
                                                  "briefs_narrative_timeout_s": 0.5})
        up = briefs_pb2_grpc.BriefServiceStub((await serve("briefs", settings=base.model_copy(
            update={"router_address": fast_addr}), clock=ManualClock(START))).channel)
        late = briefs_pb2_grpc.BriefServiceStub((await serve("briefs", settings=base.model_copy(
            update={"router_address": slow_addr}), clock=ManualClock(START))).channel)
        ids = await seed(up)
        await up.CompleteTask(pb.CompleteTaskRequest(owner_id="ann", task_id=ids["task"]), metadata=ACME)
        evening_at = ts(datetime(2026, 3, 9, 21, tzinfo=UTC))  # 17:00 EDT
        brief = (await up.GenerateBrief(pb.GenerateBriefRequest(
            owner_id="ann", kind=pb.BRIEF_KIND_EVENING, at=evening_at), metadata=ACME)).brief
        assert brief.narrative_status == pb.NARRATIVE_STATUS_INCLUDED
        assert brief.narrative == "A calm Monday: send the quote first."
        # The narrative is the mesh's own call: never recorded as the owner's interaction.
        assert fast.requests[0].user_id == "switchboard:briefs" and "Evening brief" in fast.requests[0].prompt
        saved = brief.evening.time_saved
        assert (saved.from_interactions.seconds, saved.from_tasks.seconds, saved.total.seconds) == (3600, 1800, 5400)
        assert saved.interactions == 12 and not saved.learning_unavailable
        asked = learning.requests[0]
        assert (asked.user_id, asked.tenant) == ("ann", "acme")
        assert asked.since.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 9, 4, tzinfo=UTC)  # local midnight (EDT)
        assert asked.until == evening_at

        brief = (await late.GenerateBrief(pb.GenerateBriefRequest(
            owner_id="ann", kind=pb.BRIEF_KIND_MORNING, with_narrative=True), metadata=ACME)).brief
        assert brief.narrative_status == pb.NARRATIVE_STATUS_SKIPPED_DEADLINE and brief.text
    finally:
        for gen in (fast_peer, slow_peer, learning_peer):
            await gen.aclose()


async def test_watch_replays_streams_and_ends_on_shutdown(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    clock = ManualClock(START)
    settings = briefs_settings.model_copy(update={"briefs_scheduler_tick_s": 3600})
    running = await serve("briefs", settings=settings, clock=clock)
    stub = briefs_pb2_grpc.BriefServiceStub(running.channel)
    await seed(stub, metadata=())  # tenant "default", so the scheduler's briefs are ann@default
    await stub.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(
        time_zone="America/New_York")))
    await running.app.scheduler.first_pass.wait()

    clock.advance(3600)  # 07:00 EDT: the morning brief
    for _ in range(200):
        if (await stub.ListBriefs(pb.ListBriefsRequest(owner_id="ann"))).briefs:
            break
        await asyncio.sleep(0.05)

    replay = stub.WatchBriefs(pb.WatchBriefsRequest(owner_id="ann", since=ts(START)))
    first = await replay.read()
    assert first.brief.kind == pb.BRIEF_KIND_MORNING and first.brief.id

    only_new = stub.WatchBriefs(pb.WatchBriefsRequest(owner_id="ann", kinds=[pb.BRIEF_KIND_AFTERNOON]))
    await asyncio.wait_for(only_new.initial_metadata(), timeout=10)  # the stream is live
    clock.advance(6 * 3600)  # 13:00 EDT: the afternoon brief
    new = await asyncio.wait_for(only_new.read(), timeout=10)
    assert new.brief.kind == pb.BRIEF_KIND_AFTERNOON
    again = await asyncio.wait_for(replay.read(), timeout=10)
    assert again.brief.id == new.brief.id

    running.runtime.stopping.set()  # shutdown begins: open streams end cleanly
    assert await asyncio.wait_for(only_new.read(), timeout=10) == grpc.aio.EOF
    assert await only_new.code() == grpc.StatusCode.OK


async def test_storage_outage_is_unavailable_then_recovers(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    url = make_url(briefs_settings.database_url or "")
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = briefs_settings.model_copy(update={"database_url": proxied, "briefs_scheduler_enabled": False})
        stub = briefs_pb2_grpc.BriefServiceStub((await serve("briefs", settings=settings, clock=ManualClock(START))).channel)
        request = pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(name="Ann"))
        await stub.UpsertContact(request, metadata=ACME)
        await proxy.down()
        err = await rpc_error(stub.UpsertContact(request, metadata=ACME, timeout=30))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        err = await rpc_error(stub.GenerateBrief(pb.GenerateBriefRequest(owner_id="ann", kind=pb.BRIEF_KIND_MORNING),
                                                 metadata=ACME, timeout=30))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        await proxy.up()
        listed = await stub.ListContacts(pb.ListContactsRequest(owner_id="ann"), metadata=ACME, timeout=30)
        assert [c.name for c in listed.contacts] == ["Ann"]
