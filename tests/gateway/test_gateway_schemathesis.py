"""schemathesis against /openapi.json of a live gateway (real socket) in front of
the real router (mock backend) and the real cache (in memory): generated valid
and invalid requests, no 5xx, statuses / content types / bodies as documented.

Bounded: a few examples per operation and mode, no shrinking. Operations of
learning, monitor and briefs are left out: their services are not started here,
so 503 would be the right answer and not a finding.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.settings import GatewaySettings
from services.router.settings import RouterSettings
from switchboard.runtime.settings import MeshSettings

DOWN = "127.0.0.1:1"
LIVE_PREFIXES = ("/v1/router/", "/v1/cache", "/v1/chat/", "/v1/models", "/healthz", "/readyz", "/openapi.json",
                 "/docs")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 6


def fuzz(base_url: str) -> list[str]:
    """Runs every live operation in both modes; returns the failures (blocking: run it in a thread)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    live = [op for op in operations if op.path.startswith(LIVE_PREFIXES)]
    assert len(live) >= 12, [op.path for op in live]
    failures: list[str] = []
    for operation in live:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=15)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collect every operation's failure, then report)
                text = str(exc)
                if "Unsatisfiable" in type(exc).__name__ or "unable to generate" in text.lower():
                    continue  # nothing to negate (no parameters): not a finding
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {text[:1500]}")
    return failures


@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_server_errors(serve: Any, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('[[backends]]\nname = "mock-a"\nkind = "mock"\n')
    cache = await serve("cache", settings=MeshSettings(data_dir=tmp_path, shutdown_grace_s=1))
    router = await serve("router", settings=RouterSettings(
        data_dir=tmp_path, config=config, learning_address=DOWN, cache_address=cache.address,
        monitor_address=DOWN, router_probe_ollama=False, router_outcome_flush_timeout_s=0.5, shutdown_grace_s=1))
    gateway = await serve("gateway", settings=GatewaySettings(
        data_dir=tmp_path, router_address=router.address, cache_address=cache.address, learning_address=DOWN,
        monitor_address=DOWN, briefs_address=DOWN, shutdown_grace_s=1, gateway_request_timeout_s=10,
        gateway_stream_timeout_s=10))
    # schemathesis is synchronous: run it in a thread so this loop keeps serving.
    failures = await asyncio.to_thread(fuzz, f"http://127.0.0.1:{gateway.port}")
    assert not failures, "\n\n".join(failures)
