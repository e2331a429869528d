"""Helpers of the learning suite (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from services.learning.settings import LearningSettings
from switchboard.db import sync_url
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.learning.v1 import learning_pb2_grpc
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import field_violations

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tsp(at: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out


def durp(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def fingerprint(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def interaction(
    iid: str,
    *,
    backend: str = "alpha",
    ok: bool = True,
    user: str = "alice",
    topic: str = "code",
    total_s: float | None = 1.0,
    at: datetime | None = None,
    outcome: int | None = None,
    **fields: Any,
) -> pb.Interaction:
    msg = pb.Interaction(
        interaction_id=iid,
        backend=backend,
        user_id=user,
        topic=topic,
        outcome=outcome if outcome is not None else (pb.OUTCOME_SUCCESS if ok else pb.OUTCOME_SERVER_ERROR),
        **fields,
    )
    if total_s is not None:
        msg.total_time.CopyFrom(durp(total_s))
    if at is not None:
        msg.occurred_at.CopyFrom(tsp(at))
    return msg


def settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> LearningSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "shutdown_grace_s": 1.0,
        "log_format": "text",
        "learning_seed": 7,
        "learning_startup_db_timeout_s": 10.0,
        "learning_db_timeout_s": 5.0,
        "learning_replay_backoff_max_s": 5.0,
        **overrides,
    }
    return LearningSettings(**values)


def stub(running: Any) -> learning_pb2_grpc.LearningServiceStub:
    return learning_pb2_grpc.LearningServiceStub(running.channel)


def tenant(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-switchboard-tenant", name),)


def query(url: str, sql: str, **params: Any) -> list[Any]:
    """Runs SQL synchronously on the service's database (the test's own view of it)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def count(url: str, table: str = "learning_interactions", where: str = "1=1", **params: Any) -> int:
    return int(query(url, f"SELECT count(*) FROM {table} WHERE {where}", **params)[0][0])


def via_proxy(database_url: str, port: int) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


async def violations_of(call: Awaitable[Any]) -> tuple[grpc.StatusCode, dict[str, str]]:
    """Awaits a call that must fail; returns its code and {field: description}."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), {v.field: v.description for v in field_violations(exc)}
    raise AssertionError("the call succeeded")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], clock: ManualClock | None = None, *, step_s: float = 5.0, tries: int = 200
) -> None:
    """Advances the manual clock (if any) and yields until `check()` holds."""
    for _ in range(tries):
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if clock is not None:
            clock.advance(step_s)
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


def ago(days: float = 0, hours: float = 0, base: datetime = T0) -> datetime:
    return base - timedelta(days=days, hours=hours)
