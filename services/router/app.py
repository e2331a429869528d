"""Wires the router service together (its composition root)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence

import grpc

from services.router.backends import (
    BackendClient,
    BackendConfig,
    build_backend,
    default_backends,
    load_backends,
    make_http_client,
    ollama_probe,
)
from services.router.breaker import BreakerConfig, CircuitBreaker, WindowType
from services.router.chain import Chain, ChainOptions, Lane, Recommender
from services.router.draws import DrawPool
from services.router.observe import RouterTelemetry
from services.router.outcomes import OutcomeQueue
from services.router.peers import BackendHealthView, CacheClient, LearningClient
from services.router.service import RouterServiceServicer
from services.router.settings import RouterSettings, router_settings
from services.router.stats import RouterStats
from services.router.topics import TopicClassifier
from services.router.validation import Limits
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import SettingsError
from switchboard.runtime.telemetry import http_client_trace_config, instruments_libraries

SETTINGS = RouterSettings

log = logging.getLogger("switchboard.router")


def breaker_config(settings: RouterSettings) -> BreakerConfig:
    return BreakerConfig(
        window_type=WindowType.COUNT_BASED if settings.router_breaker_window_type == "count" else WindowType.TIME_BASED,
        window_size=settings.router_breaker_window_size,
        minimum_calls=settings.router_breaker_minimum_calls,
        failure_rate_threshold=settings.router_breaker_failure_rate_threshold,
        slow_call_rate_threshold=settings.router_breaker_slow_call_rate_threshold,
        slow_call_duration_s=settings.router_breaker_slow_call_duration_s,
        wait_in_open_s=settings.router_breaker_wait_in_open_s,
        max_wait_in_open_s=settings.router_breaker_max_wait_in_open_s,
        open_backoff_multiplier=settings.router_breaker_open_backoff_multiplier,
        permitted_calls_in_half_open=settings.router_breaker_permitted_calls_in_half_open,
    )


def configured_backends(settings: RouterSettings, env: Mapping[str, str]) -> list[BackendConfig]:
    """The TOML file's backends, validated now so a bad file fails at start-up."""
    try:
        return load_backends(settings.backend_tables(), env)
    except ValueError as exc:
        raise SettingsError(f"SWITCHBOARD_CONFIG={settings.config}: {exc}") from None


class RouterApp:
    """The router as the bootstrap sees it. Backends are built in `start()`:
    without configured ones the defaults are probed (is Ollama there?)."""

    service_names = [router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name]

    def __init__(
        self,
        runtime: Runtime,
        *,
        backends: Sequence[BackendConfig] | None = None,
        env: Mapping[str, str] | None = None,
        http_client: BackendClient | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = router_settings(runtime.settings)
        self.env = dict(os.environ if env is None else env)
        self.configs: list[BackendConfig] | None = (
            list(backends) if backends is not None else configured_backends(self.settings, self.env) or None
        )
        self.clock = runtime.clock
        self.chain: Chain | None = None
        self.stats = RouterStats(self.settings.router_latency_window)
        self._http = http_client
        self._own_http = http_client is None
        channels = runtime.channels
        assert channels is not None
        s = self.settings
        self.learning = LearningClient(
            channels.channel("learning"),
            recommend_deadline_s=s.router_recommend_deadline_s,
            send_timeout_s=s.router_outcome_send_timeout_s,
        )
        # Learning's Thompson draws kept and spent one per request, unless asked per request.
        self.recommender: Recommender = (
            DrawPool(self.learning, self.clock, max_draws=s.router_recommend_draws,
                     max_age_s=s.router_recommend_max_age_s, wait_s=s.router_recommend_deadline_s)
            if s.router_recommend_draws
            else self.learning
        )
        self.cache = CacheClient(
            channels.channel("cache"),
            lookup_deadline_s=s.router_cache_lookup_deadline_s,
            store_timeout_s=s.router_cache_store_timeout_s,
            ttl_s=s.router_cache_ttl_s,
        )
        self.health = BackendHealthView(
            channels.channel("monitor"),
            self.clock,
            retry_s=s.router_monitor_retry_s,
            stopping=runtime.stopping,
            heartbeat_s=s.router_monitor_heartbeat_s,
        )
        self.outcomes = OutcomeQueue(
            self.learning,
            self.clock,
            max_size=s.router_outcome_queue_size,
            batch_size=s.router_outcome_batch_size,
            linger_s=s.router_outcome_linger_s,
            retry_initial_s=s.router_outcome_retry_initial_s,
            retry_max_s=s.router_outcome_retry_max_s,
        )
        self.servicer = RouterServiceServicer(
            lambda: self.chain,
            clock=self.clock,
            limits=Limits(max_prompt_chars=s.router_max_prompt_chars, max_tokens=s.router_max_tokens_limit),
            classifier=TopicClassifier(long_context_chars=s.router_long_context_chars),
            telemetry=RouterTelemetry(runtime.metrics),
        )

    def add_to_server(self, server: grpc.aio.Server) -> None:
        router_pb2_grpc.add_RouterServiceServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        if self._http is None:
            s = self.settings
            tracer, meter = self.runtime.tracer_provider, self.runtime.meter_provider
            full_tracing = tracer is not None and instruments_libraries(tracer, meter)
            self._http = make_http_client(
                max_connections=s.router_max_connections,
                max_keepalive_connections=min(s.router_max_keepalive_connections, s.router_max_connections),
                pool_timeout_s=s.router_pool_wait_s,
                # A CLIENT span per backend call, and `traceparent` to the backend;
                # only the `traceparent` when no span or metric would be recorded.
                trace_configs=[http_client_trace_config(tracer, meter)] if full_tracing else [],
                propagate_trace_context=tracer is not None and not full_tracing,
            )
        configs = self.configs
        if configs is None:
            probe = ollama_probe(self._http) if self.settings.router_probe_ollama else _absent
            configs = await default_backends(self.env, probe)
        config = breaker_config(self.settings)
        telemetry = RouterTelemetry(self.runtime.metrics)  # breaker state gauge, transition events
        lanes = [
            Lane(
                backend=build_backend(cfg, self._http, self.clock, self.env),
                breaker=CircuitBreaker(cfg.name, config, self.clock, on_transition=telemetry.breaker_transition),
                stats=self.stats.of(cfg.name),
            )
            for cfg in configs
        ]
        for lane in lanes:
            telemetry.breaker_initial(lane.name, lane.breaker.state)
        self.chain = Chain(
            lanes,
            clock=self.clock,
            options=ChainOptions(
                degraded_text=self.settings.router_degraded_text,
                deadline_margin_s=self.settings.router_deadline_margin_s,
            ),
            outcomes=self.outcomes,
            recommender=self.recommender,
            cache=self.cache,
            health=self.health,
        )
        self.outcomes.start()
        self.health.start()
        # Connect to the peers now, so the first Recommend (25 ms) need not.
        assert self.runtime.channels is not None
        for peer in ("learning", "cache"):
            self.runtime.channels.channel(peer).get_state(try_to_connect=True)
        log.info(
            "backends",
            extra={"backends": ", ".join(f"{lane.name} ({lane.backend.config.kind.value}"
                                         f"{', mock' if lane.is_mock else ''})" for lane in self.chain.lanes)},
        )

    async def stop(self) -> None:
        await self.health.stop()
        if isinstance(self.recommender, DrawPool):
            await self.recommender.close()
        # Queued outcomes and background cache stores go out side by side, each
        # bounded, so the two waits do not add up against the shutdown grace.
        await asyncio.gather(
            self.outcomes.stop(self.settings.router_outcome_flush_timeout_s),
            self.cache.drain(),
        )
        if self.chain is not None:
            for lane in self.chain.lanes:
                await lane.backend.aclose()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


async def _absent() -> bool:
    return False


def create(runtime: Runtime) -> RouterApp:
    return RouterApp(runtime)
