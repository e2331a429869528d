"""Wires the learning service together (its composition root).

Start-up, before SERVING: open the spool (locking it, recovering what a crashed
process left), run the migrations (in a thread), replay the spool, then rebuild
the in-memory model from the stored history. If the database does not answer
within `learning_startup_db_timeout_s`, the service serves degraded instead:
writes are spooled, Recommend and reads answer UNAVAILABLE, and a background
task keeps trying (with back-off) until the database is back.

Then two background tasks: the spool replayer, and the model sync, which feeds
the rows other replicas write into this one's model (each process is a replica
with its own `origin` id, stamped on the rows it writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path

import grpc
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential, wait_random

from services.learning.feedback import HeldFeedback, ReaskDetector
from services.learning.ingest import Ingestor, RecentInteractions
from services.learning.insights import Insights
from services.learning.model import ModelConfig
from services.learning.modelstate import ModelKeeper
from services.learning.profiles import Profiles
from services.learning.service import LearningServiceServicer, Limits
from services.learning.settings import DAY_S, LearningSettings
from services.learning.spool import ChunkHook, DatabaseState, Replayer, ReplayOutcome, Spool, SpoolEntry
from services.learning.store import Store
from services.learning.sync import ModelSync
from switchboard.db import create_engine_for, run_migrations
from switchboard.learning.v1 import learning_pb2, learning_pb2_grpc
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import MeshSettings

SETTINGS = LearningSettings

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_learning"

log = logging.getLogger("switchboard.learning")


def learning_settings(settings: MeshSettings) -> LearningSettings:
    """The runtime's settings as LearningSettings (tests may hand in plain MeshSettings)."""
    if isinstance(settings, LearningSettings):
        return settings
    return LearningSettings(**settings.model_dump(exclude_unset=True))


def model_config(settings: LearningSettings) -> ModelConfig:
    return ModelConfig(
        half_life_s=settings.learning_half_life_days * DAY_S,
        latency_weight=settings.learning_latency_weight,
        prior_pseudo_counts=settings.learning_prior_pseudo_counts,
        rating_weight=settings.learning_rating_weight,
        optimism_bonus=settings.learning_optimism_bonus,
    )


class LearningApp:
    """The ServiceApp: builds every collaborator once, starts and stops them."""

    service_names = [learning_pb2.DESCRIPTOR.services_by_name["LearningService"].full_name]

    def __init__(self, runtime: Runtime, *, replay_after_chunk: ChunkHook | None = None) -> None:
        settings = learning_settings(runtime.settings)
        self.settings = settings
        self._runtime = runtime
        clock = runtime.clock
        self._url = settings.sqlalchemy_url()
        self.origin = uuid.uuid4().hex  # this replica (process), on every row it writes
        self.engine = create_engine_for(self._url)
        self.store = Store(self.engine, self.origin)
        self.spool = Spool(settings.spool_path(), spares=settings.spool_spares())
        self.state = DatabaseState()
        config = model_config(settings)
        self.keeper = ModelKeeper(config, clock, seed=settings.learning_seed)
        self.bootstrapped = asyncio.Event()  # migrations ran and the model was rebuilt
        self._tasks: list[asyncio.Task[None]] = []
        self.replayer = Replayer(
            self.spool, self.store, self.state, clock,
            batch=settings.learning_replay_batch,
            backoff_max_s=settings.learning_replay_backoff_max_s,
            on_replayed=self._on_replayed,
            after_chunk=replay_after_chunk or _nothing,
        )
        self.ingestor = Ingestor(
            store=self.store, spool=self.spool, state=self.state, replayer=self.replayer,
            keeper=self.keeper, clock=clock,
            reask=ReaskDetector(settings.learning_reask_window_s),
            held=HeldFeedback(),
            recent=RecentInteractions(settings.learning_recent_ids),
            db_timeout_s=settings.learning_db_timeout_s,
        )
        self.sync = ModelSync(
            store=self.store, ingestor=self.ingestor, keeper=self.keeper, replayer=self.replayer, clock=clock,
            origin=self.origin,
            horizon_s=config.half_life_s * settings.learning_rebuild_half_lives,
            reask_window_s=settings.learning_reask_window_s,
            interval_s=settings.learning_sync_interval_s,
            settle_s=settings.learning_sync_settle_s,
        )
        self.profiles = Profiles(
            self.store, clock, half_life_s=config.half_life_s, cache_ttl_s=settings.learning_profile_cache_ttl_s
        )
        self.insights = Insights(
            self.store, clock, half_life_s=config.half_life_s,
            manual_effort_s=settings.learning_manual_effort_s,
            trend_min_attempts=settings.learning_trend_min_attempts,
        )
        self.servicer = LearningServiceServicer(
            ingestor=self.ingestor, keeper=self.keeper, profiles=self.profiles, insights=self.insights,
            clock=clock,
            limits=Limits(batch_max=settings.learning_batch_max, max_skew_s=settings.learning_max_clock_skew_s),
            stopping=runtime.stopping,
            storage_ready=self.bootstrapped.is_set,
        )

    async def _on_replayed(self, entries: list[SpoolEntry], outcome: ReplayOutcome) -> None:
        await self.ingestor.on_replayed(entries, outcome)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        learning_pb2_grpc.add_LearningServiceServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        recovered = await asyncio.to_thread(self.spool.open)  # SpoolLocked: another process has it
        log.info(
            "spool open",
            extra={"directory": str(self.spool.directory), "entries": len(recovered), "origin": self.origin},
        )
        try:
            async with asyncio.timeout(self.settings.learning_startup_db_timeout_s):
                await self._bootstrap()
        except Exception as exc:  # noqa: BLE001  (any failure here means: serve degraded, keep trying)
            log.warning("database not ready at start-up; serving degraded", extra={"error": str(exc)[:300]})
            self._tasks.append(asyncio.create_task(self._bootstrap_in_background(), name="learning-bootstrap"))
        else:
            self._start_background()

    async def _bootstrap(self) -> None:
        await asyncio.to_thread(run_migrations, self._url, MIGRATIONS, VERSION_TABLE)
        await self.replayer.drain()  # what an earlier process spooled; marks the database up
        events = await self.sync.rebuild()
        self.bootstrapped.set()
        log.info("learning ready", extra={"events_replayed": events, "spooled": len(self.spool)})

    async def _bootstrap_in_background(self) -> None:
        stopping = self._runtime.stopping
        async for attempt in AsyncRetrying(
            sleep=self._runtime.clock.sleep,
            wait=wait_exponential(multiplier=0.5, max=self.settings.learning_replay_backoff_max_s) + wait_random(0, 0.5),
            retry=retry_if_exception_type(Exception),
        ):
            with attempt:
                if stopping.is_set():
                    return
                await self._bootstrap()
        self._start_background()

    def _start_background(self) -> None:
        stopping = self._runtime.stopping
        self._tasks.append(asyncio.create_task(self.replayer.run(stopping), name="learning-spool-replay"))
        self._tasks.append(asyncio.create_task(self.sync.run(stopping), name="learning-model-sync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.spool.close()
        await self.engine.dispose()


async def _nothing(_entries: int) -> None:
    return None


def create(runtime: Runtime) -> LearningApp:
    return LearningApp(runtime)
