"""Gateway settings (SWITCHBOARD_GATEWAY_*)."""

from __future__ import annotations

from pydantic import Field

from switchboard.runtime.settings import MeshSettings


class GatewaySettings(MeshSettings):
    gateway_request_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Deadline of a unary REST call through the gateway."
    )
    gateway_stream_timeout_s: float = Field(
        default=600.0, gt=0, le=86400, description="Deadline of a streamed (SSE) call through the gateway."
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body accepted (413 above)."
    )
