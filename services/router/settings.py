"""The router's settings: every field is one SWITCHBOARD_ROUTER_* variable (or a
top-level key of the TOML file). The backends themselves come from the TOML
file's ``[[backends]]`` tables, read raw by `backend_tables`."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from services.router.backends.config import load_backends
from switchboard.runtime.settings import MeshSettings, SettingsError

DEFAULT_DEGRADED_TEXT = (
    "Sorry: no language model is reachable right now, so switchboard cannot answer. "
    "Please try again in a moment."
)


class RouterSettings(MeshSettings):
    # Circuit breakers (resilience4j semantics), one per backend.
    router_breaker_window_type: Literal["count", "time"] = Field(
        default="count", description="Sliding window kind: the last N calls, or the last N seconds."
    )
    router_breaker_window_size: int = Field(
        default=20, ge=1, le=10_000, description="Calls (count window) or seconds (time window)."
    )
    router_breaker_minimum_calls: int = Field(
        default=10, ge=1, le=10_000, description="Calls in the window before the breaker may trip."
    )
    router_breaker_failure_rate_threshold: float = Field(
        default=50.0, gt=0, le=100, description="Trip when the failure rate (percent) reaches this."
    )
    router_breaker_slow_call_rate_threshold: float = Field(
        default=100.0, gt=0, le=100, description="Trip when the slow-call rate (percent) reaches this."
    )
    router_breaker_slow_call_duration_s: float = Field(
        default=10.0, gt=0, le=3600, description="A call whose time to first token exceeds this is slow."
    )
    router_breaker_wait_in_open_s: float = Field(
        default=10.0, gt=0, le=3600, description="First wait in OPEN before HALF_OPEN probes."
    )
    router_breaker_max_wait_in_open_s: float = Field(
        default=120.0, gt=0, le=86_400, description="Cap of the exponentially growing open wait."
    )
    router_breaker_open_backoff_multiplier: float = Field(
        default=2.0, ge=1, le=100, description="Open wait multiplier after a failed half-open probe."
    )
    router_breaker_permitted_calls_in_half_open: int = Field(
        default=2, ge=1, le=1000, description="Probe calls allowed in HALF_OPEN."
    )
    # Peers.
    router_recommend_deadline_s: float = Field(
        default=0.025, gt=0, le=10, description="Deadline of learning's Recommend; late = static order."
    )
    router_recommend_draws: int = Field(
        default=32, ge=0, le=256,
        description="Most of learning's Thompson draws asked for at once per (tenant, user, topic, candidates) and "
                    "spent one per request; 0 = ask learning on every request.",
    )
    router_recommend_max_age_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How long kept draws are used: the most of learning's newest evidence a request can miss.",
    )
    router_cache_lookup_deadline_s: float = Field(
        default=0.05, gt=0, le=10, description="Deadline of a cache Lookup; late = carry on uncached."
    )
    router_cache_store_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Deadline of a cache Store (sent in the background)."
    )
    router_cache_ttl_s: float = Field(
        default=0, ge=0, le=30 * 86_400, description="TTL of stored answers; 0 = the cache's default."
    )
    router_monitor_retry_s: float = Field(
        default=5.0, gt=0, le=3600, description="Pause before resubscribing to the monitor's backend health."
    )
    router_monitor_heartbeat_s: float = Field(
        default=5.0, ge=0, le=3600,
        description="Heartbeat asked of the monitor's backend-health stream; its view is ignored after two "
                    "missed ones. 0 = no heartbeats (the view then holds while the stream is open).",
    )
    # Outcomes to learning.
    router_outcome_queue_size: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Outcomes kept while learning is down; oldest dropped beyond."
    )
    router_outcome_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Outcomes sent per RecordInteractions call."
    )
    router_outcome_linger_s: float = Field(
        default=0.2, ge=0, le=5,
        description="A part batch of outcomes goes to learning at most once per this many seconds (the first after "
                    "a quiet spell waits this long for company; 0: at once). One call per batch costs learning far less "
                    "CPU than one per request.",
    )
    router_outcome_retry_initial_s: float = Field(
        default=0.5, gt=0, le=600, description="First pause before resending outcomes to learning."
    )
    router_outcome_retry_max_s: float = Field(
        default=15.0, gt=0, le=3600, description="Longest pause between resends to learning."
    )
    router_outcome_send_timeout_s: float = Field(
        default=5.0, gt=0, le=600, description="Deadline of one RecordInteractions call."
    )
    router_outcome_flush_timeout_s: float = Field(
        default=3.0, ge=0, le=600, description="Time given on shutdown to send queued outcomes."
    )
    # Requests.
    router_degraded_text: str = Field(
        default=DEFAULT_DEGRADED_TEXT,
        min_length=1,
        max_length=10_000,
        description="Offline answer sent (finish DEGRADED) when every backend is out and nothing is cached.",
    )
    router_max_prompt_chars: int = Field(
        default=200_000, ge=1, le=50_000_000, description="Largest prompt (all messages, characters)."
    )
    router_max_tokens_limit: int = Field(
        default=32_768, ge=1, le=10_000_000, description="Largest max_tokens a request may ask for."
    )
    router_deadline_margin_s: float = Field(
        default=0.05, ge=0, le=10,
        description="Time kept back from the caller's deadline to send the error event before it expires.",
    )
    router_long_context_chars: int = Field(
        default=8000, ge=1, le=50_000_000, description="Classifier: conversations this long are long_context."
    )
    router_latency_window: int = Field(
        default=500, ge=1, le=100_000, description="Recent calls per backend kept for latency percentiles."
    )
    router_max_connections: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="Pooled HTTP connections to the backends (all together): one per open stream, so this "
                    "bounds the router's concurrent streams.",
    )
    router_max_keepalive_connections: int = Field(
        default=100, ge=0, le=1_000_000, description="Idle backend connections kept open for reuse."
    )
    router_pool_wait_s: float = Field(
        default=5.0, gt=0, le=600,
        description="Longest wait for a free pooled connection; then the attempt fails as local overload "
                    "(never blamed on the backend) and, if no backend can take it, the call ends RESOURCE_EXHAUSTED. "
                    "Keep it below the backends' first_token_s.",
    )
    router_probe_ollama: bool = Field(
        default=True, description="Without [[backends]], use Ollama on localhost:11434 when it answers."
    )

    @model_validator(mode="after")
    def _open_wait_cap(self) -> RouterSettings:
        if self.router_breaker_max_wait_in_open_s < self.router_breaker_wait_in_open_s:
            raise ValueError(
                "router_breaker_max_wait_in_open_s must be >= router_breaker_wait_in_open_s"
            )
        return self

    @model_validator(mode="after")
    def _backends_valid(self) -> RouterSettings:
        # Fail at start-up, naming the table and field, rather than on the first request.
        try:
            load_backends(self.backend_tables(), os.environ)
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        return self

    def backend_tables(self) -> list[dict[str, Any]]:
        """The raw ``[[backends]]`` tables of the TOML file (empty without a file)."""
        if self.config is None:
            return []
        path = Path(self.config)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"SWITCHBOARD_CONFIG={path}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"SWITCHBOARD_CONFIG={path}: {exc}") from None
        tables = data.get("backends", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise SettingsError(f"SWITCHBOARD_CONFIG={path}: 'backends' must be an array of tables ([[backends]])")
        return tables


def router_settings(settings: MeshSettings) -> RouterSettings:
    """The router's settings from whatever the runtime carries (tests and the
    supervisor may hand over plain MeshSettings)."""
    if isinstance(settings, RouterSettings):
        return settings
    return RouterSettings(**settings.model_dump())
