"""The HTTP counterpart of the gRPC bootstrap (the gateway; scrape endpoints):
an ASGI app on uvicorn, on a socket we bind ourselves so `--port 0` works and
the bound port is known, with graceful shutdown driven by our own signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any, Protocol

import uvicorn

from switchboard.runtime.server import Runtime


class HttpApp(Protocol):
    """An HTTP service as the bootstrap sees it."""

    asgi: Any  # the ASGI application

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Signals belong to the process entry point, which calls HttpServer.stop.
        yield


class HttpServer:
    def __init__(self, app: HttpApp, runtime: Runtime, *, port: int) -> None:
        self._app = app
        self._runtime = runtime
        self._requested_port = port
        self.port = 0
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        host = self._runtime.settings.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, self._requested_port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        await self._app.start()
        config = uvicorn.Config(
            self._app.asgi,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self._runtime.settings.shutdown_grace_s),
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raise whatever stopped it
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        self._runtime.stopping.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        await self._app.stop()
        if self._runtime.channels is not None:
            await self._runtime.channels.close()
