"""Probe history, alerts and events in SQL (the shared layer: PostgreSQL or the
embedded SQLite file), with retention.

Writes are queued and flushed in batches by the monitor's writer loop, so a
slow or absent database never holds up watching: the monitor must keep
working, and saying so, exactly when the database is down. The queue is
bounded (the oldest probe samples go first; alerts are kept). Reads flush
first, so an answer includes everything observed before it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.health import tables
from services.health.alerts import copy_alert
from services.health.model import Alert, AlertKind, Delivery, HistorySample, Severity, Status
from switchboard.db import run_migrations

log = logging.getLogger("switchboard.monitor.history")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_monitor"


class StoreUnavailable(Exception):
    """The database cannot be read or written right now."""


class BadPageToken(Exception):
    pass


@dataclass(frozen=True)
class AlertFilter:
    unacknowledged_only: bool = False
    min_severity: Severity = Severity.UNSPECIFIED
    since: datetime | None = None
    target: str = ""

    def fingerprint(self) -> str:
        raw = f"{self.unacknowledged_only}|{int(self.min_severity)}|{self.since.isoformat() if self.since else ''}|{self.target}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_page_token(alert: Alert, filters: AlertFilter) -> str:
    raw = json.dumps({"t": alert.last_seen_at.isoformat(), "i": alert.id, "f": filters.fingerprint()})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: AlertFilter) -> tuple[datetime, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = datetime.fromisoformat(raw["t"])
        alert_id = str(raw["i"])
        fingerprint = raw["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadPageToken("not a page token from ListAlerts") from exc
    if fingerprint != filters.fingerprint():
        raise BadPageToken("the filters differ from those of the request that produced the token")
    return after, alert_id


def _deliveries_json(deliveries: list[Delivery]) -> str:
    return json.dumps([
        {
            "sink": d.sink,
            "delivered": d.delivered,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "last_attempt_at": d.last_attempt_at.isoformat() if d.last_attempt_at else None,
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        }
        for d in deliveries
    ])


def _deliveries_from_json(text: str) -> list[Delivery]:
    out = []
    for d in json.loads(text or "[]"):
        out.append(Delivery(
            sink=d["sink"],
            delivered=bool(d["delivered"]),
            attempts=int(d["attempts"]),
            last_error=d.get("last_error") or "",
            last_attempt_at=datetime.fromisoformat(d["last_attempt_at"]) if d.get("last_attempt_at") else None,
            delivered_at=datetime.fromisoformat(d["delivered_at"]) if d.get("delivered_at") else None,
        ))
    return out


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "dedup_key": alert.dedup_key,
        "target": alert.target,
        "severity": int(alert.severity),
        "kind": int(alert.kind),
        "title": alert.title[:300],
        "message": alert.message,
        "created_at": alert.created_at,
        "last_seen_at": alert.last_seen_at,
        "occurrences": alert.occurrences,
        "from_status": int(alert.from_status),
        "to_status": int(alert.to_status),
        "acknowledged": alert.acknowledged,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledgement_note": alert.acknowledgement_note,
        "deliveries": _deliveries_json(alert.deliveries),
    }


def _alert_from_row(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        dedup_key=row["dedup_key"],
        target=row["target"],
        severity=Severity(row["severity"]),
        kind=AlertKind(row["kind"]),
        title=row["title"],
        message=row["message"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        occurrences=row["occurrences"],
        from_status=Status(row["from_status"]),
        to_status=Status(row["to_status"]),
        acknowledged=bool(row["acknowledged"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        acknowledgement_note=row["acknowledgement_note"],
        deliveries=_deliveries_from_json(row["deliveries"]),
    )


class HistoryStore:
    def __init__(self, engine: AsyncEngine, url: str, *, max_pending_samples: int = 50_000) -> None:
        self._engine = engine
        self._url = url
        self._max_pending_samples = max_pending_samples
        self._pending: deque[tuple[str, Any]] = deque()
        self._pending_samples = 0
        self._lock = asyncio.Lock()
        self._migrate_lock = asyncio.Lock()
        self._migration: asyncio.Future[None] | None = None
        self.ready = False  # schema migrated
        self.dropped_samples = 0
        self.last_error = ""

    # -- schema --------------------------------------------------------------------------

    async def migrate(self) -> bool:
        """Brings the schema to head; False (and logged) when the database is unreachable."""
        # One at a time: Alembic's `context`/`op` are process-wide.
        async with self._migrate_lock:
            if self.ready:
                return True
            if self._migration is None or self._migration.done():
                self._migration = asyncio.ensure_future(
                    asyncio.to_thread(run_migrations, self._url, MIGRATIONS, VERSION_TABLE)
                )
            try:
                # Shielded: a cancelled caller must not leave the thread running
                # unseen while the next caller starts another migration.
                await asyncio.shield(self._migration)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  (any failure: retry later, keep monitoring)
                self.last_error = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
                log.warning("monitor history unavailable (migrations failed): %s", self.last_error)
                return False
            self.ready = True
            return True

    # -- queued writes (never block, never raise) ------------------------------------------------

    def record_sample(self, sample: HistorySample) -> None:
        if self._pending_samples >= self._max_pending_samples:
            self._drop_oldest_sample()
        self._pending.append(("sample", sample))
        self._pending_samples += 1

    def insert_alert(self, alert: Alert) -> None:
        self._pending.append(("alert", copy_alert(alert)))

    def bump_alert(self, alert: Alert) -> None:
        self._pending.append(("bump", (alert.id, alert.occurrences, alert.last_seen_at)))

    def update_deliveries(self, alert: Alert) -> None:
        self._pending.append(("deliveries", (alert.id, _deliveries_json(alert.deliveries))))

    def acknowledge(self, alert: Alert) -> None:
        self._pending.append(("ack", copy_alert(alert)))

    def record_event(self, at: datetime, target: str, kind: str, detail: dict[str, Any]) -> None:
        self._pending.append(("event", {"at": at, "target": target, "kind": kind, "detail": json.dumps(detail)}))

    def _drop_oldest_sample(self) -> None:
        for i, (op, _) in enumerate(self._pending):
            if op == "sample":
                del self._pending[i]
                self._pending_samples -= 1
                self.dropped_samples += 1
                return

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Writes everything queued in one transaction; raises StoreUnavailable
        (keeping the queue) when the database refuses."""
        async with self._lock:
            if not self._pending:
                return
            if not await self.migrate():
                raise StoreUnavailable(f"history database unavailable: {self.last_error}")
            batch = list(self._pending)
            try:
                async with self._engine.begin() as conn:
                    await self._write(conn, batch)
            except (SQLAlchemyError, OSError) as exc:
                self.last_error = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
                raise StoreUnavailable(f"history database unavailable: {self.last_error}") from None
            for _ in batch:
                op, _payload = self._pending.popleft()
                if op == "sample":
                    self._pending_samples -= 1
            self.last_error = ""

    async def _write(self, conn: AsyncConnection, batch: list[tuple[str, Any]]) -> None:
        sample_rows: list[dict[str, Any]] = []

        async def flush_samples() -> None:
            if sample_rows:
                await conn.execute(insert(tables.samples), list(sample_rows))
                sample_rows.clear()

        for op, payload in batch:
            if op == "sample":
                s: HistorySample = payload
                sample_rows.append({"target": s.target, "at": s.at, "status": int(s.status),
                                    "latency_s": s.latency_s, "detail": s.detail[:500]})
                continue
            await flush_samples()
            if op == "alert":
                row = _alert_row(payload)
                updated = await conn.execute(update(tables.alerts).where(tables.alerts.c.id == row["id"]).values(**row))
                if updated.rowcount == 0:
                    await conn.execute(insert(tables.alerts).values(**row))
            elif op == "bump":
                alert_id, occurrences, last_seen = payload
                await conn.execute(
                    update(tables.alerts).where(tables.alerts.c.id == alert_id)
                    .values(occurrences=occurrences, last_seen_at=last_seen)
                )
            elif op == "deliveries":
                alert_id, text = payload
                await conn.execute(update(tables.alerts).where(tables.alerts.c.id == alert_id).values(deliveries=text))
            elif op == "ack":
                a: Alert = payload
                await conn.execute(
                    update(tables.alerts)
                    .where(tables.alerts.c.id == a.id, tables.alerts.c.acknowledged.is_(False))
                    .values(acknowledged=True, acknowledged_by=a.acknowledged_by, acknowledged_at=a.acknowledged_at,
                            acknowledgement_note=a.acknowledgement_note)
                )
            elif op == "event":
                await conn.execute(insert(tables.events).values(**payload))
        await flush_samples()

    # -- reads -------------------------------------------------------------------------------

    async def _read(self) -> AsyncConnection:
        await self.flush()
        # flush() migrates only when something is queued: a read right after
        # start-up must not meet a schema that is not there yet.
        if not await self.migrate():
            raise StoreUnavailable(f"history database unavailable: {self.last_error}")
        try:
            return await self._engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"history database unavailable: {str(exc).splitlines()[0][:200]}") from None

    async def samples(self, target: str, since: datetime, limit: int) -> tuple[list[HistorySample], bool, HistorySample | None]:
        """(up to `limit` most recent samples since `since`, oldest first;
        whether more existed; the last sample before `since`, for uptime)."""
        c = tables.samples.c
        conn = await self._read()
        try:
            rows = (await conn.execute(
                select(tables.samples).where(c.target == target, c.at >= since)
                .order_by(c.at.desc(), c.id.desc()).limit(limit + 1)
            )).mappings().all()
            before = (await conn.execute(
                select(tables.samples).where(c.target == target, c.at < since).order_by(c.at.desc(), c.id.desc()).limit(1)
            )).mappings().first()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"history database unavailable: {str(exc).splitlines()[0][:200]}") from None
        finally:
            await conn.close()
        truncated = len(rows) > limit
        found = [self._sample(r) for r in rows[:limit]]
        found.reverse()
        return found, truncated, self._sample(before) if before is not None else None

    @staticmethod
    def _sample(row: RowMapping) -> HistorySample:
        return HistorySample(row["target"], row["at"], Status(row["status"]), row["latency_s"], row["detail"])

    async def list_alerts(self, filters: AlertFilter, after: tuple[datetime, str] | None, limit: int) -> tuple[list[Alert], bool]:
        """(alerts most recently seen first, whether more follow)."""
        c = tables.alerts.c
        query = select(tables.alerts)
        if filters.unacknowledged_only:
            query = query.where(c.acknowledged.is_(False))
        if filters.min_severity is not Severity.UNSPECIFIED:
            query = query.where(c.severity >= int(filters.min_severity))
        if filters.since is not None:
            query = query.where(c.last_seen_at >= filters.since)
        if filters.target:
            query = query.where(c.target == filters.target)
        if after is not None:
            seen, alert_id = after
            query = query.where(or_(c.last_seen_at < seen, and_(c.last_seen_at == seen, c.id < alert_id)))
        query = query.order_by(c.last_seen_at.desc(), c.id.desc()).limit(limit + 1)
        conn = await self._read()
        try:
            rows = (await conn.execute(query)).mappings().all()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"history database unavailable: {str(exc).splitlines()[0][:200]}") from None
        finally:
            await conn.close()
        return [_alert_from_row(r) for r in rows[:limit]], len(rows) > limit

    async def get_alert(self, alert_id: str) -> Alert | None:
        conn = await self._read()
        try:
            row = (await conn.execute(select(tables.alerts).where(tables.alerts.c.id == alert_id))).mappings().first()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"history database unavailable: {str(exc).splitlines()[0][:200]}") from None
        finally:
            await conn.close()
        return _alert_from_row(row) if row is not None else None

    async def events(self, target: str = "") -> list[dict[str, Any]]:
        c = tables.events.c
        query = select(tables.events).order_by(c.at, c.id)
        if target:
            query = query.where(c.target == target)
        conn = await self._read()
        try:
            rows = (await conn.execute(query)).mappings().all()
        finally:
            await conn.close()
        return [{"at": r["at"], "target": r["target"], "kind": r["kind"], "detail": json.loads(r["detail"])} for r in rows]

    async def prune(self, before: datetime) -> dict[str, int]:
        """Deletes samples, events and alerts (by last sighting) older than `before`."""
        if not await self.migrate():
            raise StoreUnavailable(f"history database unavailable: {self.last_error}")
        counts: dict[str, int] = {}
        try:
            async with self._engine.begin() as conn:
                for name, table, column in (
                    ("samples", tables.samples, tables.samples.c.at),
                    ("events", tables.events, tables.events.c.at),
                    ("alerts", tables.alerts, tables.alerts.c.last_seen_at),
                ):
                    result = await conn.execute(delete(table).where(column < before))
                    counts[name] = int(result.rowcount or 0)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"history database unavailable: {str(exc).splitlines()[0][:200]}") from None
        return counts

    async def count_samples(self, target: str) -> int:
        conn = await self._read()
        try:
            return int((await conn.execute(
                select(func.count()).select_from(tables.samples).where(tables.samples.c.target == target)
            )).scalar_one())
        finally:
            await conn.close()

    async def close(self) -> None:
        if self._migration is not None and not self._migration.done():
            await asyncio.wait({self._migration}, timeout=30)
        await self._engine.dispose()
