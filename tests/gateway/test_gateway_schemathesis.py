"""schemathesis against /openapi.json of a live gateway (real socket) in front of
the whole real mesh (tests/gateway/conftest.py): generated valid and invalid
requests for every operation, no 5xx, statuses / content types / bodies as
documented.

Bounded: a few examples per operation and mode, no shrinking; once a service
has used SERVICE_BUDGET_S, its remaining operations get one example per mode
(every operation is still called). Watch streams never end on their own:
schemathesis reads them for STREAM_READ_S and judges what arrived, one example
per mode.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
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

from gateway_mesh import Mesh

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 3
SERVICE_BUDGET_S = 6.0
STREAM_READ_S = 1.5
SERVICES = {  # operation tag → what a report calls it
    "switchboard.router.v1.RouterService": "router",
    "switchboard.cache.v1.CacheService": "cache",
    "switchboard.learning.v1.LearningService": "learning",
    "switchboard.monitor.v1.MonitorService": "monitor",
    "switchboard.briefs.v1.BriefService": "briefs",
    "OpenAI-compatible": "openai",
    "gateway": "gateway",
}


# Successful calls generated data rarely reaches (the streams above all), checked against the document too.
KNOWN_GOOD: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/router/generate", {"body": {"prompt": "stream me"}}),
    ("POST", "/v1/router/complete", {"body": {"prompt": "answer me"}}),
    ("POST", "/v1/chat/completions", {"body": {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
                                               "stream": True, "stream_options": {"include_usage": True}}}),
    ("POST", "/v1/chat/completions", {"body": {"model": "mock-a", "messages": [{"role": "user", "content": "hi"}]}}),
    ("GET", "/v1/models", {}),
    ("GET", "/v1/monitor/status:watch", {}),
    ("GET", "/v1/briefs/owners/{owner_id}/briefs:watch", {"path_parameters": {"owner_id": "ann"},
                                                          "query": {"since": "2026-03-09T00:00:00Z"}}),
    ("GET", "/v1/cache/stats", {}),
    ("GET", "/v1/learning/insights", {}),
]


def check_known_good(base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures = []
    for method, path, parts in KNOWN_GOOD:
        operation = schema[path][method]
        if "body" in parts:
            parts = {**parts, "media_type": "application/json"}
        case = operation.Case(**parts)
        try:
            timeout = STREAM_READ_S if path.endswith(":watch") else 15  # watches never end on their own
            response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=timeout)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collect, then report)
            failures.append(f"{method} {path}: {str(exc)[:1500]}")
            continue
        if response.status_code != 200:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return failures


def fuzz(base_url: str) -> tuple[list[str], dict[str, tuple[int, int, float]]]:
    """Runs every operation in both modes; returns the failures and, per service,
    (operations, requests, seconds). Blocking: run it in a thread."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    by_service: dict[str, list[Any]] = defaultdict(list)
    for result in schema.get_all_operations():
        operation = result.ok()
        by_service[SERVICES[operation.tags[0]]].append(operation)
    failures: list[str] = []
    timings: dict[str, tuple[int, int, float]] = {}
    for service, operations in by_service.items():
        began = time.monotonic()
        calls = 0
        for operation in operations:
            watch = operation.path.endswith(":watch")  # a stream that never ends on its own
            timeout = STREAM_READ_S if watch else 15
            over_budget = time.monotonic() - began > SERVICE_BUDGET_S
            examples = 1 if watch or over_budget else EXAMPLES
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    nonlocal calls
                    calls += 1
                    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=timeout)

                try:
                    run()
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collect every operation's failure, then report)
                    text = str(exc)
                    if "Unsatisfiable" in type(exc).__name__ or "unable to generate" in text.lower():
                        continue  # nothing to negate (no parameters): not a finding
                    failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {text[:1500]}")
        timings[service] = (len(operations), calls, time.monotonic() - began)
    return failures, timings


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_errors_across_the_mesh(full_mesh: Mesh) -> None:
    # schemathesis is synchronous: run it in a thread so this loop keeps serving the mesh.
    failures = await asyncio.to_thread(check_known_good, full_mesh.url)
    assert not failures, "\n\n".join(failures)
    failures, timings = await asyncio.to_thread(fuzz, full_mesh.url)
    print({service: f"{n} operations, {calls} requests, {s:.1f}s" for service, (n, calls, s) in timings.items()})
    assert set(timings) == set(SERVICES.values()), timings  # every service's operations were exercised
    assert sum(n for n, _, _ in timings.values()) >= 45
    assert all(calls >= n for n, calls, _ in timings.values()), timings
    assert not failures, "\n\n".join(failures)
