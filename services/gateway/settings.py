"""Gateway settings (SWITCHBOARD_GATEWAY_*), plus the mesh-wide API-key settings
(SWITCHBOARD_API_KEYS, SWITCHBOARD_API_KEYS_FILE) mixed in from
switchboard/runtime/auth.py, which the gRPC services read the same way."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from switchboard.runtime.auth import ApiKeySettings
from switchboard.runtime.settings import MeshSettings


class GatewaySettings(MeshSettings, ApiKeySettings):
    gateway_request_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Deadline of a unary REST call through the gateway."
    )
    gateway_stream_timeout_s: float = Field(
        default=600.0, gt=0, le=86400, description="Deadline of a streamed (SSE) call through the gateway."
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body accepted (413 above)."
    )
    gateway_rate_limit_per_s: float = Field(
        default=0.0, ge=0, le=1_000_000,
        description="Requests per second each API key (or client address when auth is off) may make; 0: no limit.",
    )
    gateway_rate_limit_burst: int = Field(
        default=20, ge=1, le=1_000_000, description="Requests a key may make at once before the rate applies."
    )
    gateway_rate_limit_max_clients: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Rate-limit buckets kept in memory (least recent dropped)."
    )
    gateway_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Origins allowed by CORS, comma-separated ("*" for any); empty: CORS off.',
    )
    gateway_models_cache_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="How long the backend list (for /v1/models and model → backend pinning) is reused.",
    )

    gateway_adaptive_limit: bool = Field(
        default=False,
        description="Learn a limit on chat completions in flight from their queueing delay and refuse the excess "
                    "with 503 + Retry-After while overloaded, so admitted requests stay fast (off: admit all).",
    )
    gateway_adaptive_limit_target_s: float = Field(
        default=0.1, gt=0, le=10,
        description="Queueing delay (time outside the router's handler) above which the adaptive limit is cut.",
    )
    gateway_adaptive_limit_min: int = Field(
        default=8, ge=1, le=1_000_000, description="The adaptive limit never goes below this many requests in flight."
    )
    gateway_adaptive_limit_max: int = Field(
        default=1000, ge=1, le=1_000_000, description="The adaptive limit's starting and highest value."
    )

    @model_validator(mode="after")
    def _limit_bounds(self) -> GatewaySettings:
        if self.gateway_adaptive_limit_min > self.gateway_adaptive_limit_max:
            raise ValueError("gateway_adaptive_limit_min must not exceed gateway_adaptive_limit_max")
        return self

    @field_validator("gateway_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
