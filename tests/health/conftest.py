"""Fixtures of the monitor suite: a webhook receiver and a real monitor server
(in-process on a free port) with test-friendly settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider

from monitor_support import StartMonitor, WebhookReceiver
from services.health.app import MonitorApp
from services.health.backend_probe import BackendTarget
from services.health.settings import MonitorSettings
from switchboard.runtime.clock import Clock, SystemClock
from switchboard.runtime.server import Runtime
from switchboard.testing.services import RunningService, start_service


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.stop()


def fast_settings(tmp_path: Path, **overrides: Any) -> MonitorSettings:
    """Embedded settings with quick intervals; nothing watched unless asked."""
    fields: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": None,
        "redis_url": None,
        "log_format": "text",
        "shutdown_grace_s": 2.0,
        "monitor_services": "",
        "monitor_check_interval_s": 0.25,
        "monitor_check_timeout_s": 0.2,
        "monitor_probe_interval_s": 0.25,
        "monitor_backend_timeout_s": 1.0,
        "monitor_startup_grace_s": 0.0,
        "monitor_history_min_interval_s": 0.0,
        "monitor_history_flush_s": 0.1,
        "monitor_delivery_backoff_s": 0.05,
    }
    fields.update(overrides)
    return MonitorSettings(**fields)




@pytest.fixture
async def start_monitor(tmp_path: Path) -> AsyncIterator[StartMonitor]:
    """start_monitor(backends=(), clock=None, meter_provider=None, **settings): a real monitor server."""
    started: list[RunningService] = []

    async def _start(
        backends: Sequence[BackendTarget] = (),
        clock: Clock | None = None,
        meter_provider: MeterProvider | None = None,
        **overrides: Any,
    ) -> tuple[RunningService, MonitorApp]:
        runtime = Runtime(fast_settings(tmp_path, **overrides), clock=clock or SystemClock(), meter_provider=meter_provider)
        app = MonitorApp(runtime, env={}, backends=backends)
        running = await start_service("monitor", runtime, app)
        started.append(running)
        return running, app

    yield _start
    for running in reversed(started):
        await running.stop()
