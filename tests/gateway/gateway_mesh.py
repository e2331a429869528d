"""The whole mesh for the gateway suite (the `full_mesh` fixture in conftest.py):
every service real (learning, briefs and the monitor on their embedded SQLite,
the cache in memory, the router with its deterministic mock backend), each
in-process on a free port, and the gateway in front of them. Briefs runs on a
ManualClock so a test can make its scheduler store a brief."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.briefs.settings import BriefsSettings
from services.cache.settings import CacheSettings
from services.gateway.settings import GatewaySettings
from services.health.app import MonitorApp
from services.health.settings import MonitorSettings
from services.learning.settings import LearningSettings
from services.router.settings import RouterSettings
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import Runtime
from switchboard.testing.services import RunningService, start_service

# 06:00 in New York on a Monday: an hour before the default morning brief.
BRIEFS_START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@dataclass
class Mesh:
    router: RunningService
    cache: RunningService
    learning: RunningService
    briefs: RunningService
    monitor: RunningService
    gateway: RunningService
    briefs_clock: ManualClock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def http(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, **{"timeout": 15, **options})


def _common(tmp_path: Path, name: str) -> dict[str, Any]:
    # Each service its own data directory (its own SQLite file), as separate processes would have.
    return {"data_dir": tmp_path / name, "database_url": None, "redis_url": None, "log_format": "text",
            "shutdown_grace_s": 1.0}


@contextlib.asynccontextmanager
async def start_mesh(serve: Any, tmp_path: Path) -> AsyncIterator[Mesh]:
    """Starts the mesh with `serve` (which stops what it started); the monitor,
    started here directly, is stopped on exit."""
    config = tmp_path / "switchboard.toml"
    config.write_text('[[backends]]\nname = "mock-a"\nkind = "mock"\n')
    cache = await serve("cache", settings=CacheSettings(**_common(tmp_path, "cache")))
    learning = await serve("learning", settings=LearningSettings(**_common(tmp_path, "learning")))
    # Started before the router (which watches backend health on it), so it watches what is up by then.
    monitor_runtime = Runtime(MonitorSettings(
        **_common(tmp_path, "monitor"), monitor_services="cache,learning", cache_address=cache.address,
        learning_address=learning.address, monitor_check_interval_s=0.5, monitor_check_timeout_s=0.4,
        monitor_probe_interval_s=5.0, monitor_startup_grace_s=0.0,
    ))
    monitor = await start_service("monitor", monitor_runtime, MonitorApp(monitor_runtime, env={}, backends=[]))
    try:
        router = await serve("router", settings=RouterSettings(
            **_common(tmp_path, "router"), config=config, learning_address=learning.address,
            cache_address=cache.address, monitor_address=monitor.address, router_probe_ollama=False,
            router_outcome_flush_timeout_s=0.5))
        briefs_clock = ManualClock(BRIEFS_START)
        briefs = await serve("briefs", clock=briefs_clock, settings=BriefsSettings(
            **_common(tmp_path, "briefs"), router_address=router.address, learning_address=learning.address,
            briefs_scheduler_tick_s=3600, briefs_watch_poll_s=0.1))
        gateway = await serve("gateway", settings=GatewaySettings(
            **_common(tmp_path, "gateway"), router_address=router.address, cache_address=cache.address,
            learning_address=learning.address, monitor_address=monitor.address, briefs_address=briefs.address,
            gateway_request_timeout_s=10, gateway_stream_timeout_s=20))
        yield Mesh(router, cache, learning, briefs, monitor, gateway, briefs_clock)
    finally:
        await monitor.stop()
