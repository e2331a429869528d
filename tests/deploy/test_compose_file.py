"""compose.yaml and the Dockerfile: no Docker engine runs here, so check the
structure an operator relies on, and run the healthcheck command for real."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard.mesh import SERVICES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_infrastructure_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one")
    assert str(jaeger["environment"]["COLLECTOR_OTLP_ENABLED"]).lower() == "true"
    assert {"16686:16686", "4317:4317"} <= set(jaeger["ports"])
    for name in ("postgres", "redis", "jaeger"):
        assert services[name]["healthcheck"]["test"], name


@pytest.mark.parametrize("entry", SERVICES, ids=lambda e: e.name)
def test_every_mesh_service(compose: dict[str, Any], entry: Any) -> None:
    svc = compose["services"][entry.name]
    assert svc["build"] == "." and svc["image"] == "switchboard:latest"  # one image
    assert svc["command"] == ["serve", entry.name]
    env = svc["environment"]
    assert env["SWITCHBOARD_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["SWITCHBOARD_REDIS_URL"].startswith("redis://redis:6379")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
    assert env["OTEL_SERVICE_NAME"] == f"switchboard-{entry.name}"
    assert env["SWITCHBOARD_HOST"] == "0.0.0.0"
    # Jaeger takes OTLP traces over gRPC but no OTLP metrics: Prometheus scrapes instead.
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_METRICS_EXPORTER"] == "none"
    assert int(env[f"SWITCHBOARD_{entry.name.upper()}_METRICS_PORT"]) > 0
    # A real health check (grpc.health.v1 / the gateway's /healthz), never a TCP check.
    assert svc["healthcheck"]["test"] == ["CMD", "switchboard", "probe", entry.name]
    for dep, cond in svc["depends_on"].items():
        assert dep in compose["services"]
        assert cond == {"condition": "service_healthy"}


def test_peer_addresses_name_compose_services(compose: dict[str, Any]) -> None:
    env = compose["x-switchboard-env"]
    for entry in SERVICES:
        host = env[f"SWITCHBOARD_{entry.name.upper()}_ADDRESS"].split(":")[0]
        assert host == entry.name and host in compose["services"]


def test_dockerfile_runs_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["switchboard"]' in text
    assert "USER switchboard" in text  # not root
    for port in ("50051", "50052", "50053", "50054", "50055", "8080"):
        assert port in text


async def _probe(env: dict[str, str], service: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.cli", "probe", service,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_probe_is_a_grpc_health_check(serve: Any, mesh_settings: Any) -> None:
    import os

    running = await serve("cache")
    env = {**os.environ, "SWITCHBOARD_CACHE_ADDRESS": running.address}
    code, out = await _probe(env, "cache")
    assert code == 0 and "SERVING" in out
    await running.server.health.begin_shutdown()  # NOT_SERVING: the probe must fail
    code, out = await _probe(env, "cache")
    assert code == 1 and "NOT_SERVING" in out
    from switchboard.testing.infra import free_port

    env["SWITCHBOARD_CACHE_ADDRESS"] = f"127.0.0.1:{free_port()}"
    code, out = await _probe(env, "cache")
    assert code == 1 and "UNREACHABLE" in out
