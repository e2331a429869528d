"""`switchboard brief morning|afternoon|evening`: print today's brief.

Today is the owner's local date (their settings' time zone). The stored brief
is printed when the scheduler has made it; before its time a preview is
computed on demand (GenerateBrief) and marked as such on stderr.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

import grpc

from switchboard.briefs.v1 import briefs_pb2, briefs_pb2_grpc
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.settings import MeshSettings

KINDS = {
    "morning": briefs_pb2.BRIEF_KIND_MORNING,
    "afternoon": briefs_pb2.BRIEF_KIND_AFTERNOON,
    "evening": briefs_pb2.BRIEF_KIND_EVENING,
}


def _narrative_note(brief: briefs_pb2.Brief) -> str:
    if brief.narrative_status == briefs_pb2.NARRATIVE_STATUS_INCLUDED and brief.narrative:
        return brief.narrative
    if brief.narrative_status == briefs_pb2.NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE:
        return "(narrative skipped: the router was unavailable)"
    if brief.narrative_status == briefs_pb2.NARRATIVE_STATUS_SKIPPED_DEADLINE:
        return "(narrative skipped: the router did not answer in time)"
    return ""


async def print_brief(
    settings: MeshSettings,
    kind: str,
    *,
    owner: str,
    tenant: str = "default",
    timeout: float = 30.0,
    now: datetime | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Exit code 0 when a brief was printed, 1 on an error status."""
    channels = PeerChannels(settings)
    stub = briefs_pb2_grpc.BriefServiceStub(channels.channel("briefs"))
    metadata = (("x-switchboard-tenant", tenant),)
    try:
        owner_settings = (
            await stub.GetOwnerSettings(briefs_pb2.GetOwnerSettingsRequest(owner_id=owner), metadata=metadata, timeout=timeout)
        ).settings
        zone = owner_settings.time_zone or "UTC"
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()
        try:
            brief = (
                await stub.GetBrief(
                    briefs_pb2.GetBriefRequest(owner_id=owner, date=today.isoformat(), kind=KINDS[kind]),
                    metadata=metadata,
                    timeout=timeout,
                )
            ).brief
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            print(f"[no {kind} brief stored for {today.isoformat()} yet: showing a preview]", file=err)
            request = briefs_pb2.GenerateBriefRequest(owner_id=owner, kind=KINDS[kind])
            if now is not None:
                request.at.FromDatetime(now)
            brief = (await stub.GenerateBrief(request, metadata=metadata, timeout=timeout)).brief
        out.write(brief.text.rstrip("\n") + "\n")
        note = _narrative_note(brief)
        if note:
            out.write("\n" + note + "\n")
        return 0
    except grpc.aio.AioRpcError as exc:
        hint = ""
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            hint = f" (briefs at {channels.address('briefs')}: is `switchboard up` running?)"
        print(f"switchboard brief: {exc.code().name}: {exc.details()}{hint}", file=err)
        return 1
    finally:
        await channels.close()
