"""The monitor's settings (SWITCHBOARD_MONITOR_*), on top of the mesh's.

Services are watched through grpc.health.v1 Watch (instant) plus a Check every
`monitor_check_interval_s` (catches a stopped process); backends, the database,
Redis and the host are probed every `monitor_probe_interval_s`. The restart
thresholds are read by the supervisor (`switchboard up`), which acts on what
the monitor reports.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from switchboard.mesh import BY_NAME
from switchboard.runtime.settings import MeshSettings

DAY_S = 86_400.0
ALL_SERVICES = "router,learning,monitor,briefs,cache,gateway"


class MonitorSettings(MeshSettings):
    # -- services (grpc.health.v1) --------------------------------------------
    monitor_services: str = Field(
        default=ALL_SERVICES, max_length=500,
        description="Comma-separated mesh services to watch (grpc.health.v1; the gateway's /healthz).",
    )
    monitor_check_interval_s: float = Field(
        default=1.0, gt=0, le=3600,
        description="Seconds between grpc.health.v1 Checks of each service (the fallback that catches a stopped process).",
    )
    monitor_check_timeout_s: float = Field(
        default=0.75, gt=0, le=60,
        description="Deadline of one service Check; no answer in time is UNREACHABLE. At most the check interval.",
    )
    monitor_watch_backoff_initial_s: float = Field(
        default=0.1, gt=0, le=60, description="First pause before re-opening a broken Watch stream."
    )
    monitor_watch_backoff_max_s: float = Field(
        default=2.0, gt=0, le=600, description="Longest pause between Watch reconnection attempts (doubling)."
    )
    # -- backends, database, Redis, host ----------------------------------------
    monitor_probe_interval_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="Seconds between probes of backends, the database, Redis and the host.",
    )
    monitor_backend_timeout_s: float = Field(
        default=3.0, gt=0, le=120, description="Deadline of one backend probe (GET models/tags; spends no tokens)."
    )
    monitor_infra_timeout_s: float = Field(
        default=2.0, gt=0, le=120, description="Deadline of one database (SELECT 1) or Redis (PING) probe."
    )
    monitor_gpu_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Deadline of one nvidia-smi query."
    )
    # -- per-target statistics ----------------------------------------------------
    monitor_uptime_window_s: float = Field(
        default=DAY_S, gt=0, le=30 * DAY_S, description="Window of each target's uptime ratio."
    )
    monitor_baseline_samples: int = Field(
        default=100, ge=10, le=100_000, description="Successful probe latencies kept for each target's baseline."
    )
    monitor_baseline_min_samples: int = Field(
        default=20, ge=3, le=100_000, description="Samples a baseline needs before anomalies and trends are judged."
    )
    monitor_anomaly_min_excess_s: float = Field(
        default=0.05, ge=0, le=60,
        description="A latency is an anomaly only if also this much above the baseline mean (ignores jitter on tiny baselines).",
    )
    monitor_anomaly_degrade_after: int = Field(
        default=3, ge=1, le=1000,
        description="Consecutive latency anomalies (above mean + 3σ) before a target is DEGRADED; each is flagged at once.",
    )
    monitor_trend_samples: int = Field(
        default=10, ge=2, le=10_000, description="Most recent latencies compared with the older baseline for the trend."
    )
    monitor_system_degraded_percent: float = Field(
        default=95.0, gt=0, le=100, description="CPU, memory or disk use above this percentage makes the host DEGRADED."
    )
    # -- history ---------------------------------------------------------------------
    monitor_history_retention_s: float = Field(
        default=7 * DAY_S, gt=0, le=366 * DAY_S, description="Probe samples and alerts older than this are deleted."
    )
    monitor_history_min_interval_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="A target's sample is stored when its status changes, else at most once per this many seconds.",
    )
    monitor_history_flush_s: float = Field(
        default=1.0, gt=0, le=600, description="Seconds between batched writes of samples to the database."
    )
    monitor_prune_interval_s: float = Field(
        default=600.0, gt=0, le=DAY_S, description="Seconds between retention prunings."
    )
    # -- alerts ------------------------------------------------------------------------
    monitor_flap_window_s: float = Field(
        default=60.0, gt=0, le=DAY_S, description="Window in which status changes are counted for flap detection."
    )
    monitor_flap_threshold: int = Field(
        default=5, ge=2, le=1000,
        description="Status changes within the flap window that make a target flapping (one alert, then quiet until it settles).",
    )
    monitor_dedup_window_s: float = Field(
        default=300.0, ge=0, le=DAY_S,
        description="An unacknowledged alert raised again within this window is folded into it (occurrences + 1, not re-sent).",
    )
    monitor_startup_grace_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="No transition alerts this long after start (the mesh is starting); what is still bad then is alerted.",
    )
    monitor_webhook_url: str | None = Field(
        default=None, description="Slack-compatible incoming-webhook URL alerts are POSTed to (JSON with `text`)."
    )
    monitor_webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Deadline of one webhook delivery attempt."
    )
    monitor_delivery_attempts: int = Field(
        default=4, ge=1, le=50, description="Attempts per alert and sink before the delivery is given up."
    )
    monitor_delivery_backoff_s: float = Field(
        default=0.5, gt=0, le=600, description="First pause between delivery attempts (doubling, capped at 30 s)."
    )
    monitor_smtp_host: str | None = Field(default=None, description="SMTP server for alert e-mail; unset: no e-mail.")
    monitor_smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    monitor_smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    monitor_smtp_username: str | None = Field(default=None, description="SMTP login name (with the password).")
    monitor_smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    monitor_smtp_from: str = Field(
        default="switchboard-monitor@localhost", min_length=3, max_length=320, description="Sender of alert e-mail."
    )
    monitor_smtp_to: str = Field(
        default="", max_length=4000, description="Comma-separated recipients of alert e-mail (required with the host)."
    )
    monitor_smtp_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Deadline of one SMTP delivery.")
    # -- self-healing (read by the supervisor) -------------------------------------------
    monitor_restart_after_s: float = Field(
        default=3.0, gt=0, le=3600,
        description="`switchboard up` restarts a service the monitor reports NOT_SERVING or unreachable for this long.",
    )
    monitor_restart_grace_s: float = Field(
        default=15.0, ge=0, le=3600,
        description="A freshly started service is not restarted for bad health before this many seconds.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.monitor_check_timeout_s > self.monitor_check_interval_s:
            raise ValueError(
                "SWITCHBOARD_MONITOR_CHECK_TIMEOUT_S must not exceed SWITCHBOARD_MONITOR_CHECK_INTERVAL_S "
                "(a stopped service must be caught within two intervals)"
            )
        if self.monitor_watch_backoff_initial_s > self.monitor_watch_backoff_max_s:
            raise ValueError(
                "SWITCHBOARD_MONITOR_WATCH_BACKOFF_INITIAL_S must not exceed SWITCHBOARD_MONITOR_WATCH_BACKOFF_MAX_S"
            )
        if self.monitor_baseline_min_samples > self.monitor_baseline_samples:
            raise ValueError("SWITCHBOARD_MONITOR_BASELINE_MIN_SAMPLES must not exceed SWITCHBOARD_MONITOR_BASELINE_SAMPLES")
        unknown = [name for name in self.watched_services() if name not in BY_NAME]
        if unknown:
            raise ValueError(f"SWITCHBOARD_MONITOR_SERVICES: unknown service(s) {', '.join(unknown)}")
        if self.monitor_webhook_url and not self.monitor_webhook_url.startswith(("http://", "https://")):
            raise ValueError("SWITCHBOARD_MONITOR_WEBHOOK_URL must be an http(s) URL")
        if self.monitor_smtp_host and not self.smtp_recipients():
            raise ValueError("SWITCHBOARD_MONITOR_SMTP_TO is required when SWITCHBOARD_MONITOR_SMTP_HOST is set")
        return self

    def watched_services(self) -> list[str]:
        return [name.strip() for name in self.monitor_services.split(",") if name.strip()]

    def smtp_recipients(self) -> list[str]:
        return [addr.strip() for addr in self.monitor_smtp_to.split(",") if addr.strip()]


def monitor_settings(settings: MeshSettings) -> MonitorSettings:
    """The runtime's settings as MonitorSettings (tests may hand plain MeshSettings)."""
    if isinstance(settings, MonitorSettings):
        return settings
    return MonitorSettings(**settings.model_dump())
