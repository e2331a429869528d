"""Delivering stored briefs to the owner's sinks, with retries.

Webhooks get a Slack-compatible JSON POST (2xx = delivered); email goes by
SMTP as text/plain. Every attempt's outcome is written to the brief's delivery
row (RETRYING with next_attempt_at, then DELIVERED or FAILED), so GetBrief shows
where each delivery stands and a replica can resume one whose process died.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from services.briefs.model import Brief, DeliveryStatus, Scope, Sink
from services.briefs.render import message_text, title
from services.briefs.store import BriefStore
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.briefs.delivery")

SLACK_SECTION_LIMIT = 3000  # characters of one section block's text


class DeliveryError(Exception):
    """One attempt failed; `permanent` ones are not retried (e.g. no SMTP server)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, sink: Sink, brief: Brief) -> None:
        """Delivers or raises DeliveryError."""
        ...


def _chunks(text: str, size: int) -> list[str]:
    """Splits on line breaks into pieces of at most `size` (never drops text)."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > size:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:size])
            line = line[size:]
        if len(current) + len(line) > size:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return pieces


def slack_payload(brief: Brief) -> dict[str, Any]:
    """{"text": fallback, "blocks": [header, sections...]} as Slack incoming webhooks take it."""
    body = message_text(brief)
    heading = title(brief.kind, brief.date, brief.time_zone)
    lines = body.split("\n", 2)
    rest = lines[2] if len(lines) > 2 else ""  # the text starts with the title and a blank line
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading[:150]}}]
    for piece in _chunks(rest, SLACK_SECTION_LIMIT - 10):
        if piece.strip():
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{piece.rstrip()}```"}})
    return {"text": body, "blocks": blocks}


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def send(self, sink: Sink, brief: Brief) -> None:
        try:
            response = await self._client.post(sink.webhook_url, json=slack_payload(brief), timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout_s: float,
        starttls: bool = False,
        username: str = "",
        password: str = "",
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout_s = timeout_s
        self._starttls = starttls
        self._username = username
        self._password = password

    def message(self, sink: Sink, brief: Brief) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = sink.email_address
        msg["Subject"] = title(brief.kind, brief.date, brief.time_zone)
        msg.set_content(message_text(brief))
        return msg

    async def send(self, sink: Sink, brief: Brief) -> None:
        if not self._host:
            raise DeliveryError("no SMTP server configured (SWITCHBOARD_BRIEFS_SMTP_HOST)", permanent=True)
        try:
            await aiosmtplib.send(
                self.message(sink, brief),
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                username=self._username or None,
                password=self._password or None,
                timeout=self._timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc}") from exc


class Deliverer:
    """Delivers one brief to one of its sinks, retrying with exponential backoff
    on the injected clock, and records every outcome."""

    def __init__(
        self,
        store: BriefStore,
        clock: Clock,
        *,
        webhook: Sender,
        email: Sender,
        max_attempts: int,
        backoff_s: float,
        backoff_max_s: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._webhook = webhook
        self._email = email
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s

    async def deliver(self, scope: Scope, brief: Brief, index: int, prior_attempts: int = 0) -> DeliveryStatus:
        sink = brief.deliveries[index].sink
        sender = self._webhook if sink.webhook_url else self._email
        attempts = prior_attempts

        async def attempt() -> None:
            nonlocal attempts
            attempts += 1
            await sender.send(sink, brief)

        async def record_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.info("delivery retry", extra={"brief": brief.id, "sink": sink.label, "error": str(error), "in_s": wait})
            await self._store.update_delivery(
                scope, brief.id, index,
                status=DeliveryStatus.RETRYING,
                attempts=attempts,
                last_error=str(error),
                next_attempt_at=self._clock.now() + timedelta(seconds=wait),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self._max_attempts - prior_attempts)),
            wait=wait_exponential(multiplier=self._backoff_s, max=self._backoff_max_s),
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and not e.permanent),
            sleep=self._clock.sleep,
            before_sleep=record_retry,
            reraise=True,
        )
        try:
            await retrying(attempt)
        except DeliveryError as exc:
            log.warning("delivery failed", extra={"brief": brief.id, "sink": sink.label, "error": str(exc)})
            await self._store.update_delivery(
                scope, brief.id, index, status=DeliveryStatus.FAILED, attempts=attempts, last_error=str(exc)
            )
            return DeliveryStatus.FAILED
        await self._store.update_delivery(
            scope, brief.id, index, status=DeliveryStatus.DELIVERED, attempts=attempts, delivered_at=self._clock.now()
        )
        return DeliveryStatus.DELIVERED
