"""Cheap probes of the LLM backends: a models list that spends no tokens.

  openai     GET <base>/v1/models   (Authorization: Bearer <key> when one is set)
  ollama     GET <base>/api/tags
  anthropic  GET <base>/v1/models   (x-api-key, anthropic-version)
  mock       nothing to probe: it runs inside the router, always HEALTHY

Which backends exist comes from the router's own configuration code
(`services/router/backends/config.py`, used read-only): the `[[backends]]`
tables of SWITCHBOARD_CONFIG through `load_backends`, else `default_backends`
(Ollama when it answers, OpenAI/Anthropic when their key variables are set,
else the mock). Reading the configuration rather than asking the router's
ListBackends keeps the monitor independent of the router: it still knows and
probes every backend while the router is down, which is when it matters.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.health.model import ProbeResult, Status
from services.router.backends.config import BackendConfig, BackendKind, default_backends, load_backends
from switchboard.runtime.clock import Clock

ANTHROPIC_VERSION = "2023-06-01"
_PATHS = {BackendKind.openai: "/v1/models", BackendKind.anthropic: "/v1/models", BackendKind.ollama: "/api/tags"}


@dataclass(frozen=True)
class BackendTarget:
    name: str
    kind: BackendKind
    base_url: str
    api_key: str | None = None

    @property
    def probe_url(self) -> str | None:
        path = _PATHS.get(self.kind)
        if path is None or not self.base_url:
            return None
        base = self.base_url.rstrip("/")
        if base.endswith("/v1") and path.startswith("/v1/"):
            base = base[: -len("/v1")]  # OpenAI SDK users write the base with /v1
        return base + path

    @property
    def endpoint(self) -> str:
        return self.base_url or "in-process mock"

    def headers(self) -> dict[str, str]:
        if self.kind is BackendKind.anthropic:
            headers = {"anthropic-version": ANTHROPIC_VERSION}
            if self.api_key:
                headers["x-api-key"] = self.api_key
            return headers
        if self.kind is BackendKind.openai and self.api_key:
            return {"authorization": f"Bearer {self.api_key}"}
        return {}

    @classmethod
    def from_config(cls, config: BackendConfig, env: Mapping[str, str]) -> BackendTarget:
        return cls(config.name, config.kind, config.base_url, config.api_key(env))


def backend_tables(config_path: Path | None) -> list[dict[str, Any]]:
    """The raw `[[backends]]` tables of the TOML file (none without a file)."""
    if config_path is None:
        return []
    with Path(config_path).open("rb") as fh:
        tables = tomllib.load(fh).get("backends", [])
    if not isinstance(tables, list):
        raise ValueError("'backends' must be an array of tables ([[backends]])")
    return tables


async def discover_backends(config_path: Path | None, env: Mapping[str, str], client: httpx.AsyncClient) -> list[BackendTarget]:
    """The backends the router runs with: the configured ones, else its defaults.
    Raises ValueError on a bad configuration (as the router does)."""
    configs = load_backends(backend_tables(config_path), env)
    if not configs:
        async def ollama_answers() -> bool:
            probe = BackendTarget("ollama", BackendKind.ollama, "http://localhost:11434")
            try:
                reply = await client.get(probe.probe_url or "", timeout=0.5)
            except (httpx.HTTPError, OSError):
                return False
            return reply.status_code == 200

        configs = await default_backends(env, ollama_answers)
    return [BackendTarget.from_config(config, env) for config in configs]


class BackendProber:
    """Probes one backend per call; never raises."""

    def __init__(self, target: BackendTarget, client: httpx.AsyncClient, clock: Clock, *, timeout_s: float) -> None:
        self.target = target
        self._client = client
        self._clock = clock
        self._timeout = timeout_s

    async def probe(self) -> ProbeResult:
        url = self.target.probe_url
        if url is None:
            return ProbeResult(Status.HEALTHY, None, "")  # the mock lives inside the router
        began = self._clock.monotonic()
        try:
            reply = await self._client.get(url, headers=self.target.headers(), timeout=self._timeout)
        except httpx.TimeoutException:
            return ProbeResult(Status.UNREACHABLE, None, f"no answer within {self._timeout:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return ProbeResult(Status.UNREACHABLE, None, transport_detail(exc))
        latency = self._clock.monotonic() - began
        status, detail = judge_reply(reply.status_code)
        return ProbeResult(status, latency, detail)


def judge_reply(status_code: int) -> tuple[Status, str]:
    """The verdict on the HTTP status of a probe."""
    if 200 <= status_code < 300:
        return Status.HEALTHY, ""
    if status_code == 429:
        return Status.DEGRADED, "HTTP 429: rate limited"
    if status_code in (401, 403):
        return Status.UNHEALTHY, f"HTTP {status_code}: the API key was refused"
    if status_code >= 500:
        return Status.UNHEALTHY, f"HTTP {status_code}"
    return Status.DEGRADED, f"HTTP {status_code} from the probe path"


def transport_detail(exc: BaseException) -> str:
    """A short reason for a failed HTTP request: "connection refused" when the
    cause chain holds one (httpx wraps it in "All connection attempts failed")."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    return f"{exc.__class__.__name__}: {str(exc)[:160]}"
