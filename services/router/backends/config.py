"""Backend configuration: the `[[backends]]` tables of the TOML file, validated,
and the default set when none is configured.

API keys never appear in the file: a backend names the environment variable
that holds its key (`api_key_env`), and the key is read from the environment
when the backend is built.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

log = logging.getLogger("switchboard.router.backends")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

OLLAMA_DEFAULT_URL = "http://localhost:11434"


class BackendKind(str, Enum):
    openai = "openai"  # OpenAI-compatible /v1/chat/completions (OpenAI, vLLM, llama.cpp, LM Studio)
    ollama = "ollama"  # Ollama's native /api/chat
    anthropic = "anthropic"  # Anthropic Messages API
    mock = "mock"  # deterministic text, not a real model


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_s: float = Field(default=5.0, gt=0, le=600, description="Time to open the connection.")
    first_token_s: float = Field(
        default=30.0, gt=0, le=3600, description="From sending the request to the first token."
    )
    between_tokens_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest gap between two tokens."
    )
    total_s: float = Field(default=300.0, gt=0, le=86400, description="Whole call, first byte to last.")


FailKind = Literal["connection", "server", "rate_limited", "timeout", "malformed", "client"]


class MockOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(
        default=None, description="Fixed answer; default: a deterministic answer derived from the prompt."
    )
    token_delay_s: float = Field(default=0.0, ge=0, le=60, description="Delay before each later token.")
    first_token_delay_s: float = Field(default=0.0, ge=0, le=600, description="Delay before the first token.")
    fail_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls that fail (seeded).")
    fail_kind: FailKind = Field(default="server", description="How a failing call fails.")
    fail_after_tokens: int = Field(
        default=0, ge=0, description="Tokens a failing call sends before failing (0: before the first)."
    )
    seed: int = Field(default=0, description="Seed of the fault draws, so runs repeat.")


class BackendConfig(BaseModel):
    """One `[[backends]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$", description="Unique name ([a-z0-9-_])."
    )
    kind: BackendKind = Field(description="Wire protocol: openai, ollama, anthropic or mock.")
    base_url: str = Field(default="", description="http(s)://host[:port]; required unless kind = mock.")
    model: str = Field(default="", max_length=256, description="Model name sent to the backend.")
    api_key_env: str | None = Field(
        default=None, description="NAME of the environment variable holding the API key."
    )
    priority: int = Field(default=100, ge=-1_000_000, le=1_000_000, description="Lower comes first.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    cost_per_1k_prompt_tokens: float = Field(default=0.0, ge=0, description="US dollars.")
    cost_per_1k_completion_tokens: float = Field(default=0.0, ge=0, description="US dollars.")
    mock: MockOptions | None = Field(default=None, description="Options of kind = mock.")

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if "api_key" in data:
            raise ValueError(
                "api_key is not allowed: never put a key in the config file; set api_key_env "
                "to the NAME of the environment variable that holds it"
            )
        if data.get("kind") in ("mock", BackendKind.mock):
            data = dict(data)
            data.setdefault("mock", {})
            data["model"] = data.get("model") or "mock"
        return data

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                f"{value[:8]!r}… is not an environment variable name (the key itself goes in the "
                "environment, the file names the variable)"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _by_kind(self) -> BackendConfig:
        if self.kind is BackendKind.mock:
            return self
        if self.mock is not None:
            raise ValueError("mock options apply only to kind = mock")
        if not self.base_url:
            raise ValueError(f"base_url is required for kind = {self.kind.value}")
        if not self.model:
            raise ValueError(f"model is required for kind = {self.kind.value}")
        return self

    @property
    def is_mock(self) -> bool:
        return self.kind is BackendKind.mock

    def api_key(self, env: Mapping[str, str]) -> str | None:
        """The key from the environment variable this backend names, if set."""
        if not self.api_key_env:
            return None
        return env.get(self.api_key_env) or None

    def needs_api_key(self) -> bool:
        """Anthropic always; OpenAI's own service (api.openai.com) too. Local
        OpenAI-compatible servers and Ollama usually take none."""
        if self.kind is BackendKind.anthropic:
            return True
        if self.kind is BackendKind.openai:
            host = urlsplit(self.base_url).hostname or ""
            return host == "api.openai.com" or host.endswith(".openai.com")
        return False


# Errors on the whole config point at the field pydantic would not name.
_FIELD_OF_MESSAGE = (
    ("api_key is not allowed", "api_key"),
    ("mock options", "mock"),
    ("base_url is required", "base_url"),
    ("model is required", "model"),
)


def _field_of(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    if loc:
        return loc
    message = str(err.get("msg", ""))
    for needle, field in _FIELD_OF_MESSAGE:
        if needle in message:
            return field
    return ""


def load_backends(toml_tables: list[dict[str, Any]], env: Mapping[str, str]) -> list[BackendConfig]:
    """Validates the `[[backends]]` tables. Raises ValueError naming every
    problem as `backends[i].field: why`. An empty list gives an empty list."""
    problems: list[str] = []
    configs: list[BackendConfig] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(toml_tables):
        if not isinstance(table, Mapping):
            problems.append(f"backends[{i}]: expected a table, got {type(table).__name__}")
            continue
        try:
            config = BackendConfig.model_validate(table)
        except ValidationError as exc:
            for err in exc.errors():
                field = _field_of(err)
                message = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"backends[{i}]{'.' + field if field else ''}: {message}")
            continue
        if config.name in seen:
            problems.append(
                f"backends[{i}].name: duplicate backend name {config.name!r} (also backends[{seen[config.name]}])"
            )
        else:
            seen[config.name] = i
        if config.needs_api_key():
            if not config.api_key_env:
                problems.append(
                    f"backends[{i}].api_key_env: required for {config.kind.value} at {config.base_url} "
                    "(the NAME of the environment variable holding the key)"
                )
            elif not config.api_key(env):
                problems.append(
                    f"backends[{i}].api_key_env: environment variable {config.api_key_env} is not set"
                )
        configs.append(config)
    if problems:
        raise ValueError("invalid backends: " + "; ".join(problems))
    return configs


async def default_backends(
    env: Mapping[str, str], probe_ollama: Callable[[], Awaitable[bool]]
) -> list[BackendConfig]:
    """What runs when no backend is configured: Ollama at localhost:11434 when
    it answers, OpenAI / Anthropic when their key variables are set, otherwise
    a single mock. Model names can be chosen with SWITCHBOARD_{OLLAMA,OPENAI,
    ANTHROPIC}_MODEL."""
    found: list[BackendConfig] = []
    try:
        ollama_up = await probe_ollama()
    except Exception as exc:  # noqa: BLE001  (any failure means: not there)
        log.debug("ollama probe failed: %s", exc)
        ollama_up = False
    if ollama_up:
        found.append(
            BackendConfig(
                name="ollama",
                kind=BackendKind.ollama,
                base_url=OLLAMA_DEFAULT_URL,
                model=env.get("SWITCHBOARD_OLLAMA_MODEL") or "llama3.2",
                priority=10,
            )
        )
    if env.get("OPENAI_API_KEY"):
        found.append(
            BackendConfig(
                name="openai",
                kind=BackendKind.openai,
                base_url="https://api.openai.com",
                model=env.get("SWITCHBOARD_OPENAI_MODEL") or "gpt-4o-mini",
                api_key_env="OPENAI_API_KEY",
                priority=20,
                cost_per_1k_prompt_tokens=0.00015,
                cost_per_1k_completion_tokens=0.0006,
            )
        )
    if env.get("ANTHROPIC_API_KEY"):
        found.append(
            BackendConfig(
                name="anthropic",
                kind=BackendKind.anthropic,
                base_url="https://api.anthropic.com",
                model=env.get("SWITCHBOARD_ANTHROPIC_MODEL") or "claude-3-5-haiku-latest",
                api_key_env="ANTHROPIC_API_KEY",
                priority=30,
                cost_per_1k_prompt_tokens=0.0008,
                cost_per_1k_completion_tokens=0.004,
            )
        )
    if not found:
        found.append(BackendConfig(name="mock", kind=BackendKind.mock, model="mock", priority=100))
    return found
