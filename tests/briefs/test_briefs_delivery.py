"""Delivery to a real local webhook receiver and a real local SMTP server
(aiosmtpd): the first attempt fails, the retry (on the driven clock) succeeds,
and every step is recorded on the stored brief."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from services.briefs.delivery import Deliverer, SmtpSender, WebhookSender, slack_payload
from services.briefs.scheduler import BriefScheduler
from services.briefs.model import (
    Brief,
    BriefKind,
    Delivery,
    DeliveryStatus,
    MorningBrief,
    OwnerSettings,
    Scope,
    Sink,
    Task,
    TaskPriority,
)
from services.briefs.settings import BriefsSettings
from services.briefs.store import BriefStore
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.clock import ManualClock
from switchboard.testing.infra import free_port

SCOPE = Scope("default", "ann")


class Receiver:
    """A webhook endpoint answering the first `failures` POSTs with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.statuses) < receiver.failures else 200
                receiver.statuses.append(status)
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/brief"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=1)
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


class MailSink:
    """aiosmtpd handler: 451 for the first message, then accept."""

    def __init__(self) -> None:
        self.tries = 0
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.tries += 1
        if self.tries == 1:
            return "451 4.3.0 Try again later"
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    handler = MailSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def drive(clock: ManualClock, done: Any, step_s: float = 10.0, rounds: int = 300) -> None:
    """Moves the clock forward in steps, letting I/O happen in between, until done()."""
    for _ in range(rounds):
        if await done():
            return
        clock.advance(step_s)
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_webhook_and_email_fail_once_then_retry_succeeds(
    store: BriefStore,
    clock: ManualClock,
    briefs_settings: BriefsSettings,
    receiver: Receiver,
    smtp: tuple[MailSink, int],
    make_scheduler: Callable[..., BriefScheduler],
) -> None:
    mail, smtp_port = smtp
    clock.advance((datetime(2026, 3, 9, 10, 30, tzinfo=UTC) - clock.now()).total_seconds())  # 06:30 EDT
    await store.update_settings(
        SCOPE,
        OwnerSettings(
            owner_id="ann", time_zone="America/New_York", narrative_enabled=False,
            sinks=[Sink(webhook_url=receiver.url), Sink(email_address="ann@example.com")],
        ),
    )
    await store.upsert_task(SCOPE, Task(id="", owner_id="", title="Call the bank", due_at=datetime(2026, 3, 9, 14, tzinfo=UTC),
                                        priority=TaskPriority.HIGH))
    channels = PeerChannels(briefs_settings)
    async with httpx.AsyncClient() as http:
        scheduler = make_scheduler(channels, http, smtp_port=smtp_port)
        clock.advance(1800)  # 07:00 EDT
        stored = await scheduler.run_once()
        assert [b.kind for b in stored] == [BriefKind.MORNING]

        async def delivered() -> bool:
            brief = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 9))
            return all(d.status == DeliveryStatus.DELIVERED for d in brief.deliveries)

        async def retrying() -> bool:
            brief = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 9))
            return all(d.status == DeliveryStatus.RETRYING for d in brief.deliveries)

        for _ in range(200):  # the first attempts fail without any clock movement
            if await retrying():
                break
            await asyncio.sleep(0.02)
        brief = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 9))
        webhook, email = brief.deliveries
        assert (webhook.status, webhook.attempts, webhook.last_error) == (DeliveryStatus.RETRYING, 1, "HTTP 500: no")
        assert webhook.next_attempt_at == clock.now() + timedelta(seconds=10)
        assert (email.status, email.attempts) == (DeliveryStatus.RETRYING, 1)
        assert "451" in email.last_error

        await drive(clock, delivered)
        await scheduler.idle()
    await channels.close()

    brief = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 9))
    for d in brief.deliveries:
        assert (d.status, d.attempts, d.next_attempt_at) == (DeliveryStatus.DELIVERED, 2, None)
        assert d.delivered_at is not None and d.delivered_at >= datetime(2026, 3, 9, 11, 0, 10, tzinfo=UTC)
    assert receiver.statuses == [500, 200]
    payload = receiver.bodies[0]
    assert payload["text"].startswith("Morning brief — Monday 9 March 2026 (America/New_York)")
    assert payload["blocks"][0]["type"] == "header"
    assert any("Call the bank" in b["text"]["text"] for b in payload["blocks"][1:])
    assert mail.tries == 2 and len(mail.messages) == 1
    envelope = mail.messages[0]
    assert envelope.rcpt_tos == ["ann@example.com"] and envelope.mail_from == "briefs@example.com"
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Morning brief — Monday 9 March 2026 (America/New_York)"
    assert "Call the bank" in message.get_content()


async def test_gives_up_after_max_attempts(store: BriefStore, clock: ManualClock) -> None:
    always_down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    await store.update_settings(SCOPE, OwnerSettings(owner_id="ann", sinks=[Sink(webhook_url=always_down),
                                                                              Sink(email_address="ann@example.com")]))
    day = date(2026, 3, 9)
    brief = await store.insert_brief(SCOPE, Brief(
        id="", owner_id="ann", kind=BriefKind.MORNING, date=day, as_of=clock.now(), generated_at=clock.now(),
        time_zone="UTC", content=MorningBrief(), text="Morning brief",
        deliveries=[Delivery(Sink(webhook_url=always_down)), Delivery(Sink(email_address="ann@example.com"))],
    ))
    assert brief is not None
    async with httpx.AsyncClient() as http:
        deliverer = Deliverer(
            store, clock, webhook=WebhookSender(http, 2.0),
            email=SmtpSender(host="", port=25, sender="briefs@example.com", timeout_s=2.0),  # not configured
            max_attempts=3, backoff_s=5.0, backoff_max_s=60.0,
        )
        webhook_task = asyncio.create_task(deliverer.deliver(SCOPE, brief, 0))
        assert await deliverer.deliver(SCOPE, brief, 1) == DeliveryStatus.FAILED  # permanent: no retry

        async def finished() -> bool:
            return webhook_task.done()

        await drive(clock, finished, step_s=60)
        assert webhook_task.result() == DeliveryStatus.FAILED
    stored = await store.get_brief(SCOPE, BriefKind.MORNING, day)
    webhook, email = stored.deliveries
    assert (webhook.status, webhook.attempts) == (DeliveryStatus.FAILED, 3)
    assert "ConnectError" in webhook.last_error
    assert (email.status, email.attempts) == (DeliveryStatus.FAILED, 1)
    assert "SMTP_HOST" in email.last_error


def test_slack_payload_splits_long_text_without_losing_any() -> None:
    text = "Morning brief — x\n\n" + "\n".join(f"line {i} " + "x" * 80 for i in range(200))
    brief = Brief(id="b", owner_id="o", kind=BriefKind.MORNING, date=date(2026, 3, 9),
                  as_of=datetime(2026, 3, 9, tzinfo=UTC), generated_at=datetime(2026, 3, 9, tzinfo=UTC),
                  time_zone="UTC", content=MorningBrief(), text=text)
    payload = slack_payload(brief)
    sections = [b["text"]["text"].strip("`") for b in payload["blocks"][1:]]
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"][1:])
    assert len(sections) > 1
    joined = "\n".join(sections)
    assert all(f"line {i} " in joined for i in range(200))


async def test_delivery_left_pending_by_a_dead_process_is_resumed_once(
    store: BriefStore,
    clock: ManualClock,
    briefs_settings: BriefsSettings,
    receiver: Receiver,
    make_scheduler: Callable[..., BriefScheduler],
) -> None:
    receiver.failures = 0
    # A brief stored by a process that died before delivering it.
    brief = await store.insert_brief(SCOPE, Brief(
        id="", owner_id="ann", kind=BriefKind.MORNING, date=date(2026, 3, 8), as_of=clock.now(),
        generated_at=clock.now(), time_zone="UTC", content=MorningBrief(), text="Morning brief",
        deliveries=[Delivery(Sink(webhook_url=receiver.url))],
    ))
    assert brief is not None and brief.deliveries[0].status == DeliveryStatus.PENDING
    channels = PeerChannels(briefs_settings)
    async with httpx.AsyncClient() as http:
        first, second = make_scheduler(channels, http), make_scheduler(channels, http)
        await first.run_once()
        await first.idle()
        assert receiver.statuses == []  # not overdue yet: its owner may still be working on it
        clock.advance(11 * 60)  # past the 10-minute stall limit
        await asyncio.gather(first.run_once(), second.run_once())  # two replicas notice it
        await first.idle()
        await second.idle()
    await channels.close()
    assert receiver.statuses == [200]  # claimed by exactly one
    stored = await store.get_brief(SCOPE, BriefKind.MORNING, date(2026, 3, 8))
    assert (stored.deliveries[0].status, stored.deliveries[0].attempts) == (DeliveryStatus.DELIVERED, 1)
