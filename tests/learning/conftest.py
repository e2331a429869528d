"""Fixtures of the learning suite: a database of each kind, a manual clock,
and a TCP proxy in front of the shared PostgreSQL to cut it off at will."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from switchboard.runtime.clock import ManualClock
from switchboard.testing.tcp_proxy import TcpProxy
from learning_support import T0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite default and on real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'learning.db'}"
    return str(request.getfixturevalue("database_url"))


@pytest.fixture
async def pg_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy to the test's PostgreSQL; `await pg_proxy.down()` cuts it off."""
    parsed = make_url(database_url)
    async with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        yield proxy
