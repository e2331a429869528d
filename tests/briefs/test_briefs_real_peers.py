"""The briefs service with its real peers: the narrative written by the real
router (its deterministic mock backend), time saved from the real learning
service's GetTimeSaved (PostgreSQL); then each peer going down: the brief is
still produced and says what was skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from services.briefs.settings import BriefsSettings
from services.router.settings import RouterSettings
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.briefs.v1 import briefs_pb2_grpc
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.settings import MeshSettings

ACME = (("x-switchboard-tenant", "acme"),)
START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # 06:00 EDT, Monday
EVENING = datetime(2026, 3, 9, 21, 0, tzinfo=UTC)  # 17:00 EDT
MIDNIGHT = datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # 00:00 EDT


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def interaction(i: int, outcome: int, at: datetime) -> learning_pb2.Interaction:
    return learning_pb2.Interaction(
        interaction_id=f"ann-{i}", request_id=f"r-{i}", tenant="acme", user_id="ann", topic="general",
        backend="mock-a", outcome=outcome, attempt=1, total_time=Duration(seconds=2),
        time_to_first_token=Duration(nanos=300_000_000), completion_tokens=50, occurred_at=ts(at),
    )


async def test_narrative_from_the_real_router_time_saved_from_the_real_learning_service(
    serve, briefs_settings: BriefsSettings, database_url: str, tmp_path: Path  # noqa: ANN001
) -> None:
    learning = await serve("learning", settings=MeshSettings(
        data_dir=tmp_path / "learning", database_url=database_url, shutdown_grace_s=1.0, log_format="text"))
    config = tmp_path / "switchboard.toml"
    config.write_text('[[backends]]\nname = "mock-a"\nkind = "mock"\n')
    router = await serve("router", settings=RouterSettings(
        data_dir=tmp_path / "router", config=config, learning_address=learning.address,
        cache_address=briefs_settings.router_address, monitor_address=briefs_settings.router_address,  # both down
        router_probe_ollama=False, router_outcome_flush_timeout_s=0.5, shutdown_grace_s=1.0, log_format="text"))
    settings = briefs_settings.model_copy(update={
        "briefs_scheduler_enabled": False, "router_address": router.address, "learning_address": learning.address,
        "briefs_narrative_timeout_s": 15.0, "briefs_time_saved_timeout_s": 10.0,
    })
    briefs = briefs_pb2_grpc.BriefServiceStub((await serve("briefs", settings=settings, clock=ManualClock(START))).channel)

    # The owner's day as the learning service saw it: three answers, one timeout,
    # and one answer the day before (outside the window).
    assert learning.channel is not None
    recorded = await learning_pb2_grpc.LearningServiceStub(learning.channel).RecordInteractions(
        learning_pb2.RecordInteractionsRequest(interactions=[
            interaction(1, learning_pb2.OUTCOME_SUCCESS, datetime(2026, 3, 9, 13, tzinfo=UTC)),
            interaction(2, learning_pb2.OUTCOME_SUCCESS, datetime(2026, 3, 9, 14, tzinfo=UTC)),
            interaction(3, learning_pb2.OUTCOME_TIMEOUT, datetime(2026, 3, 9, 15, tzinfo=UTC)),
            interaction(4, learning_pb2.OUTCOME_SUCCESS, datetime(2026, 3, 9, 16, tzinfo=UTC)),
            interaction(5, learning_pb2.OUTCOME_SUCCESS, datetime(2026, 3, 8, 16, tzinfo=UTC)),
        ]))
    assert recorded.counts.stored + recorded.counts.spooled == 5 and not recorded.rejected
    truth = await learning_pb2_grpc.LearningServiceStub(learning.channel).GetTimeSaved(learning_pb2.GetTimeSavedRequest(
        user_id="ann", tenant="acme", since=ts(MIDNIGHT), until=ts(EVENING)))
    assert truth.request_count == 4 and truth.time_saved.ToTimedelta() > timedelta(0)

    await briefs.UpdateOwnerSettings(pb.UpdateOwnerSettingsRequest(owner_id="ann", settings=pb.OwnerSettings(
        time_zone="America/New_York", narrative_enabled=True)), metadata=ACME)
    task = (await briefs.UpsertTask(pb.UpsertTaskRequest(owner_id="ann", task=pb.Task(
        title="Send the quote", due_at=ts(datetime(2026, 3, 9, 15, tzinfo=UTC)), estimated=Duration(seconds=1800))),
        metadata=ACME)).task
    await briefs.CompleteTask(pb.CompleteTaskRequest(owner_id="ann", task_id=task.id,
                                                     completed_at=ts(datetime(2026, 3, 9, 16, tzinfo=UTC))), metadata=ACME)
    evening = pb.GenerateBriefRequest(owner_id="ann", kind=pb.BRIEF_KIND_EVENING, at=ts(EVENING))

    brief = (await briefs.GenerateBrief(evening, metadata=ACME)).brief
    assert brief.narrative_status == pb.NARRATIVE_STATUS_INCLUDED and brief.narrative.strip(), brief.narrative_status
    assert brief.text.startswith("Evening brief — Monday 9 March 2026")
    saved = brief.evening.time_saved
    assert not saved.learning_unavailable
    assert saved.from_interactions == truth.time_saved and saved.interactions == truth.request_count
    assert saved.from_tasks.ToTimedelta() == timedelta(minutes=30)
    assert saved.total.ToTimedelta() == truth.time_saved.ToTimedelta() + timedelta(minutes=30)
    morning = (await briefs.GenerateBrief(pb.GenerateBriefRequest(
        owner_id="ann", kind=pb.BRIEF_KIND_MORNING, at=ts(datetime(2026, 3, 9, 11, tzinfo=UTC))), metadata=ACME)).brief
    assert morning.narrative_status == pb.NARRATIVE_STATUS_INCLUDED and morning.narrative

    # The router goes down: the brief is still made, and says the narrative was skipped.
    await router.stop()
    brief = (await briefs.GenerateBrief(evening, metadata=ACME)).brief
    assert brief.narrative_status == pb.NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE and brief.narrative == ""
    assert brief.text.startswith("Evening brief") and brief.evening.time_saved.from_interactions == truth.time_saved

    # The learning service goes down too: time saved counts the tasks only, and says so.
    await learning.stop()
    brief = (await briefs.GenerateBrief(evening, metadata=ACME)).brief
    saved = brief.evening.time_saved
    assert saved.learning_unavailable and saved.from_interactions.ToTimedelta() == timedelta(0)
    assert saved.total.ToTimedelta() == timedelta(minutes=30) and "learning service unavailable" in brief.text
