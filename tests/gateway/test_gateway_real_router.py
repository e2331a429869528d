"""The `openai` SDK through the gateway and the real router (issue #3) with its
deterministic mock backend (learning, cache and monitor down)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from services.gateway.settings import GatewaySettings
from services.router.settings import RouterSettings

DOWN = "127.0.0.1:1"  # nothing listens here


@pytest.fixture
async def client(serve: Any, tmp_path: Path) -> AsyncIterator[openai.AsyncOpenAI]:
    config = tmp_path / "switchboard.toml"
    config.write_text('[[backends]]\nname = "mock-a"\nkind = "mock"\n')
    router = await serve("router", settings=RouterSettings(
        data_dir=tmp_path, config=config, learning_address=DOWN, cache_address=DOWN, monitor_address=DOWN,
        router_probe_ollama=False, router_outcome_flush_timeout_s=0.5, shutdown_grace_s=1))
    gateway = await serve("gateway", settings=GatewaySettings(
        data_dir=tmp_path, router_address=router.address, shutdown_grace_s=1))
    async with openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="unused",
                                  max_retries=0, timeout=20) as sdk:
        yield sdk


async def test_sdk_through_the_real_router(client: openai.AsyncOpenAI) -> None:
    assert [m.id async for m in client.models.list()] == ["mock-a"]
    messages = [{"role": "user", "content": "Say something about switchboards."}]
    reply = await client.chat.completions.create(model="mock-a", messages=messages, user="u1")
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    assert reply.system_fingerprint == "mock-a" and reply.usage is not None and reply.usage.completion_tokens > 0
    details = reply.model_extra["switchboard"]
    assert details["mock"] is True and details["backend"] == "mock-a"

    stream = await client.chat.completions.create(model="auto", messages=messages, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == reply.choices[0].message.content  # the mock is deterministic
    first = chunks[0].model_extra["switchboard"]
    assert first["backend"] == "mock-a" and first["mock"] is True
    # degradation is always stated (true when a peer the answer needed was down)
    assert isinstance(first["degraded"], bool) and isinstance(chunks[-2].model_extra["switchboard"]["degraded"], bool)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_bad_input_from_the_real_router_is_an_openai_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model="auto", messages=[{"role": "user", "content": ""}])
    assert err.value.body["param"] and err.value.body["type"] == "invalid_request_error"
