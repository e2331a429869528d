"""Watching one mesh service: the grpc.health.v1 client side.

Two signals, combined:
- a `Watch` stream per service name ("" is the whole server, plus the service's
  own full name): a status change arrives at once, and a broken stream (the
  process died, the connection reset) is reported UNREACHABLE at once; the
  stream is re-opened with exponential back-off, which starts over (and
  re-opens at once) on any successful contact, so a restarted service is
  watched again within one check interval;
- a `Check` every interval with a deadline: a stopped process (SIGSTOP) keeps
  its connection open and its Watch stream silent, so only an unanswered Check
  reveals it. Checks also measure the probe latency.

The gateway speaks HTTP, so it gets the Check half only (`GET /healthz`).
This is a client adapter: it talks gRPC/HTTP, and hands plain `ProbeResult`s
to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.health.backend_probe import transport_detail
from services.health.model import ProbeResult, Serving, Status
from switchboard.runtime.channels import open_channel
from switchboard.runtime.clock import Clock
from switchboard.runtime.settings import MeshSettings

log = logging.getLogger("switchboard.monitor.watch")

Report = Callable[[ProbeResult], None]

_SERVING = {
    health_pb2.HealthCheckResponse.UNKNOWN: Serving.UNSPECIFIED,
    health_pb2.HealthCheckResponse.SERVING: Serving.SERVING,
    health_pb2.HealthCheckResponse.NOT_SERVING: Serving.NOT_SERVING,
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: Serving.SERVICE_UNKNOWN,
}


def watch_channel_options(
    base: Sequence[tuple[str, Any]], backoff_initial_s: float, backoff_max_s: float, check_interval_s: float | None = None
) -> list[tuple[str, Any]]:
    """The mesh's channel options, with gRPC's own reconnect back-off matched to
    ours: its default (1 s growing to 120 s) would keep a restarted service
    looking dead long after it came back. While the channel waits out that
    back-off every Check fails at once, so it never exceeds the check
    interval: a service that is back is seen by the next Check or the one after."""
    initial_ms = max(1, int(backoff_initial_s * 1000))
    longest_s = backoff_max_s if check_interval_s is None else min(backoff_max_s, check_interval_s)
    return [
        *base,
        ("grpc.initial_reconnect_backoff_ms", initial_ms),
        ("grpc.min_reconnect_backoff_ms", initial_ms),
        ("grpc.max_reconnect_backoff_ms", max(initial_ms, int(longest_s * 1000))),
    ]


def judge(serving: dict[str, Serving], service: str) -> tuple[Status, str]:
    """A reachable server's status from its grpc.health.v1 answers."""
    whole = serving.get("", Serving.UNSPECIFIED)
    named = serving.get(service, Serving.UNSPECIFIED)
    if whole is Serving.NOT_SERVING:
        return Status.UNHEALTHY, "server NOT_SERVING"
    if named is Serving.NOT_SERVING:
        return (Status.DEGRADED, f"{service} NOT_SERVING") if whole is Serving.SERVING else (Status.UNHEALTHY, f"{service} NOT_SERVING")
    if named is Serving.SERVICE_UNKNOWN:
        return Status.DEGRADED, f"{service} unknown to the server"
    if Serving.SERVING in (whole, named):
        return Status.HEALTHY, ""
    return Status.UNSPECIFIED, "no status reported yet"


def describe(exc: grpc.aio.AioRpcError, timeout_s: float | None = None) -> str:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout_s is not None:
        return f"no answer within {timeout_s:g} s"
    details = (exc.details() or "").strip()
    if "Connection refused" in details:
        return "connection refused"
    return f"{code.name}: {details[:160]}" if details else code.name


class ServiceWatcher:
    """grpc.health.v1 Watch + Check of one gRPC mesh service."""

    def __init__(
        self,
        address: str,
        grpc_service: str,
        report: Report,
        clock: Clock,
        *,
        check_interval_s: float,
        check_timeout_s: float,
        backoff_initial_s: float,
        backoff_max_s: float,
        channel_options: Sequence[tuple[str, Any]] = (),
        settings: MeshSettings | None = None,
    ) -> None:
        self.address = address
        self.service = grpc_service
        self._report = report
        self._clock = clock
        self._interval = check_interval_s
        self._timeout = check_timeout_s
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._options = watch_channel_options(channel_options, backoff_initial_s, backoff_max_s, check_interval_s)
        self._settings = settings  # TLS, when configured
        self._serving: dict[str, Serving] = {"": Serving.UNSPECIFIED, grpc_service: Serving.UNSPECIFIED}
        self._reachable: bool | None = None
        self._last_watch_at = float("-inf")  # monotonic time of the latest Watch message
        # Every answer from the server (a Check reply, a Watch message) counts a
        # contact and wakes the Watch loops waiting out a back-off: they re-open
        # at once and their back-off starts over.
        self._contacts = 0
        self._contact = asyncio.Event()
        self.reconnects = 0  # Watch streams re-opened after a break (for tests and logs)

    async def run(self, stopping: asyncio.Event) -> None:
        """Watches until `stopping` is set (or the task is cancelled)."""
        channel = open_channel(self.address, self._settings, options=self._options)
        stub = health_pb2_grpc.HealthStub(channel)
        tasks = [
            asyncio.create_task(self._watch(stub, name, stopping), name=f"watch {self.address} {name or '(server)'}")
            for name in ("", self.service)
        ]
        tasks.append(asyncio.create_task(self._checks(stub, stopping), name=f"check {self.address}"))
        try:
            await stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await channel.close()

    # -- Watch ------------------------------------------------------------------------

    async def _watch(self, stub: health_pb2_grpc.HealthStub, name: str, stopping: asyncio.Event) -> None:
        backoff = self._backoff_initial
        opened_before = False
        while not stopping.is_set():
            if opened_before:
                self.reconnects += 1
            opened_before = True
            call = stub.Watch(health_pb2.HealthCheckRequest(service=name))
            try:
                async for message in call:
                    backoff = self._backoff_initial
                    self._on_watch(name, _SERVING.get(message.status, Serving.UNSPECIFIED))
                # Ended by the server (it is shutting down, or it chose to):
                # no verdict; the next attempt or Check tells what happened.
            except grpc.aio.AioRpcError as exc:
                if stopping.is_set() or exc.code() == grpc.StatusCode.CANCELLED:
                    return
                self._on_broken(name, exc)
            finally:
                call.cancel()
            # Only an answer after the break cuts the pause short (messages of
            # the stream that just ended already reset the back-off above).
            if await self._contact_within(backoff):
                backoff = self._backoff_initial  # the server answers again: re-open now
            else:
                backoff = min(backoff * 2, self._backoff_max)

    def _contacted(self) -> None:
        self._contacts += 1
        self._contact.set()
        self._contact = asyncio.Event()

    async def _contact_within(self, seconds: float) -> bool:
        """Waits out a back-off on the injected clock; True as soon as the server
        answers something meanwhile (the wait is then cut short)."""
        contacts_before = self._contacts
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        contact = asyncio.ensure_future(self._contact.wait())
        try:
            await asyncio.wait({sleeper, contact}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, contact):
                waiter.cancel()
            await asyncio.gather(sleeper, contact, return_exceptions=True)
        return self._contacts > contacts_before

    def _on_watch(self, name: str, serving: Serving) -> None:
        self._last_watch_at = self._clock.monotonic()
        self._contacted()
        self._serving[name] = serving
        self._reachable = True
        status, detail = judge(self._serving, self.service)
        self._report(ProbeResult(status, None, detail, dict(self._serving), counts_as_probe=False))

    def _on_broken(self, name: str, exc: grpc.aio.AioRpcError) -> None:
        if self._reachable is False:
            return  # already known; the other stream broke too
        self._reachable = False
        self._serving = dict.fromkeys(self._serving, Serving.UNSPECIFIED)
        detail = f"watch stream broken: {describe(exc)}"
        log.info("%s: %s", self.address, detail)
        self._report(ProbeResult(Status.UNREACHABLE, None, detail, dict(self._serving), counts_as_probe=False))

    # -- Check ------------------------------------------------------------------------

    async def _checks(self, stub: health_pb2_grpc.HealthStub, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            started = self._clock.monotonic()
            await self._check_once(stub)
            await self._clock.sleep(max(0.0, self._interval - (self._clock.monotonic() - started)))

    async def _check_once(self, stub: health_pb2_grpc.HealthStub) -> None:
        sent_at = self._clock.monotonic()

        async def one(name: str) -> tuple[Serving | None, str, float]:
            began = self._clock.monotonic()
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=self._timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return Serving.SERVICE_UNKNOWN, "", self._clock.monotonic() - began
                return None, describe(exc, self._timeout), self._clock.monotonic() - began
            return _SERVING.get(reply.status, Serving.UNSPECIFIED), "", self._clock.monotonic() - began

        (whole, whole_error, latency), (named, named_error, _) = await asyncio.gather(one(""), one(self.service))
        if self._last_watch_at >= sent_at:
            # A Watch message overtook this Check: it is the fresher word (and
            # proves the server alive); keep the latency only.
            status, detail = judge(self._serving, self.service)
            self._report(ProbeResult(status, latency, detail, dict(self._serving)))
            return
        if whole is None or named is None:
            self._reachable = False
            self._serving = dict.fromkeys(self._serving, Serving.UNSPECIFIED)
            self._report(ProbeResult(Status.UNREACHABLE, None, whole_error or named_error, dict(self._serving)))
            return
        self._contacted()  # the server answered: broken Watch streams re-open now
        self._reachable = True
        self._serving = {"": whole, self.service: named}
        status, detail = judge(self._serving, self.service)
        self._report(ProbeResult(status, latency, detail, dict(self._serving)))


class HttpHealthWatcher:
    """`GET /healthz` every interval (the gateway): 200 is SERVING."""

    def __init__(
        self,
        address: str,
        report: Report,
        clock: Clock,
        client: httpx.AsyncClient,
        *,
        check_interval_s: float,
        check_timeout_s: float,
    ) -> None:
        self.address = address
        self._report = report
        self._clock = clock
        self._client = client
        self._interval = check_interval_s
        self._timeout = check_timeout_s

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            started = self._clock.monotonic()
            self._report(await self.check())
            await self._clock.sleep(max(0.0, self._interval - (self._clock.monotonic() - started)))

    async def check(self) -> ProbeResult:
        began = self._clock.monotonic()
        try:
            reply = await self._client.get(f"http://{self.address}/healthz", timeout=self._timeout)
        except httpx.TimeoutException:
            return ProbeResult(Status.UNREACHABLE, None, f"no answer within {self._timeout:g} s", {"": Serving.UNSPECIFIED})
        except (httpx.HTTPError, OSError) as exc:
            return ProbeResult(Status.UNREACHABLE, None, transport_detail(exc), {"": Serving.UNSPECIFIED})
        latency = self._clock.monotonic() - began
        if reply.status_code == 200:
            return ProbeResult(Status.HEALTHY, latency, "", {"": Serving.SERVING})
        return ProbeResult(Status.UNHEALTHY, latency, f"/healthz answered HTTP {reply.status_code}", {"": Serving.NOT_SERVING})
