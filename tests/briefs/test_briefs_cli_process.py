"""`switchboard brief morning` against the real briefs service in its own
process (PostgreSQL, the real clock): the scheduler stores today's morning
brief at the owner's morning time, and the command, in its own process too,
prints that stored brief (not a preview)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.type import timeofday_pb2

from services.briefs.model import BriefKind
from services.briefs.render import title
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.clients.health import check_address
from switchboard.testing.infra import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICE = pb.DESCRIPTOR.services_by_name["BriefService"].full_name
LEAD_S = 4  # the morning time is set this far ahead of now


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}
    env.update(overrides)
    return env


def _zone_away_from_midnight() -> str:
    """A zone whose local date stays the same for the next minutes (no midnight in the test)."""
    for name in ("UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "Australia/Sydney"):
        local = datetime.now(ZoneInfo(name))
        if local.time() < (datetime.min + timedelta(hours=23, minutes=50)).time() and local.hour >= 1:
            return name
    raise AssertionError("every candidate zone is near midnight")


async def test_brief_morning_prints_todays_stored_brief(tmp_path: Path, database_url: str, closed_port: int) -> None:
    port = free_port()
    down = f"127.0.0.1:{closed_port}"
    log = (tmp_path / "briefs.log").open("wb")
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.briefs", "--port", str(port), cwd=REPO,
        env=_env(SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_DATABASE_URL=database_url,
                 SWITCHBOARD_ROUTER_ADDRESS=down, SWITCHBOARD_LEARNING_ADDRESS=down,
                 SWITCHBOARD_BRIEFS_SCHEDULER_TICK_S="0.5", SWITCHBOARD_LOG_FORMAT="text",
                 SWITCHBOARD_SHUTDOWN_GRACE_S="2"),
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
    )
    log.close()
    address = f"127.0.0.1:{port}"
    try:
        async with asyncio.timeout(60):
            while await check_address(address, SERVICE, timeout=0.5) != "SERVING":
                assert service.returncode is None, (tmp_path / "briefs.log").read_text()
                await asyncio.sleep(0.1)

        zone = _zone_away_from_midnight()
        morning = datetime.now(ZoneInfo(zone)) + timedelta(seconds=LEAD_S)
        today = morning.date()
        async with grpc.aio.insecure_channel(address) as channel:
            stub = briefs_pb2_grpc.BriefServiceStub(channel)
            await stub.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(
                time_zone=zone, narrative_enabled=True,
                morning_time=timeofday_pb2.TimeOfDay(hours=morning.hour, minutes=morning.minute, seconds=morning.second),
            )))
            await stub.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(title="Call the bank")))
            stored = None
            async with asyncio.timeout(60):
                while stored is None:
                    listed = await stub.ListBriefs(pb.ListBriefsRequest(owner_id="ann", kind=pb.BRIEF_KIND_MORNING))
                    stored = listed.briefs[0] if listed.briefs else None
                    await asyncio.sleep(0.2)
            assert (stored.date.year, stored.date.month, stored.date.day) == (today.year, today.month, today.day)
            assert stored.id and stored.as_of.ToDatetime(tzinfo=UTC) >= morning.astimezone(UTC).replace(microsecond=0)

        began = time.monotonic()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switchboard.cli", "brief", "morning", "--owner", "ann", cwd=REPO,
            env=_env(SWITCHBOARD_BRIEFS_ADDRESS=address, SWITCHBOARD_LOG_LEVEL="WARNING"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        print(f"\n`switchboard brief morning` took {time.monotonic() - began:.2f} s")
        assert cli.returncode == 0, err.decode()
        text = out.decode()
        assert text.startswith(title(BriefKind.MORNING, today, zone) + "\n"), text
        assert "preview" not in err.decode()  # the stored brief, not one computed on demand
        assert text == stored.text.rstrip("\n") + "\n\n(narrative skipped: the router was unavailable)\n"
    finally:
        if service.returncode is None:
            service.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(service.wait(), 20)
        if service.returncode is None:
            service.kill()
            await service.wait()
