"""The HTTP counterpart of the gRPC bootstrap (the gateway; scrape endpoints):
an ASGI app on uvicorn, on a socket we bind ourselves so `--port 0` works and
the bound port is known, with graceful shutdown driven by our own signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator
from typing import Any, Protocol

import uvicorn

from switchboard.runtime.server import Runtime
from switchboard.runtime.telemetry import wrap_asgi

# Probes are polled every few seconds: not worth a trace each.
UNTRACED_PATHS = ("/healthz", "/readyz")


# Idle keep-alive of the server. It must be longer than the idle timeout of
# whatever calls it (httpx 5 s, load balancers typically 60 s), so the caller,
# never the server, closes an idle connection.
KEEP_ALIVE_S = 75


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
    def __init__(
        self, app: HttpApp, runtime: Runtime, *, port: int, before_serving: Callable[[], None] | None = None
    ) -> None:
        self._app = app
        self._before_serving = before_serving  # once started, before the lag probe
        self._runtime = runtime
        self._requested_port = port
        self.port = 0
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        host = self._runtime.settings.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is TCP,
        # and with proto 0 Nagle + delayed ACK held each streamed response back ~40 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, self._requested_port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        await self._app.start()
        asgi = self._app.asgi
        if self._runtime.tracer_provider is not None:
            # One SERVER span per request, parent of the gRPC calls made to serve it.
            asgi = wrap_asgi(asgi, self._runtime.tracer_provider, self._runtime.meter_provider, UNTRACED_PATHS)
        config = uvicorn.Config(
            asgi,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self._runtime.settings.shutdown_grace_s),
            # The server must outlast its clients' idle connections: with uvicorn's
            # 5 s default, equal to httpx's keep-alive expiry, a client can reuse
            # a connection just as the server closes it (a ReadError).
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raise whatever stopped it
            await asyncio.sleep(0.01)
        if self._before_serving is not None:
            self._before_serving()
        self._runtime.lag_probe.start()  # the app refuses new requests while the loop lags
        return self.port

    async def stop(self) -> None:
        self._runtime.stopping.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await self._task
            finally:
                await self._runtime.lag_probe.stop()
        await self._app.stop()
        if self._runtime.channels is not None:
            await self._runtime.channels.close()
