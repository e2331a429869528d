"""API keys, for the gateway and for every gRPC service alike.

Keys come from `SWITCHBOARD_API_KEYS` ("key1=tenantA,key2=tenantB") and/or
`SWITCHBOARD_API_KEYS_FILE` (one `key tenant` per line, `#` comments). No key
configured means auth is off everywhere. The settings live here, in a small
settings model of their own read from the same environment (and TOML file) as
`MeshSettings`, so that no service's settings class has to change: the gateway
mixes `ApiKeySettings` into its settings, the gRPC bootstrap reads it on its own.

When keys are configured:
- the gateway requires `Authorization: Bearer <key>` and forwards the same
  header plus `x-switchboard-tenant` to the services;
- every gRPC server requires `authorization: Bearer <key>` (health and
  reflection exempt) and sets `x-switchboard-tenant` from the key, overriding
  whatever the caller sent, so nobody can bypass the gateway or claim a tenant;
- calls a service makes to its peers while serving a call carry the caller's
  key on (router → cache, learning); calls made with no caller in scope
  (background work) carry `SWITCHBOARD_MESH_API_KEY` if set.

Keys are compared in constant time (every key is compared, always) and never
logged: they are SecretStr in settings, and `Caller`'s repr hides the key.
"""

from __future__ import annotations

import contextlib
import contextvars
import hmac
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from switchboard.runtime.tenant import TENANT_METADATA
from switchboard.runtime.call_details import per_call_shape, with_metadata
from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor
from switchboard.runtime.health import HEALTH_PREFIX
from switchboard.runtime.settings import ENV_PREFIX, MeshSettings

AUTHORIZATION_METADATA = "authorization"

# Probes and tooling keep working without a key (monitor, grpcurl describe).
EXEMPT_PREFIXES = (
    HEALTH_PREFIX,
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def parse_key_list(text: str) -> list[tuple[str, str]]:
    """ "key1=tenantA,key2=tenantB" → [(key1, tenantA), (key2, tenantB)]."""
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, tenant = item.partition("=")
        if not sep or not key.strip() or not tenant.strip():
            raise ValueError("each entry must be key=tenant (entry number %d)" % (len(pairs) + 1))
        pairs.append((key.strip(), tenant.strip()))
    return pairs


def parse_key_file(text: str) -> list[tuple[str, str]]:
    """One `key tenant` per line; blank lines and `#` comments ignored."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"line {number}: expected `key tenant`")  # never echo the line: it holds a key
        pairs.append((parts[0], parts[1]))
    return pairs


class ApiKeySettings(BaseSettings):
    """The API-key settings (SWITCHBOARD_API_KEYS, SWITCHBOARD_API_KEYS_FILE,
    SWITCHBOARD_MESH_API_KEY). Same prefix, env and TOML file as MeshSettings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, frozen=True)

    api_keys: SecretStr | None = Field(
        default=None, description='API keys and their tenants: "key1=tenantA,key2=tenantB". Unset: auth off.'
    )
    api_keys_file: Path | None = Field(
        default=None, description="File of API keys, one `key tenant` per line (# comments); adds to api_keys."
    )
    mesh_api_key: SecretStr | None = Field(
        default=None,
        description="One of the configured keys, used by services for their own background calls to peers.",
    )

    @model_validator(mode="after")
    def _check(self) -> ApiKeySettings:
        table = self.key_table()  # fail fast on a bad list or file
        if self.mesh_api_key is not None and self.mesh_api_key.get_secret_value() not in table:
            raise ValueError("mesh_api_key must be one of the configured API keys")
        return self

    def key_table(self) -> dict[str, str]:
        """key → tenant. Raises ValueError on a malformed list or file, or a key
        given two different tenants."""
        pairs: list[tuple[str, str]] = []
        if self.api_keys is not None:
            pairs += parse_key_list(self.api_keys.get_secret_value())
        if self.api_keys_file is not None:
            try:
                text = self.api_keys_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"api_keys_file {self.api_keys_file}: {exc.strerror}") from None
            pairs += parse_key_file(text)
        table: dict[str, str] = {}
        for key, tenant in pairs:
            if table.get(key, tenant) != tenant:
                raise ValueError("an API key is given two different tenants")
            table[key] = tenant
        return table

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The same precedence as MeshSettings: arguments, env, then the TOML file.
        return MeshSettings.settings_customise_sources.__func__(  # type: ignore[attr-defined]
            settings_cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )


def api_key_settings(settings: object) -> ApiKeySettings:
    """The key settings of a service: its own settings when they include them
    (the gateway), else read from the environment."""
    return settings if isinstance(settings, ApiKeySettings) else ApiKeySettings()


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key presented and the tenant it maps to."""

    key: str = field(repr=False)
    tenant: str


class ApiKeys:
    """The configured keys; empty means auth is off."""

    def __init__(self, table: dict[str, str]) -> None:
        self._keys = [(key.encode(), tenant) for key, tenant in table.items()]

    @classmethod
    def from_settings(cls, settings: object) -> ApiKeys:
        return cls(api_key_settings(settings).key_table())

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, key: str | None) -> Caller | None:
        """The caller for `key`, or None. Compares against every key, always,
        so the time taken says nothing about which key (or prefix) was close."""
        if not key:
            return None
        presented = key.encode()
        found: str | None = None
        for candidate, tenant in self._keys:
            if hmac.compare_digest(candidate, presented) and found is None:
                found = tenant
        return Caller(key, found) if found is not None else None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def caller_metadata(caller: Caller) -> tuple[tuple[str, str], ...]:
    """What a caller's gRPC call carries: its key and its tenant."""
    return ((AUTHORIZATION_METADATA, f"Bearer {caller.key}"), (TENANT_METADATA, caller.tenant))


def tenant_of(context: grpc.aio.ServicerContext) -> str:
    """The tenant of the call being served ("" when auth is off and none was sent)."""
    for key, value in context.invocation_metadata() or ():
        if key == TENANT_METADATA:
            return str(value)
    return ""


# The caller of the gRPC call being served, so that calls to peers made while
# serving it carry the same key (set by ApiKeyInterceptor, read by PeerAuth).
_current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("switchboard_caller", default=None)


def current_caller() -> Caller | None:
    return _current_caller.get()


class _AuthenticatedContext:
    """The servicer context with the metadata as authenticated: the tenant is the
    key's, never the one the caller claimed."""

    def __init__(self, context: grpc.aio.ServicerContext, caller: Caller) -> None:
        self._context = context
        kept = tuple((k, v) for k, v in (context.invocation_metadata() or ()) if k != TENANT_METADATA)
        self._metadata = (*kept, (TENANT_METADATA, caller.tenant))

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


_UNAUTHENTICATED = "missing or invalid API key (send authorization: Bearer <key>)"


class ApiKeyInterceptor(WrappingInterceptor):
    """Refuses calls without a valid key (UNAUTHENTICATED); health and
    reflection are exempt."""

    def __init__(self, keys: ApiKeys) -> None:
        super().__init__()
        self._keys = keys

    def _caller(self, metadata: Iterable[tuple[str, Any]] | None) -> Caller | None:
        header = None
        for key, value in metadata or ():
            if key == AUTHORIZATION_METADATA:
                header = value if isinstance(value, str) else None
        return self._keys.authenticate(bearer_token(header))

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        return method.startswith(EXEMPT_PREFIXES)

    def unwrappable(self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        # A context.write-style stream cannot be wrapped (see handlers.py): without
        # a key it is refused outright. The mesh has none (servers stream with async
        # generators), so the tenant override always applies.
        return handler if self._caller(details.invocation_metadata) is not None else _refusing_handler(handler)

    async def _admit(self, context: grpc.aio.ServicerContext) -> Caller:
        """The call's caller, or the call is refused (UNAUTHENTICATED)."""
        caller = self._caller(context.invocation_metadata())
        if caller is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)
        assert caller is not None
        return caller

    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = await self._admit(context)
            token = _current_caller.set(caller)
            try:
                return await behavior(request, _AuthenticatedContext(context, caller))
            finally:
                _current_caller.reset(token)

        return authenticated

    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            caller = await self._admit(context)
            token = _current_caller.set(caller)
            try:
                async for response in behavior(request, _AuthenticatedContext(context, caller)):
                    yield response
            finally:
                # A generator closed from elsewhere (garbage collection) runs this in
                # another context, where the reset does not apply and is not needed.
                with contextlib.suppress(ValueError):
                    _current_caller.reset(token)

        return authenticated


def _refusing_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)

    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse, **kwargs)
    return grpc.stream_stream_rpc_method_handler(refuse, **kwargs)


def auth_interceptors(settings: object) -> list[grpc.aio.ServerInterceptor]:
    """What the gRPC bootstrap installs: the key check, only when keys are configured."""
    keys = ApiKeys.from_settings(settings)
    return [ApiKeyInterceptor(keys)] if keys.enabled else []


class PeerAuth:
    """Puts a key on calls to peers that carry none: the key of the call being
    served, else the mesh key (background work), else nothing."""

    def __init__(self, mesh_caller: Caller | None) -> None:
        self._mesh_caller = mesh_caller

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = details.metadata
        if metadata is not None and AUTHORIZATION_METADATA in metadata:
            return details  # the caller (the gateway) set it explicitly
        caller = current_caller() or self._mesh_caller
        if caller is None:
            return details
        return with_metadata(details, caller_metadata(caller), drop={TENANT_METADATA})


def peer_auth_interceptors(settings: object) -> Sequence[grpc.aio.ClientInterceptor]:
    """What peer channels install: PeerAuth, only when keys are configured."""
    key_settings = api_key_settings(settings)
    table = key_settings.key_table()
    if not table:
        return []
    mesh_caller = None
    if key_settings.mesh_api_key is not None:
        mesh_key = key_settings.mesh_api_key.get_secret_value()
        mesh_caller = Caller(mesh_key, table[mesh_key])
    # One interceptor per call shape: streams to peers (the router's health watch) need the key too.
    return per_call_shape(PeerAuth(mesh_caller).details)
