"""The router's default backends, as the app builds them when no [[backends]]
are configured: Ollama on localhost:11434 when it answers, OpenAI / Anthropic
when their key variables are set, otherwise the labelled mock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from router_harness import CLOSED
from services.router.app import RouterApp
from services.router.settings import RouterSettings
from switchboard.router.v1 import router_pb2 as R
from switchboard.router.v1 import router_pb2_grpc
from switchboard.runtime.server import Runtime
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.services import start_service


async def listed_with(mesh_settings: MeshSettings, env: Mapping[str, str], **overrides: Any) -> list[tuple]:
    settings = RouterSettings(**{**mesh_settings.model_dump(), "learning_address": CLOSED, "cache_address": CLOSED,
                                 "monitor_address": CLOSED, **overrides})
    runtime = Runtime(settings)
    running = await start_service("router", runtime, RouterApp(runtime, env=env))
    try:
        assert running.channel is not None
        listed = await router_pb2_grpc.RouterServiceStub(running.channel).ListBackends(R.ListBackendsRequest(), timeout=5)
        return [(b.name, b.kind, b.base_url, b.mock) for b in listed.backends]
    finally:
        await running.stop()


async def test_key_variables_choose_the_hosted_backends(mesh_settings) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "ak-test"}
    assert await listed_with(mesh_settings, env, router_probe_ollama=False) == [
        ("openai", R.BACKEND_KIND_OPENAI, "https://api.openai.com", False),
        ("anthropic", R.BACKEND_KIND_ANTHROPIC, "https://api.anthropic.com", False),
    ]


async def test_nothing_there_is_the_mock(mesh_settings) -> None:
    assert await listed_with(mesh_settings, {}, router_probe_ollama=False) == [("mock", R.BACKEND_KIND_MOCK, "", True)]


async def test_ollama_on_its_default_port_is_used_when_it_answers(mesh_settings) -> None:
    fake = FakeBackend(port=11434)
    try:
        await fake.start()
    except OSError:
        pytest.skip("port 11434 is taken (a real Ollama?): the app's probe cannot be pointed at a fake")
    try:
        assert await listed_with(mesh_settings, {}) == [
            ("ollama", R.BACKEND_KIND_OLLAMA, "http://localhost:11434", False)]
        assert any(r.path == "/api/tags" for r in fake.requests)
    finally:
        await fake.stop()
