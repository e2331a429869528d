"""Fixtures of the briefs tests: settings on a fresh PostgreSQL database, a
store with migrations applied, and a ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.briefs.app import MIGRATIONS, VERSION_TABLE
from services.briefs.delivery import Deliverer, SmtpSender, WebhookSender
from services.briefs.generate import BriefMaker
from services.briefs.narrative import RouterNarrator
from services.briefs.scheduler import BriefScheduler
from services.briefs.settings import BriefsSettings
from services.briefs.store import BriefStore
from services.briefs.timesaved import LearningTimeSaved
from services.briefs.watch import BriefFeed
from switchboard.db import create_engine_for, run_migrations
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.clock import ManualClock
from switchboard.testing.infra import free_port


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (a peer that is down)."""
    return free_port()


@pytest.fixture
def briefs_settings(database_url: str, tmp_path: Path, closed_port: int) -> BriefsSettings:
    """Postgres storage; router and learning on a closed port (down) unless a test says otherwise."""
    return BriefsSettings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        log_format="text",
        shutdown_grace_s=1.0,
        router_address=f"127.0.0.1:{closed_port}",
        learning_address=f"127.0.0.1:{closed_port}",
        briefs_narrative_timeout_s=2.0,
        briefs_time_saved_timeout_s=2.0,
        briefs_watch_poll_s=0.2,
    )


@pytest.fixture
def make_scheduler(
    store: BriefStore, clock: ManualClock
) -> Callable[..., BriefScheduler]:
    """make_scheduler(channels, http, smtp_port=None): a scheduler wired like the
    app's (real peer clients, real senders), retrying after 10 s, 20 s, ..."""

    def build(channels: PeerChannels, http: httpx.AsyncClient, smtp_port: int | None = None) -> BriefScheduler:
        maker = BriefMaker(
            store, clock, LearningTimeSaved(channels, 1.0), RouterNarrator(channels, 1.0, 100), half_life_days=30
        )
        deliverer = Deliverer(
            store,
            clock,
            webhook=WebhookSender(http, 5.0),
            email=SmtpSender(
                host="127.0.0.1" if smtp_port else "", port=smtp_port or 25, sender="briefs@example.com", timeout_s=5.0
            ),
            max_attempts=3,
            backoff_s=10.0,
            backoff_max_s=60.0,
        )
        return BriefScheduler(
            store, maker, deliverer, clock, BriefFeed(), tick_s=60, catchup=timedelta(hours=24),
            delivery_stall=timedelta(minutes=10), idempotency_ttl=timedelta(hours=48),
        )

    return build


@pytest.fixture
async def store(database_url: str, clock: ManualClock) -> AsyncIterator[BriefStore]:
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, VERSION_TABLE)
    engine = create_engine_for(database_url, pool_size=2)
    yield BriefStore(engine, clock)
    await engine.dispose()
