"""Embedded mode: the same service on SQLite (the default without a database URL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.briefs.settings import BriefsSettings
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.settings import MeshSettings


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


async def test_round_trip_and_schedule_on_sqlite(serve, mesh_settings: MeshSettings, closed_port: int) -> None:  # noqa: ANN001
    settings = BriefsSettings(**{**mesh_settings.model_dump(), "router_address": f"127.0.0.1:{closed_port}",
                                 "learning_address": f"127.0.0.1:{closed_port}"})
    assert settings.sqlalchemy_url().startswith("sqlite+aiosqlite://")
    clock = ManualClock(datetime(2026, 3, 29, 4, tzinfo=UTC))  # 06:00 CEST, the day Berlin springs forward
    running = await serve("briefs", settings=settings, clock=clock)
    stub = briefs_pb2_grpc.BriefServiceStub(running.channel)
    await stub.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(
        time_zone="Europe/Berlin")))
    contact = (await stub.UpsertContact(pb.UpsertContactRequest(owner_id="ann", contact=pb.Contact(
        name="Ann Lee", email="ann@example.com")))).contact
    await stub.UpsertDeal(pb.UpsertDealRequest(owner_id="ann", deal=pb.Deal(
        contact_id=contact.id, title="Pilot", stage=pb.DEAL_STAGE_LEAD, probability=0.4,
        value=pb.MoneyAmount(minor_units=250_000, currency_code="EUR"))))
    await stub.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(
        title="Prepare the pilot", due_at=ts(datetime(2026, 3, 29, 9, tzinfo=UTC)), priority=pb.TASK_PRIORITY_URGENT)))
    found = await stub.ListContacts(pb.ListContactsRequest(owner_id="ann", query="LEE"))
    assert [c.id for c in found.contacts] == [contact.id]
    tasks = await stub.ListTasks(pb.ListTasksRequest(owner_id="ann", due_after=ts(datetime(2026, 3, 29, tzinfo=UTC))))
    assert tasks.tasks[0].due_at.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 29, 9, tzinfo=UTC)

    await running.app.scheduler.first_pass.wait()
    clock.advance(3600)  # 07:00 CEST = 05:00 UTC
    for _ in range(200):
        briefs = (await stub.ListBriefs(pb.ListBriefsRequest(owner_id="ann"))).briefs
        if briefs:
            break
        await asyncio.sleep(0.05)
    (brief,) = briefs
    assert brief.kind == pb.BRIEF_KIND_MORNING and brief.as_of.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 29, 5, tzinfo=UTC)
    assert [p.task.title for p in brief.morning.top_priorities] == ["Prepare the pilot"]
    assert brief.morning.top_opportunities[0].expected_value.minor_units == 100_000
    got = await stub.GetBrief(pb.GetBriefRequest(owner_id="ann", date="2026-03-29", kind=pb.BRIEF_KIND_MORNING))
    assert got.brief.id == brief.id
