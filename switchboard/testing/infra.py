"""Finding PostgreSQL and Redis for tests.

Order: the URL in the environment (SWITCHBOARD_TEST_DATABASE_URL /
SWITCHBOARD_TEST_REDIS_URL), else a testcontainers container when a Docker
engine answers, else unavailable with the reason. The caller decides whether
unavailable means skip or (under CI=true) fail.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from switchboard.testing.ports import PortPicker

DATABASE_ENV = "SWITCHBOARD_TEST_DATABASE_URL"
REDIS_ENV = "SWITCHBOARD_TEST_REDIS_URL"


class Unavailable(Exception):
    pass


def _reachable(host: str, port: int, timeout: float = 2.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc})"


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A SQLAlchemy URL (postgresql+psycopg) of a server we may create databases on."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        parsed = make_url(url)
        problem = _reachable(parsed.host or "127.0.0.1", parsed.port or 5432)
        if problem:
            raise Unavailable(f"{DATABASE_ENV}={parsed.render_as_string()}: {problem}")
        yield url
        return
    with _container("testcontainers.postgres", "PostgresContainer", "postgres:16-alpine") as pg:
        yield pg.get_connection_url(driver="psycopg")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    url = os.environ.get(REDIS_ENV)
    if url:
        parsed = make_url(url.replace("redis://", "redis+x://", 1))
        problem = _reachable(parsed.host or "127.0.0.1", parsed.port or 6379)
        if problem:
            raise Unavailable(f"{REDIS_ENV}={url}: {problem}")
        yield url
        return
    with _container("testcontainers.redis", "RedisContainer", "redis:7-alpine") as rc:
        yield f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"


@contextlib.contextmanager
def _container(module: str, cls: str, image: str) -> Iterator[object]:
    try:
        container_cls = getattr(__import__(module, fromlist=[cls]), cls)
        container = container_cls(image)
        container.start()
    except Exception as exc:  # noqa: BLE001  (no engine, no image: all mean unavailable)
        raise Unavailable(f"no URL in the environment and no Docker engine for testcontainers ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    try:
        yield container
    finally:
        container.stop()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped afterwards."""
    import psycopg  # noqa: PLC0415

    parsed = make_url(server_url)
    name = f"sbt_{uuid.uuid4().hex[:12]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# One picker per test process, so no two callers in it ever get the same port.
_PORTS = PortPicker.below_ephemeral_range(seed=os.getpid())


def free_port() -> int:
    """A port free right now and never handed out before in this process, for child
    processes that cannot use port 0 (see ports.py for why not port 0 and close)."""
    return _PORTS.pick()
