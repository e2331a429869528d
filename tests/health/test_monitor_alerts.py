"""Alerts: raised on transitions, flap suppression, de-duplication, start-up
grace, restart alerts, and delivery with retries to real sinks (an HTTP
webhook receiver, an aiosmtpd SMTP server), recorded in the history store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from monitor_support import WebhookReceiver, field_of
from services.health.alerts import AlertManager, AlertPolicy, EmailSink, LogSink, SmtpConfig, WebhookSink
from services.health.history import AlertFilter, HistoryStore
from services.health.model import Alert, AlertKind, Kind, ProbeResult, RestartReason, RestartReport, Severity, Status
from services.health.targets import Board, StatsConfig
from switchboard.db import create_engine_for
from switchboard.runtime.clock import Clock, ManualClock, SystemClock
from switchboard.testing.infra import free_port

UP = ProbeResult(Status.HEALTHY, 0.01)
DOWN = ProbeResult(Status.UNREACHABLE, None, "connection refused")


def sqlite_store(tmp_path: Path) -> HistoryStore:
    url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    return HistoryStore(create_engine_for(url), url)


async def manager_for(
    tmp_path: Path, clock: Clock, sinks: list[Any], **policy: Any
) -> tuple[AlertManager, HistoryStore, Board]:
    store = sqlite_store(tmp_path)
    board = Board(clock, StatsConfig())
    board.add("service:cache", Kind.SERVICE, "127.0.0.1:1")
    defaults: dict[str, Any] = {"startup_grace_s": 0.0, "flap_threshold": 4, "flap_window_s": 60.0, "dedup_window_s": 300.0}
    defaults.update(policy)
    return AlertManager(sinks, store, clock, AlertPolicy(**defaults)), store, board


def feed(board: Board, manager: AlertManager, result: ProbeResult) -> Alert | None:
    transition = board.observe("service:cache", result)
    return manager.on_transition(transition) if transition is not None else None


async def test_flapping_does_not_spam(tmp_path: Path, webhook: WebhookReceiver) -> None:
    clock = ManualClock()
    async with httpx.AsyncClient() as client:
        manager, store, board = await manager_for(tmp_path, clock, [LogSink(), WebhookSink(webhook.url, client, timeout_s=5)])
        feed(board, manager, UP)  # first verdict, healthy: no alert
        for i in range(14):
            clock.advance(1.0)
            feed(board, manager, DOWN if i % 2 == 0 else UP)
        await manager.drain(5.0)
        texts = webhook.texts()
        print("\nwebhook messages for 14 status changes:", texts)
        assert texts == [
            "[CRITICAL] cache is UNREACHABLE",
            "[INFO] cache recovered (HEALTHY)",
            "[WARNING] cache is flapping",
        ]
        clock.advance(61.0)  # a whole window without a change: it settled
        raised = manager.tick(board.views())
        await manager.drain(5.0)
        assert [a.title for a in raised] == ["cache stopped flapping: HEALTHY"]
        assert len(webhook.received) == 4
        await store.flush()
        alerts, _ = await store.list_alerts(AlertFilter(), None, 50)
        by_title = {a.title: a for a in alerts}
        assert by_title["cache is flapping"].occurrences == 11  # the 4th change raised it, 10 more folded in
        assert by_title["cache is UNREACHABLE"].occurrences == 2  # the 3rd change was a duplicate
        await store.close()


async def test_duplicates_fold_until_acknowledged(tmp_path: Path) -> None:
    clock = ManualClock()
    manager, store, board = await manager_for(tmp_path, clock, [LogSink()], flap_threshold=100, dedup_window_s=30)
    feed(board, manager, UP)
    first = feed(board, manager, DOWN)
    feed(board, manager, UP)
    again = feed(board, manager, DOWN)
    assert first is not None and again is first and first.occurrences == 2
    manager.acknowledge_live(first.id, "ops", "looking")
    feed(board, manager, UP)
    feed(board, manager, DOWN)  # after an acknowledgement: a new alert
    clock.advance(31)
    feed(board, manager, UP)
    feed(board, manager, DOWN)  # outside the window: a new alert too
    await manager.drain(5.0)
    await store.flush()
    alerts, _ = await store.list_alerts(AlertFilter(target="service:cache"), None, 50)
    downs = [a for a in alerts if a.to_status is Status.UNREACHABLE]
    assert sorted(a.occurrences for a in downs) == [1, 1, 2]
    assert [a.acknowledged_by for a in downs if a.acknowledged] == ["ops"]
    await store.close()


async def test_start_up_grace_then_what_is_still_bad(tmp_path: Path) -> None:
    clock = ManualClock()
    manager, store, board = await manager_for(tmp_path, clock, [LogSink()], startup_grace_s=10)
    board.add("backend:a", Kind.BACKEND, "http://a")
    board.add("redis", Kind.CACHE_STORE, "")
    feed(board, manager, DOWN)  # the cache is down while the mesh starts
    t = board.observe("backend:a", UP)
    assert t is not None and manager.on_transition(t) is None
    t = board.observe("redis", ProbeResult(Status.NOT_AVAILABLE, None, "no Redis"))
    assert t is not None and manager.on_transition(t) is None
    assert manager.tick(board.views()) == []
    clock.advance(11)
    raised = manager.tick(board.views())
    assert [(a.title, a.severity) for a in raised] == [("cache is UNREACHABLE at start-up", Severity.CRITICAL)]
    await manager.drain(1.0)
    await store.close()


async def test_restart_and_budget_alerts(tmp_path: Path) -> None:
    clock = ManualClock()
    manager, store, _ = await manager_for(tmp_path, clock, [LogSink()])
    report = RestartReport("cache", 200, 100, RestartReason.UNREACHABLE, "unreachable for 3.1 s", 1, 0.5, None, False)
    first = manager.on_restart(report)
    again = manager.on_restart(report)
    assert first is again and first.occurrences == 2
    assert (first.kind, first.severity, first.title) == (AlertKind.RESTART, Severity.WARNING, "cache restarted")
    assert "unreachable too long" in first.message and "pid 100 → 200" in first.message
    gave_up = manager.on_restart(RestartReport("cache", 0, 200, RestartReason.PROCESS_EXITED, "exit code 1", 6, 0, None, True))
    assert (gave_up.kind, gave_up.severity) == (AlertKind.RESTART_BUDGET_EXHAUSTED, Severity.CRITICAL)
    await manager.drain(1.0)
    await store.close()


async def test_webhook_delivery_is_retried_and_recorded(tmp_path: Path, webhook: WebhookReceiver) -> None:
    webhook.fail_next = 2
    clock = SystemClock()
    async with httpx.AsyncClient() as client:
        manager, store, board = await manager_for(
            tmp_path, clock, [LogSink(), WebhookSink(webhook.url, client, timeout_s=5)],
            delivery_attempts=4, delivery_backoff_s=0.01,
        )
        feed(board, manager, UP)
        feed(board, manager, DOWN)
        await manager.drain(10.0)
        body = await webhook.wait_for(lambda b: "UNREACHABLE" in b["text"])
        assert webhook.attempts == 3
        alert_id = field_of(body, "alert id")
        assert field_of(body, "change") == "HEALTHY → UNREACHABLE" and field_of(body, "target") == "service:cache"
        await store.flush()
        stored = await store.get_alert(alert_id)
        assert stored is not None
        deliveries = {d.sink: d for d in stored.deliveries}
        assert deliveries["webhook"].delivered and deliveries["webhook"].attempts == 3
        assert deliveries["webhook"].last_error == "" and deliveries["webhook"].delivered_at is not None
        assert deliveries["log"].delivered and deliveries["log"].attempts == 1
        await store.close()


async def test_delivery_gives_up_and_says_why(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    async with httpx.AsyncClient() as client:
        manager, store, board = await manager_for(
            tmp_path, SystemClock(), [WebhookSink(dead, client, timeout_s=1)], delivery_attempts=2, delivery_backoff_s=0.01
        )
        feed(board, manager, UP)
        feed(board, manager, DOWN)
        await manager.drain(10.0)
        await store.flush()
        (alert,), _ = await store.list_alerts(AlertFilter(), None, 10)
        (delivery,) = alert.deliveries
        assert not delivery.delivered and delivery.attempts == 2 and "ConnectError" in delivery.last_error
        await store.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd's hook name)
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Any:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


async def test_email_alert_over_smtp(tmp_path: Path, smtp_server: Any) -> None:
    controller, inbox = smtp_server
    sink = EmailSink(SmtpConfig("127.0.0.1", controller.port, "monitor@example.test", ("ops@example.test", "sre@example.test"), timeout_s=5))
    manager, store, board = await manager_for(tmp_path, SystemClock(), [sink])
    feed(board, manager, UP)
    feed(board, manager, DOWN)
    await manager.drain(10.0)
    for _ in range(50):
        if inbox.messages:
            break
        await asyncio.sleep(0.05)
    (envelope,) = inbox.messages
    assert envelope.mail_from == "monitor@example.test"
    assert sorted(envelope.rcpt_tos) == ["ops@example.test", "sre@example.test"]
    text = envelope.content.decode()
    assert "Subject: [switchboard CRITICAL] cache is UNREACHABLE" in text and "connection refused" in text
    await store.close()
