"""Scheduling: per-owner local times across DST, catch-up after downtime, and
exactly one brief per owner, kind and date across restarts and replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import grpc
import httpx
import pytest

from services.briefs.model import BriefKind, OwnerSettings, Scope, Task, TaskPriority
from services.briefs.scheduler import BriefScheduler, due_slots, next_slot_after
from services.briefs.settings import BriefsSettings
from services.briefs.store import BriefStore
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.clock import ManualClock

SchedulerFactory = Callable[..., BriefScheduler]

SCOPE = Scope("default", "ann")
TENANT = (("x-switchboard-tenant", "default"),)


def utc(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=UTC)


def test_due_slots_follow_local_time_across_berlin_dst() -> None:
    berlin = OwnerSettings(owner_id="o", time_zone="Europe/Berlin")
    # 2026-03-29 08:00 CEST; the 24 h catch-up window starts at 06:00 UTC on the 28th.
    slots = due_slots(berlin, utc(3, 29, 6), timedelta(hours=24), not_before=utc(1, 1, 0))
    assert [(s.kind, s.date, s.at) for s in slots] == [
        (BriefKind.MORNING, date(2026, 3, 28), utc(3, 28, 6)),      # 07:00 CET
        (BriefKind.AFTERNOON, date(2026, 3, 28), utc(3, 28, 12)),
        (BriefKind.EVENING, date(2026, 3, 28), utc(3, 28, 16)),
        (BriefKind.MORNING, date(2026, 3, 29), utc(3, 29, 5)),      # 07:00 CEST
    ]
    assert next_slot_after(berlin, utc(3, 29, 6)) == utc(3, 29, 11)  # 13:00 CEST
    # Nothing before the owner appeared, nothing older than the window.
    assert due_slots(berlin, utc(3, 29, 6), timedelta(hours=24), not_before=utc(3, 29, 0)) == slots[-1:]
    assert due_slots(berlin, utc(3, 29, 6), timedelta(hours=0), not_before=utc(1, 1, 0)) == []


def test_custom_times_and_new_york_spring_forward() -> None:
    ny = OwnerSettings(owner_id="o", time_zone="America/New_York", morning_time=time(6, 30),
                       afternoon_time=time(12, 0), evening_time=time(18, 45))
    # 22:00 EDT on the 8th, the day clocks went forward; 20 h back is 01:00 EST.
    slots = due_slots(ny, utc(3, 9, 2), timedelta(hours=20), not_before=utc(1, 1, 0))
    assert [(s.kind, s.date, s.at) for s in slots] == [
        (BriefKind.MORNING, date(2026, 3, 8), utc(3, 8, 10, 30)),   # 06:30 EDT
        (BriefKind.AFTERNOON, date(2026, 3, 8), utc(3, 8, 16)),     # 12:00 EDT
        (BriefKind.EVENING, date(2026, 3, 8), utc(3, 8, 22, 45)),   # 18:45 EDT
    ]
    assert [s.at for s in due_slots(ny, utc(3, 8, 11), timedelta(hours=1), utc(1, 1, 0))] == [utc(3, 8, 10, 30)]


async def test_scheduler_run_across_dst_and_twice_without_duplicates(
    store: BriefStore, clock: ManualClock, briefs_settings: BriefsSettings, make_scheduler: SchedulerFactory
) -> None:
    clock.advance((utc(3, 7, 5) - clock.now()).total_seconds())
    await store.update_settings(SCOPE, OwnerSettings(owner_id="ann", time_zone="America/New_York", narrative_enabled=False))
    await store.upsert_task(SCOPE, Task(id="", owner_id="", title="File taxes", due_at=utc(3, 8, 15),
                                        priority=TaskPriority.URGENT))
    channels = PeerChannels(briefs_settings)
    async with httpx.AsyncClient() as http:
        first = make_scheduler(channels, http)
        second = make_scheduler(channels, http)  # a replica / restart
        clock.advance((utc(3, 8, 11) - clock.now()).total_seconds())  # 07:00 EDT on the 8th
        # Both run at the same moment: the unique constraint lets exactly one store each brief.
        a, b = await asyncio.gather(first.run_once(), second.run_once())
        stored = sorted(a + b, key=lambda brief: brief.as_of)
        assert [(x.kind, x.date, x.as_of) for x in stored] == [
            (BriefKind.MORNING, date(2026, 3, 7), utc(3, 7, 12)),    # 07:00 EST
            (BriefKind.AFTERNOON, date(2026, 3, 7), utc(3, 7, 18)),
            (BriefKind.EVENING, date(2026, 3, 7), utc(3, 7, 22)),
            (BriefKind.MORNING, date(2026, 3, 8), utc(3, 8, 11)),    # 07:00 EDT
        ]
        assert await first.run_once() == [] and await second.run_once() == []
        morning = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 8))
        assert morning.generated_at == utc(3, 8, 11)
        assert [p.task.title for p in morning.content.top_priorities] == ["File taxes"]  # type: ignore[union-attr]
        evening = await store.get_brief(SCOPE, BriefKind.EVENING, date(2026, 3, 7))
        assert evening.content.time_saved.learning_unavailable  # type: ignore[union-attr]
    await channels.close()


async def _briefs(stub: briefs_pb2_grpc.BriefServiceStub) -> list[pb.Brief]:
    response = await stub.ListBriefs(pb.ListBriefsRequest(owner_id="ann"), metadata=TENANT)
    return list(response.briefs)


async def test_catch_up_on_start_and_no_duplicates_after_restart(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    clock = ManualClock(utc(3, 9, 10))  # 06:00 EDT
    first = await serve("briefs", settings=briefs_settings, clock=clock)
    stub = briefs_pb2_grpc.BriefServiceStub(first.channel)
    await stub.UpdateOwnerSettings(
        pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(time_zone="America/New_York", narrative_enabled=True)),
        metadata=TENANT,
    )
    await first.app.scheduler.first_pass.wait()
    assert await _briefs(stub) == []
    await first.stop()  # downtime across the morning and afternoon briefs

    clock.advance((utc(3, 9, 18, 30) - clock.now()).total_seconds())  # 14:30 EDT
    second = await serve("briefs", settings=briefs_settings, clock=clock)
    await second.app.scheduler.first_pass.wait()
    stub = briefs_pb2_grpc.BriefServiceStub(second.channel)
    briefs = await _briefs(stub)
    assert [(b.kind, b.as_of.ToDatetime(tzinfo=UTC)) for b in briefs] == [
        (pb.BRIEF_KIND_AFTERNOON, utc(3, 9, 17)),
        (pb.BRIEF_KIND_MORNING, utc(3, 9, 11)),
    ]
    assert all(b.generated_at.ToDatetime(tzinfo=UTC) == utc(3, 9, 18, 30) for b in briefs)
    # Narrative enabled by default, router down: produced anyway, and says so.
    assert all(b.narrative_status == pb.NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE and b.text for b in briefs)

    third = await serve("briefs", settings=briefs_settings, clock=clock)  # a restart next to it
    await third.app.scheduler.first_pass.wait()
    assert len(await _briefs(stub)) == 2

    clock.advance((utc(3, 9, 21) - clock.now()).total_seconds())  # 17:00 EDT: both replicas wake
    for _ in range(200):
        briefs = await _briefs(stub)
        if len(briefs) == 3:
            break
        await asyncio.sleep(0.05)
    await second.app.scheduler.run_once()
    await third.app.scheduler.run_once()
    briefs = await _briefs(stub)
    assert [b.kind for b in briefs] == [pb.BRIEF_KIND_EVENING, pb.BRIEF_KIND_AFTERNOON, pb.BRIEF_KIND_MORNING]
    got = await stub.GetBrief(pb.GetBriefRequest(owner_id="ann", date="2026-03-09", kind=pb.BRIEF_KIND_EVENING),
                              metadata=TENANT)
    assert got.brief.as_of.ToDatetime(tzinfo=UTC) == utc(3, 9, 21)
    assert got.brief.evening.time_saved.learning_unavailable


async def test_get_brief_not_found_before_generation(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    running = await serve("briefs", settings=briefs_settings, clock=ManualClock(utc(3, 9, 10)))
    stub = briefs_pb2_grpc.BriefServiceStub(running.channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrief(pb.GetBriefRequest(owner_id="ann", date="2026-03-09", kind=pb.BRIEF_KIND_MORNING))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_brief_times_inside_dst_gaps_and_overlaps_give_exactly_one_slot() -> None:
    # Spring forward (8 March 2026, 02:00 EST -> 03:00 EDT): 02:30 does not exist
    # and lands just after the gap, 03:30 EDT; once.
    gap = OwnerSettings(owner_id="o", time_zone="America/New_York", morning_time=time(2, 30))
    slots = due_slots(gap, utc(3, 9, 12), timedelta(hours=48), not_before=utc(1, 1, 0))
    assert [(s.date, s.at) for s in slots if s.kind is BriefKind.MORNING] == [
        (date(2026, 3, 8), utc(3, 8, 7, 30)),   # 03:30 EDT
        (date(2026, 3, 9), utc(3, 9, 6, 30)),   # 02:30 EDT
    ]
    # Fall back (1 November 2026, 02:00 EDT -> 01:00 EST): 01:30 happens twice;
    # the brief comes at the first, once; the day has 25 hours and its evening is EST.
    overlap = OwnerSettings(owner_id="o", time_zone="America/New_York", morning_time=time(1, 30))
    slots = due_slots(overlap, utc(11, 2, 12), timedelta(hours=48), not_before=utc(1, 1, 0))
    assert [(s.kind, s.date, s.at) for s in slots if s.date == date(2026, 11, 1)] == [
        (BriefKind.MORNING, date(2026, 11, 1), utc(11, 1, 5, 30)),    # 01:30 EDT
        (BriefKind.AFTERNOON, date(2026, 11, 1), utc(11, 1, 18)),     # 13:00 EST
        (BriefKind.EVENING, date(2026, 11, 1), utc(11, 1, 22)),       # 17:00 EST
    ]
    assert len({(s.kind, s.date) for s in slots}) == len(slots)
    assert next_slot_after(overlap, utc(11, 1, 5, 30)) == utc(11, 1, 18)  # not the second 01:30


async def test_scheduler_across_the_fall_back_night_stores_one_brief_each(
    store: BriefStore, clock: ManualClock, briefs_settings: BriefsSettings, make_scheduler: SchedulerFactory
) -> None:
    clock.advance((utc(10, 31, 20) - clock.now()).total_seconds())  # 16:00 EDT on the 31st
    await store.update_settings(SCOPE, OwnerSettings(owner_id="ann", time_zone="America/New_York",
                                                     morning_time=time(1, 30), narrative_enabled=False))
    channels = PeerChannels(briefs_settings)
    async with httpx.AsyncClient() as http:
        scheduler = make_scheduler(channels, http)
        stored = []
        # Every 15 minutes through the 25-hour day, past both 01:30s.
        while clock.now() < utc(11, 2, 4):
            stored += await scheduler.run_once()
            clock.advance(15 * 60)
        assert [(b.kind, b.date, b.as_of) for b in stored] == [
            (BriefKind.EVENING, date(2026, 10, 31), utc(10, 31, 21)),       # 17:00 EDT
            (BriefKind.MORNING, date(2026, 11, 1), utc(11, 1, 5, 30)),      # the first 01:30
            (BriefKind.AFTERNOON, date(2026, 11, 1), utc(11, 1, 18)),       # 13:00 EST
            (BriefKind.EVENING, date(2026, 11, 1), utc(11, 1, 22)),         # 17:00 EST
        ]
    await channels.close()
