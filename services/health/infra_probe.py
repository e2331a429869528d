"""Connection probes of the shared infrastructure: the SQL database (`SELECT 1`
through SQLAlchemy, PostgreSQL via psycopg 3 or the embedded SQLite file) and
Redis (`PING`). Each keeps one small pooled connection between probes."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from services.health.model import ProbeResult, Status
from switchboard.db import is_sqlite
from switchboard.runtime.clock import Clock

# Words in a driver's error that mean nothing answered (rather than "answered: no").
_UNREACHABLE_HINTS = ("refused", "timeout", "timed out", "could not connect", "connection is closed",
                      "server closed", "no route", "unreachable", "reset by peer", "name or service not known")


def safe_dsn(url: str) -> str:
    """The URL without its password (what the monitor shows as the endpoint)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text_[0] if text_ else exc.__class__.__name__)[:200]


def _verdict(detail: str) -> Status:
    lowered = detail.lower()
    return Status.UNREACHABLE if any(hint in lowered for hint in _UNREACHABLE_HINTS) else Status.UNHEALTHY


def _probe_engine(url: str, timeout_s: float) -> AsyncEngine:
    """One pooled connection, re-validated before use (so a restarted database
    is reconnected, not misreported). Not `create_engine_for`: its SQL tracing
    would add a root span every probe."""
    if is_sqlite(url):
        return create_async_engine(url, poolclass=NullPool)
    return create_async_engine(
        url, pool_size=1, max_overflow=0, pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, int(timeout_s + 0.999))},
    )


class DatabaseProbe:
    """SELECT 1 on the SQL database the mesh uses."""

    def __init__(self, url: str, clock: Clock, *, timeout_s: float) -> None:
        self.endpoint = safe_dsn(url)
        self._engine = _probe_engine(url, timeout_s)
        self._clock = clock
        self._timeout = timeout_s

    async def probe(self) -> ProbeResult:
        began = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except TimeoutError:
            await self._reset()
            return ProbeResult(Status.UNREACHABLE, None, f"no answer within {self._timeout:g} s")
        except (SQLAlchemyError, OSError) as exc:
            await self._reset()
            detail = _first_line(exc)
            return ProbeResult(_verdict(detail), None, detail)
        return ProbeResult(Status.HEALTHY, self._clock.monotonic() - began, "")

    async def _reset(self) -> None:
        # Drop pooled connections a cut link may have left half-open.
        with contextlib.suppress(Exception):
            await self._engine.dispose()

    async def close(self) -> None:
        await self._engine.dispose()


class RedisProbe:
    """PING on the Redis server the cache uses."""

    def __init__(self, url: str, clock: Clock, *, timeout_s: float) -> None:
        self.endpoint = safe_dsn(url)
        self._client = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, max_connections=2
        )
        self._clock = clock
        self._timeout = timeout_s

    async def probe(self) -> ProbeResult:
        began = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
        except (TimeoutError, RedisTimeoutError):
            await self._reset()
            return ProbeResult(Status.UNREACHABLE, None, f"no answer within {self._timeout:g} s")
        except RedisConnectionError as exc:
            await self._reset()
            return ProbeResult(Status.UNREACHABLE, None, _first_line(exc))
        except (RedisError, OSError) as exc:
            detail = _first_line(exc)
            return ProbeResult(_verdict(detail), None, detail)
        return ProbeResult(Status.HEALTHY, self._clock.monotonic() - began, "")

    async def _reset(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.connection_pool.disconnect()

    async def close(self) -> None:
        await self._client.aclose()


NO_REDIS = ProbeResult(Status.NOT_AVAILABLE, None, "no Redis configured: the cache keeps its entries in memory")
