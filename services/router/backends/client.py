"""The pooled HTTP client the backend adapters share: one aiohttp session.

aiohttp, not httpx, because this is the router's hot path: a streamed 20-token
answer read to its end costs ~0.45 ms of CPU through aiohttp against ~1.6 ms
through httpx (issue 11), paid on every routed request.

aiohttp does not time the wait for a free pooled connection by itself (its
`connect` timeout lumps it in with the connect). That wait is local overload,
never the backend's failure, so it is timed here: a semaphore as wide as the
connector's limit is taken, within `pool_wait_s`, before every request and
given back when its response is finished, so the connector itself never waits.

Proxies come from HTTP_PROXY/HTTPS_PROXY/NO_PROXY, decided once per backend
origin: aiohttp's own `trust_env` re-reads the environment and looks up ~/.netrc
in a worker thread on every request, which cost the router ~1 ms of CPU per
routed request. ~/.netrc is not consulted (backends authenticate with keys).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any, Self

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from opentelemetry.propagate import inject
from opentelemetry.util.http import get_excluded_urls
from yarl import URL


class PoolExhausted(Exception):
    """No pooled connection came free within the pool wait."""


# What a request through the client can raise besides BackendError and
# cancellation (TimeoutError, being an OSError, is among them).
TRANSPORT_ERRORS = (aiohttp.ClientError, HttpProcessingError, PoolExhausted, OSError)


class BackendClient:
    """Requests through a bounded pool; every `send` is paired with `finish`."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry_s: float,
        pool_timeout_s: float,
        trust_env: bool,
        trace_configs: Iterable[aiohttp.TraceConfig] = (),
        propagate_trace_context: bool = False,
    ) -> None:
        self.pool_timeout_s = pool_timeout_s
        # Without trace configs (no span recorded, no metric), `traceparent` is
        # added here: aiohttp's tracing signals cost ~5% of the router's CPU.
        # Not to the URLs OpenTelemetry's aiohttp instrumentation is told to leave
        # alone (OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS), as it would.
        self._propagate = propagate_trace_context
        self._untraced = get_excluded_urls("AIOHTTP_CLIENT")
        self._traced_of: dict[str, bool] = {}  # one entry per backend URL
        self._proxies = urllib.request.getproxies_environment() if trust_env else {}
        self._proxy_of: dict[tuple[str, str, int | None], str | None] = {}
        self._slots = asyncio.Semaphore(max_connections)
        connector = _IdleCappedConnector(
            max_idle=max_keepalive_connections,
            limit=max_connections,
            limit_per_host=0,
            keepalive_timeout=keepalive_expiry_s,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            # Per request: the backend's connect timeout; reads are bounded by the
            # adapters' own first-token/gap/total deadlines.
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            trust_env=False,  # proxies: _proxy_for
            trace_configs=list(trace_configs) or None,
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        connect_s: float,
    ) -> aiohttp.ClientResponse:
        """The response, its headers read and its body not; pass it to `finish`.
        Raises PoolExhausted, aiohttp.ClientError or OSError."""
        await self._take_slot()
        try:
            if self._propagate and self._traced(url):
                headers = dict(headers)
                inject(headers)
            data = None
            if json_body is not None:
                # Compact UTF-8 JSON, as httpx sent it (aiohttp's default is ASCII with spaces).
                data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
                headers = {**headers, "content-type": "application/json"}
            return await self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                proxy=self._proxy_for(url),
                timeout=aiohttp.ClientTimeout(total=None, connect=connect_s, sock_connect=connect_s, sock_read=None),
            )
        except BaseException:
            self._slots.release()
            raise

    def finish(self, response: aiohttp.ClientResponse) -> None:
        """Done with a response: a body read to its end goes back to the pool,
        an unfinished one closes its connection now (it is never reused)."""
        try:
            if response.content.at_eof():
                response.release()
            else:
                response.close()
        finally:
            self._slots.release()

    async def fetch(self, url: str, *, headers: Mapping[str, str], connect_s: float) -> tuple[int, Mapping[str, str], bytes]:
        """GET `url` and read the whole body: status, headers, body."""
        response = await self.send("GET", url, headers=headers, connect_s=connect_s)
        try:
            return response.status, response.headers, await response.read()
        finally:
            self.finish(response)

    def _traced(self, url: str) -> bool:
        traced = self._traced_of.get(url)
        if traced is None:
            # Matched on the normalised URL, as OpenTelemetry's instrumentation does.
            traced = self._traced_of[url] = not self._untraced.url_disabled(str(URL(url)))
        return traced

    def _proxy_for(self, url: str) -> str | None:
        if not self._proxies:
            return None
        parsed = URL(url)
        origin = (parsed.scheme, parsed.host or "", parsed.port)
        if origin not in self._proxy_of:  # one entry per backend origin
            bypass = urllib.request.proxy_bypass_environment(parsed.host or "", self._proxies)
            self._proxy_of[origin] = None if bypass else self._proxies.get(parsed.scheme)
        return self._proxy_of[origin]

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once, no timer needed
            return
        try:
            async with asyncio.timeout(self.pool_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolExhausted(f"no free connection within {self.pool_timeout_s:g}s") from None

    async def aclose(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _IdleCappedConnector(aiohttp.TCPConnector):
    """A TCPConnector that keeps at most `max_idle` idle connections (httpx's
    `max_keepalive_connections`): after a burst, the surplus is closed rather
    than held open at the backend until the keep-alive expiry."""

    def __init__(self, *, max_idle: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle = max_idle

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        # `_release`/`_conns` are aiohttp internals (3.10-3.14): the one place a
        # connection is either pooled or closed.
        idle = sum(len(conns) for conns in self._conns.values())
        super()._release(key, protocol, should_close=should_close or idle >= self._max_idle)
