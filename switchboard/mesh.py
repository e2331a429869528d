"""The six services of the mesh: one catalogue for the CLI, the supervisor and tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    name: str  # CLI and settings name: `switchboard serve <name>`, SWITCHBOARD_<NAME>_PORT
    module: str  # the package started by `python -m <module>`
    grpc_service: str | None  # full gRPC service name; None for the HTTP gateway

    @property
    def is_grpc(self) -> bool:
        return self.grpc_service is not None


# Start order for `switchboard up`: dependencies first (all start concurrently;
# the order only makes logs read naturally).
SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("cache", "services.cache", "switchboard.cache.v1.CacheService"),
    ServiceEntry("learning", "services.learning", "switchboard.learning.v1.LearningService"),
    ServiceEntry("router", "services.router", "switchboard.router.v1.RouterService"),
    ServiceEntry("monitor", "services.health", "switchboard.monitor.v1.MonitorService"),
    ServiceEntry("briefs", "services.briefs", "switchboard.briefs.v1.BriefService"),
    ServiceEntry("gateway", "services.gateway", None),
)

BY_NAME: dict[str, ServiceEntry] = {s.name: s for s in SERVICES}
