"""A caller's request, checked and turned into the router's domain request.

The servicer copies the proto fields into a `Draft` (roles as names); `validate`
either returns a `RouteRequest` or raises `InvalidArgument` listing every bad
field at once, so a caller fixes everything in one round trip.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from services.router.topics import TopicClassifier, normalise_topic
from switchboard.runtime.status import FieldViolation, InvalidArgument

ROLES = ("system", "user", "assistant")
MAX_REQUEST_ID_CHARS = 100  # interaction ids "<request_id>:<n>" must stay within learning's 128
MAX_TOPIC_CHARS = 64
MAX_USER_ID_CHARS = 256


class CachePolicy(enum.Enum):
    DEFAULT = "DEFAULT"  # deterministic requests (temperature 0) use the cache
    BYPASS = "BYPASS"
    PREFER = "PREFER"


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"; in a Draft also "" (unset) or "unknown(N)"
    content: str


@dataclass(frozen=True)
class Draft:
    """The request as received, before any check."""

    messages: Sequence[Message] = ()
    prompt: str = ""
    system_prompt: str = ""
    user_id: str = ""
    topic: str = ""
    max_tokens: int = 0
    temperature: float | None = None
    pinned_backend: str = ""
    request_id: str = ""
    cache_policy: CachePolicy = CachePolicy.DEFAULT
    tenant: str = ""  # from the caller's x-switchboard-tenant metadata


@dataclass(frozen=True)
class RouteRequest:
    """A valid request. `messages` starts with the system prompt, if any, and ends
    with the shorthand prompt, if any."""

    request_id: str
    messages: tuple[Message, ...]
    system_prompt: str  # as given (also folded into `messages`), for the cache key
    prompt: str  # as given (also folded into `messages`), for the cache key
    given_messages: tuple[Message, ...]  # as given, for the cache key
    user_id: str
    topic: str
    topic_classified: bool
    max_tokens: int | None  # None: the backend's default
    temperature: float | None  # None: the backend's default
    pinned_backend: str | None
    cache_policy: CachePolicy
    prompt_chars: int = field(default=0)
    tenant: str = ""

    @property
    def uses_cache(self) -> bool:
        if self.cache_policy is CachePolicy.BYPASS:
            return False
        return self.cache_policy is CachePolicy.PREFER or self.temperature == 0.0

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the normalised conversation, so learning can spot re-asks
        without ever seeing the text."""
        canon = "\n".join(f"{m.role}:{' '.join(m.content.lower().split())}" for m in self.messages)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_tokens: int


def validate(
    draft: Draft,
    *,
    limits: Limits,
    backends: Collection[str],
    classifier: TopicClassifier,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> RouteRequest:
    problems: list[FieldViolation] = []

    def bad(where: str, why: str) -> None:
        problems.append(FieldViolation(where, why))

    if not draft.messages and not draft.prompt:
        bad("messages", "either messages or prompt is required")
    if draft.prompt and not draft.prompt.strip():
        bad("prompt", "must not be blank")
    for i, message in enumerate(draft.messages):
        if not message.role:
            bad(f"messages[{i}].role", "must be set (ROLE_SYSTEM, ROLE_USER or ROLE_ASSISTANT)")
        elif message.role not in ROLES:
            bad(f"messages[{i}].role", f"unknown role {message.role}")
        if not message.content.strip():
            bad(f"messages[{i}].content", "must not be empty")
    size = len(draft.system_prompt) + len(draft.prompt) + sum(len(m.content) for m in draft.messages)
    if size > limits.max_prompt_chars:
        where = "messages" if draft.messages else "prompt"
        bad(where, f"prompt is {size} characters; at most {limits.max_prompt_chars} are accepted")
    if not 0 <= draft.max_tokens <= limits.max_tokens:
        bad("max_tokens", f"must be between 0 (the backend's default) and {limits.max_tokens}")
    temperature = draft.temperature
    if temperature is not None and (not math.isfinite(temperature) or not 0.0 <= temperature <= 2.0):
        bad("temperature", "must be between 0 and 2")
    if draft.pinned_backend and draft.pinned_backend not in backends:
        known = ", ".join(sorted(backends)) or "none"
        bad("pinned_backend", f"unknown backend {draft.pinned_backend!r} (configured: {known})")
    if len(draft.request_id) > MAX_REQUEST_ID_CHARS:
        bad("request_id", f"must be at most {MAX_REQUEST_ID_CHARS} characters")
    if len(draft.user_id) > MAX_USER_ID_CHARS:
        bad("user_id", f"must be at most {MAX_USER_ID_CHARS} characters")
    topic = normalise_topic(draft.topic)
    if len(topic) > MAX_TOPIC_CHARS:
        bad("topic", f"must be at most {MAX_TOPIC_CHARS} characters")
    if problems:
        raise InvalidArgument(problems)

    messages: list[Message] = []
    if draft.system_prompt.strip():
        messages.append(Message("system", draft.system_prompt))
    messages.extend(draft.messages)
    if draft.prompt:
        messages.append(Message("user", draft.prompt))
    classified = not topic
    if classified:
        topic = classifier.classify([(m.role, m.content) for m in messages if m.role != "system"])
    return RouteRequest(
        request_id=draft.request_id or new_id(),
        messages=tuple(messages),
        system_prompt=draft.system_prompt,
        prompt=draft.prompt,
        given_messages=tuple(draft.messages),
        user_id=draft.user_id,
        topic=topic,
        topic_classified=classified,
        max_tokens=draft.max_tokens or None,
        temperature=None if temperature is None else temperature + 0.0,
        pinned_backend=draft.pinned_backend or None,
        cache_policy=draft.cache_policy,
        prompt_chars=size,
        tenant=draft.tenant,
    )
