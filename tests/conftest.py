"""Shared fixtures: real PostgreSQL and Redis (from the environment, else
testcontainers, else skip — or fail under CI=true), real services on port 0."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.runtime.clock import Clock, SystemClock
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import MeshSettings
from switchboard.testing import infra
from switchboard.testing.services import RunningService, start_service

IN_CI = os.environ.get("CI") == "true"


def _unavailable(what: str, reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    try:
        with infra.postgres_server() as url:
            yield url
    except infra.Unavailable as exc:
        _unavailable("PostgreSQL", str(exc))


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test (SQLAlchemy URL, psycopg 3)."""
    with infra.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with infra.redis_server() as url:
            yield url
    except infra.Unavailable as exc:
        _unavailable("Redis", str(exc))


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses; pass it to whatever writes to Redis."""
    return f"sbt:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def mesh_settings(tmp_path: Path) -> MeshSettings:
    """Embedded-mode settings confined to this test's directory."""
    return MeshSettings(data_dir=tmp_path / "data", shutdown_grace_s=2.0, log_format="text")


ServiceStarter = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def serve(mesh_settings: MeshSettings) -> AsyncIterator[ServiceStarter]:
    """serve(name, settings=None, clock=None, app=None, shed=False) starts a real service on
    a free port; everything started is stopped at the end of the test."""
    started: list[RunningService] = []

    async def _serve(
        name: str, settings: MeshSettings | None = None, clock: Clock | None = None, app: Any = None,
        shed: bool = False,
    ) -> RunningService:
        runtime = Runtime(settings or mesh_settings, clock=clock or SystemClock())
        running = await start_service(name, runtime, app, shed=shed)
        started.append(running)
        return running

    yield _serve
    for running in reversed(started):
        await running.stop()
