"""Wires the briefs service together (its composition root): storage and
migrations, the peers (learning for time saved, the router for narratives),
delivery senders, the scheduler and the servicer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import grpc
import httpx

from services.briefs.delivery import Deliverer, SmtpSender, WebhookSender
from services.briefs.generate import BriefMaker
from services.briefs.narrative import RouterNarrator
from services.briefs.scheduler import BriefScheduler
from services.briefs.service import BriefServiceServicer
from services.briefs.settings import BriefsSettings
from services.briefs.store import BriefStore
from services.briefs.timesaved import LearningTimeSaved
from services.briefs.watch import BriefFeed
from switchboard.briefs.v1 import briefs_pb2, briefs_pb2_grpc
from switchboard.db import create_engine_for, run_migrations
from switchboard.runtime.server import Runtime

SETTINGS = BriefsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_briefs"


class BriefsApp:
    """The ServiceApp of the briefs service."""

    service_names = [briefs_pb2.DESCRIPTOR.services_by_name["BriefService"].full_name]

    def __init__(self, runtime: Runtime, settings: BriefsSettings) -> None:
        assert runtime.channels is not None
        self.settings = settings
        self._url = settings.sqlalchemy_url()
        self.engine = create_engine_for(self._url)
        self.store = BriefStore(self.engine, runtime.clock)
        self.feed = BriefFeed()
        self.maker = BriefMaker(
            self.store,
            runtime.clock,
            LearningTimeSaved(runtime.channels, settings.briefs_time_saved_timeout_s),
            RouterNarrator(runtime.channels, settings.briefs_narrative_timeout_s, settings.briefs_narrative_max_tokens),
            half_life_days=settings.briefs_outreach_half_life_days,
        )
        self.http = httpx.AsyncClient(follow_redirects=False)
        self.deliverer = Deliverer(
            self.store,
            runtime.clock,
            webhook=WebhookSender(self.http, settings.briefs_delivery_timeout_s),
            email=SmtpSender(
                host=settings.briefs_smtp_host,
                port=settings.briefs_smtp_port,
                sender=settings.briefs_smtp_from,
                timeout_s=settings.briefs_delivery_timeout_s,
                starttls=settings.briefs_smtp_starttls,
                username=settings.briefs_smtp_username,
                password=settings.briefs_smtp_password.get_secret_value(),
            ),
            max_attempts=settings.briefs_delivery_max_attempts,
            backoff_s=settings.briefs_delivery_backoff_s,
            backoff_max_s=settings.briefs_delivery_backoff_max_s,
        )
        self.scheduler = BriefScheduler(
            self.store,
            self.maker,
            self.deliverer,
            runtime.clock,
            self.feed,
            tick_s=settings.briefs_scheduler_tick_s,
            catchup=timedelta(hours=settings.briefs_catchup_hours),
            delivery_stall=timedelta(seconds=settings.briefs_delivery_stall_s),
            idempotency_ttl=timedelta(hours=settings.briefs_idempotency_ttl_h),
        )
        self.servicer = BriefServiceServicer(
            self.store, self.maker, self.feed, runtime.clock, settings, runtime.stopping
        )

    def add_to_server(self, server: grpc.aio.Server) -> None:
        briefs_pb2_grpc.add_BriefServiceServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        await asyncio.to_thread(run_migrations, self._url, MIGRATIONS, VERSION_TABLE)
        if self.settings.briefs_scheduler_enabled:
            self.scheduler.start()  # its first pass is the start-up catch-up

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.http.aclose()
        await self.engine.dispose()


def create(runtime: Runtime) -> BriefsApp:
    settings = runtime.settings
    if not isinstance(settings, BriefsSettings):
        # A plain MeshSettings (e.g. from a test harness): add this service's defaults.
        settings = BriefsSettings(**settings.model_dump())
    return BriefsApp(runtime, settings)
