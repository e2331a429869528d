"""Backend config validation (errors name backends[i].field) and the default set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.router.backends import (
    BackendClient,
    BackendConfig,
    BackendKind,
    default_backends,
    load_backends,
    make_http_client,
    ollama_probe,
)
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.infra import free_port

LOCAL = {"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:8000", "model": "qwen"}


def error_of(tables: list[dict[str, Any]], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ValueError) as info:
        load_backends(tables, env or {})
    return str(info.value)


def test_valid_tables_load_with_defaults() -> None:
    configs = load_backends(
        [
            LOCAL,
            {"name": "claude", "kind": "anthropic", "base_url": "https://api.anthropic.com", "model": "c", "api_key_env": "AK",
             "priority": 5, "timeouts": {"first_token_s": 2.5}, "cost_per_1k_prompt_tokens": 0.003},
            {"name": "demo", "kind": "mock", "mock": {"token_delay_s": 0.01, "fail_rate": 0.1, "seed": 3}},
        ],
        {"AK": "k"},
    )
    local, claude, demo = configs
    assert local.priority == 100 and local.timeouts.total_s == 300 and local.api_key({}) is None
    assert claude.timeouts.first_token_s == 2.5 and claude.timeouts.connect_s == 5
    assert claude.api_key({"AK": "k"}) == "k"
    assert demo.kind is BackendKind.mock and demo.is_mock and demo.model == "mock"
    assert demo.mock is not None and demo.mock.fail_rate == 0.1


def test_empty_list_is_empty() -> None:
    assert load_backends([], {}) == []


def test_an_inline_api_key_is_rejected_with_a_clear_message() -> None:
    message = error_of([{**LOCAL, "api_key": "sk-live-123"}])
    assert "backends[0].api_key:" in message
    assert "api_key_env" in message
    assert "sk-live-123" not in message  # never echo a secret


def test_a_key_in_api_key_env_is_rejected_without_echoing_it() -> None:
    message = error_of([{**LOCAL, "api_key_env": "sk-live-1234567890"}])
    assert "backends[0].api_key_env:" in message
    assert "sk-live-1234567890" not in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"name": ""}, "name"),
        ({"kind": "grpc"}, "kind"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"model": ""}, "model"),
        ({"timeouts": {"connect_s": 0}}, "timeouts.connect_s"),
        ({"timeouts": {"total_s": -1}}, "timeouts.total_s"),
        ({"cost_per_1k_prompt_tokens": -0.1}, "cost_per_1k_prompt_tokens"),
        ({"mock": {"text": "x"}}, "mock"),
        ({"prioritty": 3}, "prioritty"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], field: str) -> None:
    message = error_of([LOCAL, {**LOCAL, "name": "second", **change}])
    assert f"backends[1].{field}:" in message, message
    assert "backends[0]" not in message


def test_mock_fault_options_are_validated() -> None:
    message = error_of([{"name": "m", "kind": "mock", "mock": {"fail_rate": 1.5}}])
    assert "backends[0].mock.fail_rate:" in message


def test_duplicate_names() -> None:
    message = error_of([LOCAL, {**LOCAL}])
    assert "backends[1].name: duplicate backend name 'local' (also backends[0])" in message


def test_every_problem_is_reported_at_once() -> None:
    message = error_of([{**LOCAL, "name": "A"}, {**LOCAL, "base_url": "nope"}])
    assert "backends[0].name" in message and "backends[1].base_url" in message


def test_anthropic_needs_a_key_variable() -> None:
    table = {"name": "a", "kind": "anthropic", "base_url": "https://api.anthropic.com", "model": "c"}
    assert "backends[0].api_key_env: required for anthropic" in error_of([table])
    message = error_of([{**table, "api_key_env": "MY_ANTHROPIC"}], {})
    assert "backends[0].api_key_env: environment variable MY_ANTHROPIC is not set" in message
    assert load_backends([{**table, "api_key_env": "MY_ANTHROPIC"}], {"MY_ANTHROPIC": "k"})[0].name == "a"


def test_openai_service_needs_a_key_but_local_compatible_servers_do_not() -> None:
    table = {"name": "o", "kind": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt"}
    assert "backends[0].api_key_env: required" in error_of([table])
    assert "OPENAI_API_KEY is not set" in error_of([{**table, "api_key_env": "OPENAI_API_KEY"}], {"OPENAI_API_KEY": ""})
    assert load_backends([LOCAL, {"name": "ol", "kind": "ollama", "base_url": "http://h:11434", "model": "l"}], {})


def test_config_is_frozen() -> None:
    config = BackendConfig(**LOCAL)
    with pytest.raises(Exception):
        config.priority = 1  # type: ignore[misc]


async def _yes() -> bool:
    return True


async def _no() -> bool:
    return False


async def _boom() -> bool:
    raise RuntimeError("probe blew up")


async def test_default_is_a_single_mock() -> None:
    configs = await default_backends({}, _no)
    assert [(c.name, c.kind) for c in configs] == [("mock", BackendKind.mock)]


async def test_default_probe_failure_counts_as_absent() -> None:
    configs = await default_backends({}, _boom)
    assert [c.name for c in configs] == ["mock"]


async def test_default_picks_what_is_there() -> None:
    env = {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "ak-1", "SWITCHBOARD_OLLAMA_MODEL": "qwen2.5"}
    configs = await default_backends(env, _yes)
    assert [(c.name, c.kind) for c in configs] == [
        ("ollama", BackendKind.ollama),
        ("openai", BackendKind.openai),
        ("anthropic", BackendKind.anthropic),
    ]
    ollama, openai, anthropic = configs
    assert ollama.base_url == "http://localhost:11434" and ollama.model == "qwen2.5"
    assert openai.api_key(env) == "sk-1" and anthropic.api_key(env) == "ak-1"
    assert ollama.priority < openai.priority < anthropic.priority  # local first
    # the defaults themselves pass the file's validation
    load_backends([c.model_dump(mode="json") for c in configs], env)


async def test_default_with_only_one_key() -> None:
    configs = await default_backends({"ANTHROPIC_API_KEY": "ak", "OPENAI_API_KEY": ""}, _no)
    assert [c.name for c in configs] == ["anthropic"]


@pytest.fixture
async def client() -> AsyncIterator[BackendClient]:
    async with make_http_client(trust_env=False) as c:
        yield c


async def test_ollama_probe_on_real_sockets(client: BackendClient) -> None:
    async with FakeBackend() as fb:
        assert await ollama_probe(client, fb.url)() is True
        assert fb.requests[-1].path == "/api/tags"
        fb.set_fault("http_error:500", probes=True)
        assert await ollama_probe(client, fb.url)() is False
    assert await ollama_probe(client, f"http://127.0.0.1:{free_port()}")() is False
