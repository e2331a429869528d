"""The shared cache key function (switchboard/cache_key.py), on its own: the same
request gives the same key; anything that changes the answer gives another."""

from __future__ import annotations

import dataclasses
import re

import pytest

from switchboard.cache_key import KEY_VERSION, CacheKeyInput, KeyMessage, cache_key, canonical_form
from switchboard.router.v1 import router_pb2

TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}

BASE = CacheKeyInput(
    messages=(KeyMessage("user", "What is 2+2?"), KeyMessage("assistant", "4"), KeyMessage("user", "And 3+3?")),
    system_prompt="Be brief.",
    pinned_backend="openai",
    pinned_model="gpt-4o-mini",
    temperature=0.0,
    max_tokens=64,
    tools=(TOOL,),
)


def test_key_shape_and_version_prefix() -> None:
    key = cache_key(BASE)
    assert re.fullmatch(r"v1:[0-9a-f]{64}", key)
    assert KEY_VERSION == "v1" and len(key) <= 256


def test_the_canonical_form_is_pinned() -> None:
    """Changing the form changes every key: that needs a KEY_VERSION bump, so an
    old entry can never be served in a new shape. Update this golden value only
    together with the version."""
    simple = CacheKeyInput(messages=[("user", "What is 2+2?")], system_prompt="Be brief.", temperature=0.0, max_tokens=64)
    assert canonical_form(simple) == (
        b'{"backend":"","max_tokens":64,"messages":[["user","What is 2+2?"]],'
        b'"model":"","system":"Be brief.","temperature":0.0,"tools":[]}'
    )
    assert cache_key(simple) == "v1:ffb701fc6fbe169805bbcbc72c9db3a8a14e642507190498e4cf2eca8d8f07aa"


def test_same_request_same_key() -> None:
    again = CacheKeyInput(
        messages=[("User", "What is 2+2?"), ("ROLE_ASSISTANT", "4"), ("user", "And 3+3?")],
        system_prompt="Be brief.",
        pinned_backend="openai",
        pinned_model="gpt-4o-mini",
        temperature=0,  # int zero is float zero
        max_tokens=64,
        tools=[{"function": {"parameters": {"properties": {}, "type": "object"}, "name": "weather"}, "type": "function"}],
    )
    assert cache_key(BASE) == cache_key(BASE) == cache_key(again)
    assert cache_key(dataclasses.replace(BASE, temperature=-0.0)) == cache_key(BASE)


def test_prompt_shorthand_equals_one_user_message() -> None:
    assert cache_key(CacheKeyInput(prompt="hi")) == cache_key(CacheKeyInput(messages=[("user", "hi")]))


@pytest.mark.parametrize(
    "change",
    [
        {"messages": BASE.messages[:-1]},
        {"messages": (*BASE.messages[:-1], KeyMessage("user", "And 4+4?"))},
        {"messages": (*BASE.messages[:-1], KeyMessage("user", "and 3+3?"))},  # case
        {"messages": (*BASE.messages[:-1], KeyMessage("user", "And 3+3? "))},  # whitespace
        {"messages": (*BASE.messages[:-1], KeyMessage("system", "And 3+3?"))},  # role
        {"messages": tuple(reversed(BASE.messages))},  # order
        {"prompt": "one more"},
        {"system_prompt": "Be verbose."},
        {"system_prompt": ""},
        {"pinned_backend": "ollama"},
        {"pinned_backend": ""},
        {"pinned_model": "gpt-4o"},
        {"temperature": None},  # the backend's default is not 0
        {"temperature": 0.7},
        {"max_tokens": 65},
        {"max_tokens": 0},
        {"tools": ()},
        {"tools": (TOOL, {"type": "function", "function": {"name": "clock"}})},
        {"tools": ({**TOOL, "function": {**TOOL["function"], "name": "forecast"}},)},
    ],
    ids=lambda change: ",".join(change),
)
def test_any_field_that_changes_the_answer_changes_the_key(change: dict) -> None:
    assert cache_key(dataclasses.replace(BASE, **change)) != cache_key(BASE)


def test_message_boundaries_are_part_of_the_form() -> None:
    joined = CacheKeyInput(messages=[("user", "ab")])
    split = CacheKeyInput(messages=[("user", "a"), ("user", "b")])
    assert cache_key(joined) != cache_key(split)


def _router_key(request: router_pb2.GenerateRequest) -> str:
    """How the router builds the input from its request (proto → plain fields)."""
    return cache_key(
        CacheKeyInput(
            messages=[(router_pb2.Role.Name(m.role), m.content) for m in request.messages],
            prompt=request.prompt,
            system_prompt=request.system_prompt,
            pinned_backend=request.pinned_backend,
            temperature=request.temperature if request.HasField("temperature") else None,
            max_tokens=request.max_tokens,
        )
    )


def test_who_asks_and_request_bookkeeping_do_not_change_the_key() -> None:
    fields = [f.name for f in dataclasses.fields(CacheKeyInput)]
    assert fields == [
        "messages", "prompt", "system_prompt", "pinned_backend", "pinned_model", "temperature", "max_tokens", "tools"
    ]
    base = router_pb2.GenerateRequest(
        messages=[router_pb2.ChatMessage(role=router_pb2.ROLE_USER, content="hello")], temperature=0.0
    )
    variants = [
        router_pb2.GenerateRequest(messages=base.messages, temperature=0.0, user_id="alice"),
        router_pb2.GenerateRequest(messages=base.messages, temperature=0.0, request_id="req-123"),
        router_pb2.GenerateRequest(messages=base.messages, temperature=0.0, topic="math"),
        router_pb2.GenerateRequest(
            messages=base.messages, temperature=0.0, cache_policy=router_pb2.CACHE_POLICY_PREFER
        ),
        router_pb2.GenerateRequest(prompt="hello", temperature=0.0),
    ]
    assert {_router_key(v) for v in variants} == {_router_key(base)}
    assert _router_key(router_pb2.GenerateRequest(messages=base.messages)) != _router_key(base)


def test_non_finite_temperature_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        cache_key(CacheKeyInput(prompt="x", temperature=float("nan")))
