"""Per-target state on a manual clock: status and since, consecutive failures,
uptime over a window, the latency baseline with 3σ anomalies, the trend, the
overall status; and the small pure verdicts (grpc.health.v1, HTTP, nvidia-smi)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.health.backend_probe import BackendTarget, judge_reply
from services.health.model import HistorySample, Kind, ProbeResult, Serving, Status, Trend
from services.health.monitor import uptime_from_samples
from services.health.service_watch import judge
from services.health.settings import MonitorSettings
from services.health.system import parse_gpu_csv
from services.health.targets import Board, StatsConfig, TargetTracker, overall_status
from services.router.backends.config import BackendKind
from switchboard.runtime.clock import ManualClock

OK = ProbeResult(Status.HEALTHY, 0.010)
DOWN = ProbeResult(Status.UNREACHABLE, None, "connection refused")
CONFIG = StatsConfig(uptime_window_s=100.0, baseline_samples=50, baseline_min_samples=20, anomaly_min_excess_s=0.005, trend_samples=5)


def tracker(clock: ManualClock, config: StatsConfig = CONFIG) -> TargetTracker:
    return TargetTracker("backend:a", Kind.BACKEND, "http://a", clock, config)


def test_status_since_and_consecutive_failures() -> None:
    clock = ManualClock()
    t = tracker(clock)
    assert t.status is Status.UNSPECIFIED and t.view().detail == "not probed yet"
    first = t.observe(OK)
    assert first is not None and (first.from_status, first.to_status, first.reason) == (Status.UNSPECIFIED, Status.HEALTHY, "healthy")
    clock.advance(5)
    assert t.observe(OK) is None
    assert t.since == clock.now() - timedelta(seconds=5)
    clock.advance(1)
    down = t.observe(DOWN)
    assert down is not None and down.to_status is Status.UNREACHABLE and down.reason == "connection refused"
    assert t.since == clock.now()
    t.observe(DOWN)
    t.observe(DOWN)
    view = t.view()
    assert view.consecutive_failures == 3 and view.detail == "connection refused" and view.probe_latency_s == 0.010
    back = t.observe(OK)
    assert back is not None and back.reason == "recovered" and t.consecutive_failures == 0 and t.view().detail == ""


def test_uptime_ratio_over_the_window() -> None:
    clock = ManualClock()
    t = tracker(clock)
    t.observe(OK)
    clock.advance(30)
    t.observe(DOWN)
    clock.advance(10)
    assert t.uptime_ratio() == pytest.approx(0.75)
    t.observe(ProbeResult(Status.DEGRADED, 0.02, "slow"))  # degraded still counts as up
    clock.advance(40)
    assert t.uptime_ratio() == pytest.approx(70 / 80)
    clock.advance(60)  # window [40, 140]: all of it degraded or healthy again
    assert t.uptime_ratio() == pytest.approx(1.0)
    t.observe(ProbeResult(Status.NOT_AVAILABLE, None, "absent"))  # not counted either way
    clock.advance(50)
    assert t.uptime_ratio() == pytest.approx(1.0)


def test_latency_anomaly_above_three_sigma_degrades_and_recovers() -> None:
    clock = ManualClock()
    t = tracker(clock)
    for i in range(30):
        assert t.observe(ProbeResult(Status.HEALTHY, 0.010 + (i % 3) * 0.001)) in (None,) or i == 0
    base = t.baseline()
    assert base.sample_count == 30 and base.mean_s == pytest.approx(0.011, abs=1e-4) and base.stddev_s > 0
    # One outlier is flagged at once but neither degrades nor enters the baseline.
    assert t.observe(ProbeResult(Status.HEALTHY, 0.100)) is None
    assert t.latency_anomaly and t.status is Status.HEALTHY and t.baseline() == base
    assert t.observe(ProbeResult(Status.HEALTHY, 0.011)) is None and not t.latency_anomaly
    # Three in a row: DEGRADED, as an anomaly.
    assert t.observe(ProbeResult(Status.HEALTHY, 0.100)) is None
    assert t.observe(ProbeResult(Status.HEALTHY, 0.100)) is None
    slow = t.observe(ProbeResult(Status.HEALTHY, 0.100))
    assert slow is not None and slow.to_status is Status.DEGRADED and slow.anomaly
    assert t.latency_anomaly and "latency anomaly" in t.view().detail
    # A normal latency clears it.
    again = t.observe(ProbeResult(Status.HEALTHY, 0.011))
    assert again is not None and again.to_status is Status.HEALTHY and not t.latency_anomaly


def test_no_anomaly_before_enough_samples_or_below_the_absolute_floor() -> None:
    clock = ManualClock()
    t = tracker(clock)
    for _ in range(5):
        t.observe(ProbeResult(Status.HEALTHY, 0.010))
    assert t.observe(ProbeResult(Status.HEALTHY, 1.0)) is None  # only 5 samples: no baseline yet
    steady = tracker(clock)
    for _ in range(30):
        steady.observe(ProbeResult(Status.HEALTHY, 0.0010))
    # 3σ above a constant baseline, but only 2 ms above: jitter, not an anomaly.
    assert steady.observe(ProbeResult(Status.HEALTHY, 0.0030)) is None and not steady.latency_anomaly


def test_trend_improving_stable_degrading() -> None:
    clock = ManualClock()

    def trend_of(latencies: list[float]) -> Trend:
        t = tracker(clock)
        for value in latencies:
            t.observe(ProbeResult(Status.HEALTHY, value))
        return t.trend()

    assert trend_of([0.010] * 10) is Trend.UNSPECIFIED  # too few samples
    assert trend_of([0.010, 0.011] * 15) is Trend.STABLE
    assert trend_of([0.010] * 20 + [0.030] * 5) is Trend.DEGRADING
    assert trend_of([0.030] * 20 + [0.010] * 5) is Trend.IMPROVING


def test_board_overall_is_the_worst_ignoring_not_available() -> None:
    clock = ManualClock()
    board = Board(clock, CONFIG)
    board.add("service:cache", Kind.SERVICE, "x")
    board.add("redis", Kind.CACHE_STORE, "")
    board.add("system", Kind.SYSTEM, "")
    assert board.overall() is Status.UNSPECIFIED
    board.observe("service:cache", OK)
    board.observe("system", OK)
    board.observe("redis", ProbeResult(Status.NOT_AVAILABLE, None, "no Redis"))
    assert board.overall() is Status.HEALTHY
    t = board.observe("service:cache", DOWN)
    assert t is not None and t.overall is Status.UNREACHABLE
    assert [v.target for v in board.views([Kind.SERVICE, Kind.SYSTEM])] == ["service:cache", "system"]
    assert overall_status([Status.NOT_AVAILABLE]) is Status.UNSPECIFIED
    assert overall_status([Status.HEALTHY, Status.DEGRADED, Status.UNHEALTHY]) is Status.UNHEALTHY
    assert overall_status([Status.HEALTHY, Status.UNSPECIFIED]) is Status.UNSPECIFIED


def test_uptime_from_recorded_samples() -> None:
    clock = ManualClock()
    start = clock.now()

    def at(s: float) -> HistorySample:
        return HistorySample("x", start + timedelta(seconds=s), Status.HEALTHY, 0.01, "")

    samples = [at(10), HistorySample("x", start + timedelta(seconds=70), Status.UNREACHABLE, None, "down"), at(80)]
    before = HistorySample("x", start - timedelta(seconds=5), Status.HEALTHY, 0.01, "")
    end = start + timedelta(seconds=100)
    assert uptime_from_samples(samples, before, start, end) == pytest.approx(0.9)
    assert uptime_from_samples(samples, None, start, end) == pytest.approx(80 / 90)
    assert uptime_from_samples([], None, start, end) == 0.0


def test_grpc_health_verdicts() -> None:
    svc = "switchboard.cache.v1.CacheService"
    assert judge({"": Serving.SERVING, svc: Serving.SERVING}, svc) == (Status.HEALTHY, "")
    assert judge({"": Serving.NOT_SERVING, svc: Serving.SERVING}, svc)[0] is Status.UNHEALTHY
    assert judge({"": Serving.SERVING, svc: Serving.NOT_SERVING}, svc)[0] is Status.DEGRADED
    assert judge({"": Serving.SERVING, svc: Serving.SERVICE_UNKNOWN}, svc)[0] is Status.DEGRADED
    assert judge({"": Serving.UNSPECIFIED, svc: Serving.UNSPECIFIED}, svc)[0] is Status.UNSPECIFIED


def test_backend_probe_urls_headers_and_http_verdicts() -> None:
    openai = BackendTarget("o", BackendKind.openai, "http://h:1/v1", "sk-test")
    assert openai.probe_url == "http://h:1/v1/models" and openai.headers() == {"authorization": "Bearer sk-test"}
    anthropic = BackendTarget("a", BackendKind.anthropic, "https://api.anthropic.com", "k")
    assert anthropic.probe_url == "https://api.anthropic.com/v1/models"
    assert anthropic.headers() == {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    assert BackendTarget("l", BackendKind.ollama, "http://h:11434/").probe_url == "http://h:11434/api/tags"
    assert BackendTarget("m", BackendKind.mock, "").probe_url is None
    assert judge_reply(200) == (Status.HEALTHY, "")
    assert judge_reply(429)[0] is Status.DEGRADED
    assert judge_reply(401)[0] is Status.UNHEALTHY
    assert judge_reply(503) == (Status.UNHEALTHY, "HTTP 503")
    assert judge_reply(404)[0] is Status.DEGRADED


def test_nvidia_smi_csv() -> None:
    gpus = parse_gpu_csv("0, NVIDIA A10G, 37, 1024, 23028\n1, NVIDIA A10G, [N/A], 0, 23028\n\ngarbage\n")
    assert [(g.index, g.name, g.utilization_percent) for g in gpus] == [(0, "NVIDIA A10G", 37.0), (1, "NVIDIA A10G", 0.0)]
    assert gpus[0].memory_used_bytes == 1024 * 1024 * 1024 and gpus[0].memory_total_bytes == 23028 * 1024 * 1024


def test_settings_fail_fast_naming_the_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="SWITCHBOARD_MONITOR_CHECK_TIMEOUT_S"):
        MonitorSettings(data_dir=tmp_path, monitor_check_interval_s=0.5, monitor_check_timeout_s=1.0)
    with pytest.raises(ValidationError, match="unknown service"):
        MonitorSettings(data_dir=tmp_path, monitor_services="cache,nope")
    with pytest.raises(ValidationError, match="SMTP_TO"):
        MonitorSettings(data_dir=tmp_path, monitor_smtp_host="localhost")
    with pytest.raises(ValidationError, match="WEBHOOK_URL"):
        MonitorSettings(data_dir=tmp_path, monitor_webhook_url="hooks.slack.com/x")
    assert MonitorSettings(data_dir=tmp_path, monitor_services=" cache , router ").watched_services() == ["cache", "router"]
