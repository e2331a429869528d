"""The one response-cache key function, shared by the router (which computes keys)
and the cache tests (which pin its behaviour).

A key is ``"v1:" + sha256(canonical form)``, where the canonical form is compact,
key-sorted JSON of exactly what determines the answer:

- the conversation: ``messages`` (role normalised, so "user", "User" and the
  router enum's name "ROLE_USER" are one; content byte-exact: whitespace and case
  can change answers) and ``prompt`` (shorthand, folded in as a trailing user
  message, so ``prompt="hi"`` and ``messages=[("user", "hi")]`` share a key);
- the system prompt;
- the backend and model, only when the caller pinned them (otherwise the router
  chooses, and any backend's answer is an acceptable cached answer);
- temperature (``None``, the backend's default, differs from ``0.0``; ``0`` and
  ``0.0`` and ``-0.0`` are the same);
- max tokens (``0`` is the backend's default);
- tool definitions (JSON objects; their key order does not matter, their list
  order does).

Who asks (user id), the request id, the topic and the cache policy do not change
the answer and are deliberately not inputs here.

The version prefix changes whenever the canonical form or the shape of cached
values changes, so an old entry can never be served in a new shape: bump
``KEY_VERSION`` instead of editing the form in place.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KEY_VERSION = "v1"


@dataclass(frozen=True)
class KeyMessage:
    """One chat message: role ("system", "user", "assistant") and its text."""

    role: str
    content: str


@dataclass(frozen=True)
class CacheKeyInput:
    """Everything that determines a cached answer (see the module docstring).

    ``messages`` takes `KeyMessage`s or ``(role, content)`` pairs.
    """

    messages: Sequence[KeyMessage | tuple[str, str]] = ()
    prompt: str = ""
    system_prompt: str = ""
    pinned_backend: str = ""
    pinned_model: str = ""
    temperature: float | None = None
    max_tokens: int = 0
    tools: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def _message(item: KeyMessage | tuple[str, str]) -> list[str]:
    role, content = (item.role, item.content) if isinstance(item, KeyMessage) else item
    # "ROLE_USER" (the router proto's enum name), "User" and "user" are one role.
    return [role.strip().lower().removeprefix("role_"), content]


def _temperature(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"temperature must be finite, got {value!r}")
    return value + 0.0  # -0.0 + 0.0 == 0.0: one form for zero


def canonical_form(request: CacheKeyInput) -> bytes:
    """The exact bytes that are hashed (UTF-8 JSON, sorted keys, no spaces)."""
    messages = [_message(m) for m in request.messages]
    if request.prompt:
        messages.append(["user", request.prompt])
    form = {
        "messages": messages,
        "system": request.system_prompt,
        "backend": request.pinned_backend,
        "model": request.pinned_model,
        "temperature": _temperature(request.temperature),
        "max_tokens": int(request.max_tokens),
        "tools": [dict(tool) for tool in request.tools],
    }
    return json.dumps(
        form, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def cache_key(request: CacheKeyInput) -> str:
    """``"v1:<64 hex chars>"``: the cache key of `request` (67 characters)."""
    return f"{KEY_VERSION}:{hashlib.sha256(canonical_form(request)).hexdigest()}"
