"""Settings of the learning service (`SWITCHBOARD_LEARNING_*`), on top of the mesh's."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from switchboard.runtime.settings import MeshSettings

DAY_S = 86_400.0
SPOOL_SPARES = 63  # replicas sharing one data directory (learning-spool, learning-spool-2, …)

# Minutes a person would spend doing the task by hand, per topic: the basis of
# "time saved". Deliberately conservative.
DEFAULT_MANUAL_EFFORT_S: dict[str, float] = {
    "code": 15 * 60.0,
    "math": 10 * 60.0,
    "creative": 15 * 60.0,
    "quick_question": 2 * 60.0,
    "long_context": 20 * 60.0,
    "general": 5 * 60.0,
}


class LearningSettings(MeshSettings):
    learning_half_life_days: float = Field(
        default=21.0, gt=0, le=3650,
        description="Half-life of the model's evidence in days (21 ≈ a 30-day relevance window).",
    )
    learning_latency_weight: float = Field(
        default=0.05, ge=0, le=10,
        description="λ: score = sampled success − λ × expected latency in seconds.",
    )
    learning_prior_pseudo_counts: float = Field(
        default=25.0, gt=0, le=10_000,
        description="Shrinkage strength (pseudo-observations) of global → topic → user estimates.",
    )
    learning_rating_weight: float = Field(
        default=10.0, ge=0, le=1000, description="How many observations one explicit rating weighs."
    )
    learning_optimism_bonus: float = Field(
        default=0.05, ge=0, le=1, description="Score bonus for a neglected backend, so it is re-tried."
    )
    learning_seed: int | None = Field(
        default=None, ge=0, description="Seed of the sampler (deterministic rankings); unset: random."
    )
    learning_rebuild_half_lives: float = Field(
        default=6.0, gt=0, le=100,
        description="At start-up the model replays interactions from the last N half-lives.",
    )
    learning_batch_max: int = Field(
        default=1000, ge=1, le=100_000, description="Most interactions accepted in one RecordInteractions call."
    )
    learning_reask_window_s: float = Field(
        default=300.0, ge=0, le=DAY_S,
        description="A user re-asking the same prompt within this many seconds counts as dissatisfaction (0 disables).",
    )
    learning_db_timeout_s: float = Field(
        default=5.0, gt=0, le=600, description="Deadline of one database write before the spool takes it."
    )
    learning_startup_db_timeout_s: float = Field(
        default=15.0, gt=0, le=3600,
        description="How long start-up waits for the database (migrations, model rebuild) before serving degraded.",
    )
    learning_replay_batch: int = Field(
        default=500, ge=1, le=100_000, description="Spooled records written to the database per transaction."
    )
    learning_replay_backoff_max_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest pause between attempts to reach the database again."
    )
    learning_spool_dir: Path | None = Field(
        default=None,
        description="Directory of the local spool, one per replica, on a volume that outlives the process "
        "(a replica locks it; start-up fails if another process holds it); default: the first free of "
        "<data_dir>/learning-spool, learning-spool-2, ….",
    )
    learning_sync_interval_s: float = Field(
        default=2.0, ge=0, le=3600,
        description="How often the model reads the rows other replicas wrote (0: never; one replica only).",
    )
    learning_sync_settle_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="How long a row id skipped by the model's tail is re-checked (a slow transaction of "
        "another replica commits it late).",
    )
    learning_recent_ids: int = Field(
        default=50_000, ge=100, le=10_000_000,
        description="Recently accepted interactions remembered (~0.35 kB each: id, time, user, topic, backend; "
        "50,000 ≈ 17 MB) to answer repeats and apply feedback without a database read, also while the "
        "database is down.",
    )
    learning_max_clock_skew_s: float = Field(
        default=DAY_S, ge=0, le=3650 * DAY_S,
        description="Largest amount by which occurred_at may lie in the future.",
    )
    learning_profile_cache_ttl_s: float = Field(
        default=300.0, ge=0, le=DAY_S,
        description="How long a computed user profile is reused while the user has no new data (0 disables).",
    )
    learning_trend_min_attempts: int = Field(
        default=20, ge=1, le=1_000_000,
        description="Fewest attempts per week for a week-over-week trend (else INSUFFICIENT_DATA).",
    )
    learning_manual_effort_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MANUAL_EFFORT_S),
        description="JSON map topic → seconds the task takes by hand (time saved); unknown topics use 'general'.",
    )

    def spool_path(self) -> Path:
        return self.learning_spool_dir or (self.data_dir / "learning-spool")

    def spool_spares(self) -> int:
        """Other directories a replica may take when the spool directory is another's:
        none when it is configured (it must be the replica's own)."""
        return 0 if self.learning_spool_dir else SPOOL_SPARES
