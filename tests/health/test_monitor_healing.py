"""The supervisor's side of self-healing (switchboard/healing.py) against a
real monitor watching a real service process: verdicts come from the
snapshot and transitions, a restart starts the bad time over, and a silent
monitor makes itself the one to restart while every other verdict goes stale.
The feed's clock is manual, so bad durations are exact."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from monitor_support import StartMonitor
from monitor_support import start_service_process
from switchboard.healing import HealingConfig, HealthFeed, Verdict
from switchboard.mesh import BY_NAME
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.runtime.clock import ManualClock


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_feed_verdicts_restart_reset_and_silent_monitor(start_monitor: StartMonitor, tmp_path: Path) -> None:
    entry = BY_NAME["cache"]
    assert entry.grpc_service is not None
    child = await start_service_process("cache", entry.module, entry.grpc_service, tmp_path / "data")
    clock = ManualClock()
    try:
        monitor, _ = await start_monitor(monitor_services="cache", cache_address=child.address,
                                         monitor_check_interval_s=0.3, monitor_check_timeout_s=0.25)
        assert monitor.channel is not None
        feed = HealthFeed(monitor.channel, clock, HealingConfig(restart_after_s=1.0, heartbeat_s=0.1, retry_s=0.1))
        task = asyncio.create_task(feed.run())
        try:
            await _until(lambda: feed.connected)
            assert feed.verdict("cache") is None and feed.verdict("monitor") is None

            child.signal(signal.SIGSTOP)
            await _until(lambda: feed.verdict("cache") is not None)
            verdict = feed.verdict("cache")
            assert verdict == Verdict(0.0, pb.RESTART_REASON_UNREACHABLE, verdict.detail) and "no answer" in verdict.detail  # type: ignore[union-attr]
            beats = feed_heard(feed)
            clock.advance(2.5)
            await _until(lambda: feed_heard(feed) > beats)  # a heartbeat after the jump: the monitor is not silent
            assert feed.verdict("cache").bad_for_s == 2.5  # type: ignore[union-attr]
            feed.restarted("cache")  # a new process: its bad time starts over
            assert feed.verdict("cache").bad_for_s == 0.0  # type: ignore[union-attr]

            child.signal(signal.SIGCONT)
            await _until(lambda: feed.verdict("cache") is None)

            child.signal(signal.SIGSTOP)
            await _until(lambda: feed.verdict("cache") is not None)
            await monitor.stop()  # the monitor goes away: nothing more is heard
            clock.advance(0.5)
            assert feed.verdict("monitor") is None  # within 5 missed heartbeats
            clock.advance(1.0)
            silent = feed.verdict("monitor")
            assert silent is not None and silent.reason == pb.RESTART_REASON_UNREACHABLE
            assert abs(silent.bad_for_s - 1.0) < 1e-6 and "no word from the monitor" in silent.detail
            assert feed.verdict("cache") is None  # stale now: never restart on old news
            feed.restarted("monitor")
            assert feed.verdict("monitor") is None  # judged again from the new monitor's first word
        finally:
            task.cancel()
    finally:
        await child.stop()


def feed_heard(feed: HealthFeed) -> float:
    return feed.last_heard_at or 0.0
