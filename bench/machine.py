"""What the numbers were measured on."""

from __future__ import annotations

import contextlib
import os
import platform
from importlib import metadata
from typing import Any

import psutil


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _postgres_version(url: str | None) -> str:
    if not url:
        return "not reachable"
    import psycopg  # noqa: PLC0415

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except Exception:  # noqa: BLE001
        return "not reachable"


def _redis_version(url: str | None) -> str:
    if not url:
        return "not reachable"
    import redis  # noqa: PLC0415

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        version = str(client.info("server").get("redis_version", "?"))
        client.close()
        return version
    except Exception:  # noqa: BLE001
        return "not reachable"


def describe(database_url: str | None, redis_url: str | None) -> dict[str, Any]:
    from google.protobuf.internal import api_implementation  # noqa: PLC0415

    freq = psutil.cpu_freq()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.current) if freq else None,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "grpcio": _version("grpcio"),
        "protobuf": f"{_version('protobuf')} ({api_implementation.Type()})",
        "uvicorn": _version("uvicorn"),
        "starlette": _version("starlette"),
        "httpx": _version("httpx"),
        "aiohttp": _version("aiohttp"),
        "httptools": _version("httptools"),
        "sqlalchemy": _version("SQLAlchemy"),
        "psycopg": _version("psycopg"),
        "postgresql": _postgres_version(database_url),
        "redis": _redis_version(redis_url),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
