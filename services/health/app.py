"""Wires the monitor together (its composition root).

Targets: every service named in SWITCHBOARD_MONITOR_SERVICES (grpc.health.v1
Watch + Check; the gateway by /healthz), every backend of the router's
configuration, the SQL database, Redis (when configured) and the host.
History and alerts go to the shared SQL database (Alembic env in
services/health/migrations, version table alembic_version_monitor).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import grpc
import httpx

from services.health.alerts import AlertManager, AlertPolicy, EmailSink, LogSink, Sink, SmtpConfig, WebhookSink
from services.health.backend_probe import BackendProber, BackendTarget, backend_tables, discover_backends
from services.health.history import HistoryStore
from services.health.infra_probe import NO_REDIS, DatabaseProbe, RedisProbe
from services.health.model import Kind, ProbeResult, target_id
from services.health.monitor import Monitor, Report, Runner, Timing
from services.health.service import MonitorServiceServicer
from services.health.service_watch import HttpHealthWatcher, ServiceWatcher
from services.health.settings import MonitorSettings, monitor_settings
from services.health.system import MeshProcess, ProcessFinder, SystemSampler
from services.health.targets import Board, StatsConfig
from services.router.backends.config import load_backends
from switchboard.db import create_engine_for
from switchboard.mesh import BY_NAME
from switchboard.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from switchboard.runtime.channels import channel_options
from switchboard.runtime.lifeline import SUPERVISOR_PID_ENV
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import SettingsError

SETTINGS = MonitorSettings

log = logging.getLogger("switchboard.monitor")


def build_sinks(settings: MonitorSettings, client: httpx.AsyncClient) -> list[Sink]:
    sinks: list[Sink] = [LogSink()]
    if settings.monitor_webhook_url:
        sinks.append(WebhookSink(settings.monitor_webhook_url, client, timeout_s=settings.monitor_webhook_timeout_s))
    if settings.monitor_smtp_host:
        password = settings.monitor_smtp_password.get_secret_value() if settings.monitor_smtp_password else None
        sinks.append(EmailSink(SmtpConfig(
            host=settings.monitor_smtp_host,
            port=settings.monitor_smtp_port,
            sender=settings.monitor_smtp_from,
            recipients=tuple(settings.smtp_recipients()),
            starttls=settings.monitor_smtp_starttls,
            username=settings.monitor_smtp_username,
            password=password,
            timeout_s=settings.monitor_smtp_timeout_s,
        )))
    return sinks


class MonitorApp:
    """The monitor as the bootstrap sees it. Backends are resolved in `start()`
    (the defaults need a look for Ollama); a bad backend file fails here."""

    service_names = [monitor_pb2.DESCRIPTOR.services_by_name["MonitorService"].full_name]

    def __init__(
        self,
        runtime: Runtime,
        *,
        env: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        backends: Sequence[BackendTarget] | None = None,
        nvidia_smi: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = s = monitor_settings(runtime.settings)
        self.clock = runtime.clock
        self.env = dict(os.environ if env is None else env)
        self._backends = list(backends) if backends is not None else None
        if self._backends is None:
            try:  # validate now, as the router does, so a bad file fails at start-up
                load_backends(backend_tables(s.config), self.env)
            except (ValueError, OSError) as exc:
                raise SettingsError(f"SWITCHBOARD_CONFIG={s.config}: {exc}") from None
        self.http = http_client or httpx.AsyncClient(follow_redirects=False)
        self._own_http = http_client is None
        self.board = Board(self.clock, StatsConfig(
            uptime_window_s=s.monitor_uptime_window_s,
            baseline_samples=s.monitor_baseline_samples,
            baseline_min_samples=s.monitor_baseline_min_samples,
            anomaly_min_excess_s=s.monitor_anomaly_min_excess_s,
            trend_samples=s.monitor_trend_samples,
            anomaly_degrade_after=s.monitor_anomaly_degrade_after,
        ))
        url = s.sqlalchemy_url()
        self.store = HistoryStore(create_engine_for(url, pool_size=2), url)
        self.alerts = AlertManager(build_sinks(s, self.http), self.store, self.clock, AlertPolicy(
            flap_window_s=s.monitor_flap_window_s,
            flap_threshold=s.monitor_flap_threshold,
            dedup_window_s=s.monitor_dedup_window_s,
            startup_grace_s=s.monitor_startup_grace_s,
            delivery_attempts=s.monitor_delivery_attempts,
            delivery_backoff_s=s.monitor_delivery_backoff_s,
        ), metrics=runtime.metrics)
        self.monitor = Monitor(self.clock, self.board, self.alerts, self.store, Timing(
            check_interval_s=s.monitor_check_interval_s,
            probe_interval_s=s.monitor_probe_interval_s,
            history_min_interval_s=s.monitor_history_min_interval_s,
            history_flush_s=s.monitor_history_flush_s,
            history_retention_s=s.monitor_history_retention_s,
            prune_interval_s=s.monitor_prune_interval_s,
        ), metrics=runtime.metrics)
        self.servicer = MonitorServiceServicer(
            self.monitor, runtime.stopping,
            backend_stale_after_s=2 * s.monitor_probe_interval_s + s.monitor_backend_timeout_s,
        )
        self._nvidia_smi = nvidia_smi
        self._closers: list[DatabaseProbe | RedisProbe] = []
        self.watchers: dict[str, ServiceWatcher | HttpHealthWatcher] = {}

    def add_to_server(self, server: grpc.aio.Server) -> None:
        monitor_pb2_grpc.add_MonitorServiceServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        s = self.settings
        self._add_services()
        backends = self._backends
        if backends is None:
            backends = await discover_backends(s.config, self.env, self.http)
        for target in backends:
            prober = BackendProber(target, self.http, self.clock, timeout_s=s.monitor_backend_timeout_s)
            self.monitor.add_probe(target_id(Kind.BACKEND, target.name), Kind.BACKEND, target.endpoint, prober.probe)
        database = DatabaseProbe(s.sqlalchemy_url(), self.clock, timeout_s=s.monitor_infra_timeout_s)
        self._closers.append(database)
        self.monitor.add_probe("database", Kind.DATABASE, database.endpoint, database.probe)
        if s.redis_url:
            redis = RedisProbe(s.redis_url, self.clock, timeout_s=s.monitor_infra_timeout_s)
            self._closers.append(redis)
            self.monitor.add_probe("redis", Kind.CACHE_STORE, redis.endpoint, redis.probe)
        else:
            async def no_redis() -> ProbeResult:
                return NO_REDIS

            self.monitor.add_probe("redis", Kind.CACHE_STORE, "", no_redis)
        self.monitor.add_probe("system", Kind.SYSTEM, "", self._system_probe())
        self.monitor.start()
        log.info("monitoring", extra={"targets": [t.target for t in self.board.targets()]})

    def _add_services(self) -> None:
        s = self.settings
        options = channel_options(s, round_robin=False)
        for name in s.watched_services():
            entry = BY_NAME[name]
            address = s.address_of(name)
            watcher: ServiceWatcher | HttpHealthWatcher
            if entry.grpc_service is not None:
                watcher = ServiceWatcher(
                    address, entry.grpc_service, self.monitor.reporter(f"service:{name}"), self.clock,
                    check_interval_s=s.monitor_check_interval_s,
                    check_timeout_s=s.monitor_check_timeout_s,
                    backoff_initial_s=s.monitor_watch_backoff_initial_s,
                    backoff_max_s=s.monitor_watch_backoff_max_s,
                    channel_options=options,
                    settings=s,
                )
            else:
                watcher = HttpHealthWatcher(
                    address, self.monitor.reporter(f"service:{name}"), self.clock, self.http,
                    check_interval_s=s.monitor_check_interval_s, check_timeout_s=s.monitor_check_timeout_s,
                )
            self.watchers[name] = watcher
            self.monitor.add_runner(f"service:{name}", Kind.SERVICE, address, _runner(watcher))

    def _system_probe(self) -> Callable[[], Awaitable[ProbeResult]]:
        s = self.settings
        supervisor = self.env.get(SUPERVISOR_PID_ENV)
        finder = ProcessFinder(
            [MeshProcess(name, BY_NAME[name].module, _port(s.address_of(name))) for name in s.watched_services()],
            int(supervisor) if supervisor and supervisor.isdigit() else None,
        )
        sampler = SystemSampler(
            Path(s.data_dir), self.clock, finder, self.monitor.restarts_of,
            degraded_percent=s.monitor_system_degraded_percent,
            gpu_timeout_s=s.monitor_gpu_timeout_s,
            nvidia_smi=self._nvidia_smi,
        )

        async def probe() -> ProbeResult:
            view, result = await sampler.sample()
            self.monitor.system = view
            return result

        return probe

    async def stop(self) -> None:
        await self.monitor.stop()
        await self.alerts.drain(timeout_s=1.0)
        await self.monitor.flush_quietly()
        for closer in self._closers:
            await closer.close()
        await self.store.close()
        if self._own_http:
            await self.http.aclose()


def _runner(watcher: ServiceWatcher | HttpHealthWatcher) -> Runner:
    """A watcher as a monitor runner (it already reports to its target)."""

    async def run(_report: Report, stopping: asyncio.Event) -> None:
        await watcher.run(stopping)

    return run


def _port(address: str) -> int:
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else 0


def create(runtime: Runtime) -> MonitorApp:
    return MonitorApp(runtime)
