"""The shared SQL layer (learning, monitor, briefs): async engines from a
SQLAlchemy URL, and Alembic migrations run at start-up.

PostgreSQL through psycopg 3 in production and tests; SQLite (aiosqlite, WAL) as
the embedded default. Each service keeps its own Alembic environment and version
table (`alembic_version_<service>`), so services migrate independently and could
live in separate databases. Concurrent replicas serialise their migrations on a
PostgreSQL advisory lock.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from switchboard.runtime.telemetry import instrument_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_url(url: str) -> str:
    """The same database for synchronous use (Alembic): psycopg 3 does both;
    aiosqlite becomes the standard sqlite3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return url


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # several services share one file
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine_for(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url` with sensible production settings; its
    statements are traced (SQL spans, children of the calling RPC's span)."""
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, poolclass=NullPool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        instrument_engine(engine.sync_engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # survive a database restart
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )
    instrument_engine(engine.sync_engine)
    return engine


_MIGRATION_LOCK = threading.Lock()


def run_migrations(url: str, script_location: Path, version_table: str) -> None:
    """`alembic upgrade head` for one service's environment (synchronous: call it
    in a thread from async code)."""
    from alembic import command  # noqa: PLC0415  (only needed at start-up)
    from alembic.config import Config  # noqa: PLC0415

    if is_sqlite(url):
        _prepare_sqlite_file(url)
    # A bounded connect: a stalled database must fail this attempt fast (the
    # caller retries) rather than hold the migration lock for the server's own
    # authentication timeout.
    connect_args = {} if is_sqlite(url) else {"connect_timeout": 5}
    engine = create_engine(sync_url(url), poolclass=NullPool, connect_args=connect_args)
    try:
        # Alembic's `context`/`op` are process-wide: one migration at a time per
        # process (services started in-process by tests migrate from threads).
        with _MIGRATION_LOCK, engine.begin() as connection:
            _lock(connection, version_table)
            config = Config()
            config.set_main_option("script_location", str(script_location))
            config.attributes["connection"] = connection
            config.attributes["version_table"] = version_table
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def _lock(connection: Connection, name: str) -> None:
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(name.encode())  # stable across processes, fits in bigint
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def alembic_env_run(target_metadata: Any) -> None:
    """The body of every service's `migrations/env.py`: migrate on the
    connection `run_migrations` passes in (online mode only)."""
    from alembic import context  # noqa: PLC0415

    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
    )
    with context.begin_transaction():
        context.run_migrations()
