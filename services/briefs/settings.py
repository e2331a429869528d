"""Settings of the briefs service (`SWITCHBOARD_BRIEFS_*`), on top of the mesh's."""

from __future__ import annotations

from pydantic import Field, SecretStr

from switchboard.runtime.settings import MeshSettings


class BriefsSettings(MeshSettings):
    """Scheduling, delivery, peer deadlines and ranking knobs of the briefs service."""

    briefs_scheduler_enabled: bool = Field(
        default=True, description="Run the background scheduler that stores and delivers briefs."
    )
    briefs_scheduler_tick_s: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds between two scheduler passes."
    )
    briefs_catchup_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 14,
        description="A brief missed while the service was down is still generated if its time "
        "is at most this many hours ago.",
    )
    briefs_narrative_timeout_s: float = Field(
        default=8.0, gt=0, le=120, description="Deadline of the router call writing a brief's narrative."
    )
    briefs_narrative_max_tokens: int = Field(
        default=200, ge=16, le=4096, description="Upper bound on the narrative's length in tokens."
    )
    briefs_time_saved_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Deadline of the learning service's GetTimeSaved call."
    )
    briefs_delivery_max_attempts: int = Field(
        default=5, ge=1, le=50, description="Attempts per sink before a delivery is FAILED."
    )
    briefs_delivery_backoff_s: float = Field(
        default=2.0, gt=0, le=3600, description="First retry delay; doubles per attempt."
    )
    briefs_delivery_backoff_max_s: float = Field(
        default=300.0, gt=0, le=86400, description="Longest delay between two delivery attempts."
    )
    briefs_delivery_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Deadline of one webhook POST or SMTP exchange."
    )
    briefs_delivery_stall_s: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="A PENDING/RETRYING delivery overdue by this long (its process died) is "
        "resumed by any replica's scheduler.",
    )
    briefs_smtp_host: str = Field(
        default="", description="SMTP server for email sinks; empty: email deliveries fail."
    )
    briefs_smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    briefs_smtp_from: str = Field(
        default="switchboard@localhost", min_length=3, description="From: address of brief emails."
    )
    briefs_smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    briefs_smtp_username: str = Field(default="", description="SMTP login user; empty: no login.")
    briefs_smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP login password.")
    briefs_outreach_half_life_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="Half-life of an outreach outcome's weight in the response/advance rates.",
    )
    briefs_idempotency_ttl_h: float = Field(
        default=48.0, ge=24, le=24 * 90, description="Hours an idempotency key is remembered (>= 24)."
    )
    briefs_watch_poll_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often WatchBriefs looks for briefs stored by other replicas.",
    )
    briefs_watch_slack_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="WatchBriefs re-reads this far behind its newest generated_at (clock skew "
        "between replicas, slow commits), deduplicating by id.",
    )
