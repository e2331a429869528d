"""`switchboard brief morning|afternoon|evening` against a real briefs service."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from datetime import UTC, datetime

from services.briefs.settings import BriefsSettings
from switchboard.brief_cli import print_brief
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.settings import MeshSettings


async def test_cli_prints_stored_brief_then_preview(serve, briefs_settings: BriefsSettings) -> None:  # noqa: ANN001
    clock = ManualClock(datetime(2026, 3, 9, 10, tzinfo=UTC))  # 06:00 EDT
    running = await serve("briefs", settings=briefs_settings, clock=clock)
    stub = briefs_pb2_grpc.BriefServiceStub(running.channel)
    await stub.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(
        owner_id="ann", settings=pb.OwnerSettings(time_zone="America/New_York", narrative_enabled=True)))
    await stub.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(title="Renew the domain")))
    await running.app.scheduler.first_pass.wait()
    clock.advance(3600)  # 07:00 EDT
    for _ in range(200):
        if (await stub.ListBriefs(pb.ListBriefsRequest(owner_id="ann"))).briefs:
            break
        await asyncio.sleep(0.05)
    settings = MeshSettings(briefs_address=running.address)

    out, err = io.StringIO(), io.StringIO()
    code = await print_brief(settings, "morning", owner="ann", now=clock.now(), out=out, err=err)
    assert code == 0 and err.getvalue() == ""
    assert out.getvalue().startswith("Morning brief — Monday 9 March 2026 (America/New_York)")
    assert "(narrative skipped: the router was unavailable)" in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    code = await print_brief(settings, "evening", owner="ann", now=clock.now(), out=out, err=err)
    assert code == 0 and "showing a preview" in err.getvalue()
    assert out.getvalue().startswith("Evening brief — Monday 9 March 2026")

    # The real command, in its own process.
    env = {**os.environ, "SWITCHBOARD_BRIEFS_ADDRESS": running.address, "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.cli", "brief", "afternoon", "--owner", "ann",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("Afternoon brief — ")


async def test_cli_reports_briefs_down(closed_port: int) -> None:
    out, err = io.StringIO(), io.StringIO()
    settings = MeshSettings(briefs_address=f"127.0.0.1:{closed_port}")
    assert await print_brief(settings, "morning", owner="ann", timeout=5, out=out, err=err) == 1
    assert "UNAVAILABLE" in err.getvalue() and "switchboard up" in err.getvalue()
