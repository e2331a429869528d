"""Plain helpers of the monitor suite: a real webhook receiver (HTTP server on a
socket), a real service subprocess, and waiting on the monitor's WatchStatus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from switchboard.clients.health import check_address
from switchboard.monitor.v1 import monitor_pb2 as pb
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.testing.infra import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WebhookReceiver:
    """A tiny HTTP/1.1 server that records every POSTed JSON body. `fail_next`
    answers that many requests with HTTP 500 first (to exercise retries)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    fail_next: int = 0
    _server: asyncio.AbstractServer | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks/alerts"

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.attempts += 1
                if self.fail_next > 0:
                    self.fail_next -= 1
                    status, reply = "500 Internal Server Error", b"try later"
                else:
                    self.received.append(json.loads(body))
                    self._arrived.set()
                    status, reply = "200 OK", b"ok"
                writer.write(f"HTTP/1.1 {status}\r\ncontent-length: {len(reply)}\r\n\r\n".encode() + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for body in self.received:
                if predicate(body):
                    return body
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching webhook within {timeout} s; got {[b['text'] for b in self.received]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def texts(self) -> list[str]:
        return [b["text"] for b in self.received]


def field_of(body: dict[str, Any], title: str) -> str:
    for f in body["attachments"][0]["fields"]:
        if f["title"] == title:
            return str(f["value"])
    raise KeyError(title)


@dataclass
class ServiceProcess:
    """`python -m services.<svc> --port N` as a real child process."""

    name: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
                self.process.kill()
            await self.process.wait()


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}
    env.update(overrides)
    return env


async def start_service_process(name: str, module: str, grpc_service: str, data_dir: Path, timeout: float = 30.0) -> ServiceProcess:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", str(port),
        env=clean_env(SWITCHBOARD_DATA_DIR=str(data_dir), SWITCHBOARD_LOG_FORMAT="text"), cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    child = ServiceProcess(name, port, process)
    deadline = time.monotonic() + timeout
    while await check_address(child.address, grpc_service, timeout=0.5) != "SERVING":
        if process.returncode is not None or time.monotonic() > deadline:
            await child.stop()
            raise AssertionError(f"{module} did not become SERVING (exit code {process.returncode})")
        await asyncio.sleep(0.1)
    return child


class StatusStream:
    """A WatchStatus subscription read in the background: the snapshot, then
    every transition with the wall-clock time it arrived."""

    def __init__(self, channel: grpc.aio.Channel, request: pb.WatchStatusRequest | None = None) -> None:
        self._call = monitor_pb2_grpc.MonitorServiceStub(channel).WatchStatus(request or pb.WatchStatusRequest())
        self.snapshot: pb.StatusSnapshot | None = None
        self.snapshot_at = 0.0
        self.transitions: list[tuple[float, pb.StatusTransition]] = []
        self.heartbeats = 0
        self.ended = ""  # why the stream ended, once it has
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            await self._read_all()
        except grpc.aio.AioRpcError as exc:
            self.ended = f"{exc.code().name}: {exc.details()}"
        except asyncio.CancelledError:
            pass
        else:
            self.ended = "the monitor ended the stream"
        self._changed.set()

    async def _read_all(self) -> None:
        async for message in self._call:
            which = message.WhichOneof("event")
            if which == "snapshot":
                self.snapshot = message.snapshot
                self.snapshot_at = time.monotonic()
            elif which == "transition":
                self.transitions.append((time.monotonic(), message.transition))
            else:
                self.heartbeats += 1
            self._changed.set()

    async def wait_snapshot(self, timeout: float = 10.0) -> pb.StatusSnapshot:
        deadline = time.monotonic() + timeout
        while self.snapshot is None:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no snapshot")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.snapshot

    async def wait_status(self, target: str, statuses: set[int], timeout: float = 10.0, after: float = 0.0) -> tuple[float, pb.StatusTransition]:
        """The first transition of `target` into one of `statuses` that arrived
        after `after` (the snapshot counts as one when it is in such a status)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.snapshot is not None and self.snapshot_at >= after:
                for state in self.snapshot.targets:
                    if state.target == target and state.status in statuses:
                        return self.snapshot_at, pb.StatusTransition(
                            target=target, kind=state.kind, to_status=state.status, reason="snapshot", state=state
                        )
            for at, t in self.transitions:
                if at >= after and t.target == target and t.to_status in statuses:
                    return at, t
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [(t.target, pb.TargetStatus.Name(t.to_status), t.reason) for _, t in self.transitions]
                raise AssertionError(f"{target} never reached {statuses} within {timeout} s "
                                     f"(stream {self.ended or 'open'}); transitions: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        self._call.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def status_stream(channel: grpc.aio.Channel, request: pb.WatchStatusRequest | None = None) -> AsyncIterator[StatusStream]:
    stream = StatusStream(channel, request)
    try:
        yield stream
    finally:
        await stream.close()


# What the `start_monitor` fixture (conftest.py) returns: start(**settings) -> (service, app).
StartMonitor = Callable[..., Awaitable[tuple["RunningService", "MonitorApp"]]]

if TYPE_CHECKING:
    from services.health.app import MonitorApp
    from switchboard.testing.services import RunningService
