"""Settings from the environment (`SWITCHBOARD_*`) and one optional TOML file.

Precedence: constructor arguments, then environment variables, then the TOML file
named by `SWITCHBOARD_CONFIG`, then the defaults here. The TOML file's top-level
keys are setting names without the prefix (``log_level = "DEBUG"``); service
settings may read their own tables from it (the router's ``[[backends]]``).

Each service extends `MeshSettings` with its own fields in its own folder, so
every setting is still one `SWITCHBOARD_<NAME>` variable. `load_settings` turns a
bad value into a `SettingsError` that names the variable, for a clean exit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, FilePath, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "SWITCHBOARD_"
CONFIG_ENV = "SWITCHBOARD_CONFIG"

Port = int  # 0 asks the OS for a free port


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "switchboard"


class MeshSettings(BaseSettings):
    """What every service knows: where everyone listens, storage, logs, shutdown."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, frozen=True
    )

    config: Path | None = Field(
        default=None, description="Path of the optional TOML file (backends, any setting)."
    )
    host: str = Field(default="127.0.0.1", description="Interface every service binds to.")
    router_port: Port = Field(default=50051, ge=0, le=65535, description="Router gRPC port.")
    learning_port: Port = Field(default=50052, ge=0, le=65535, description="Learning gRPC port.")
    monitor_port: Port = Field(default=50053, ge=0, le=65535, description="Monitor gRPC port.")
    briefs_port: Port = Field(default=50054, ge=0, le=65535, description="Briefs gRPC port.")
    cache_port: Port = Field(default=50055, ge=0, le=65535, description="Cache gRPC port.")
    gateway_port: Port = Field(default=8080, ge=0, le=65535, description="Gateway HTTP port.")
    # Prometheus scrape endpoints (GET /metrics), one HTTP port per service; 0 = off.
    router_metrics_port: Port = Field(
        default=0, ge=0, le=65535, description="Router's Prometheus /metrics port (0: no scrape endpoint)."
    )
    learning_metrics_port: Port = Field(default=0, ge=0, le=65535, description="Learning's /metrics port (0: off).")
    monitor_metrics_port: Port = Field(default=0, ge=0, le=65535, description="Monitor's /metrics port (0: off).")
    briefs_metrics_port: Port = Field(default=0, ge=0, le=65535, description="Briefs' /metrics port (0: off).")
    cache_metrics_port: Port = Field(default=0, ge=0, le=65535, description="Cache's /metrics port (0: off).")
    gateway_metrics_port: Port = Field(default=0, ge=0, le=65535, description="Gateway's /metrics port (0: off).")
    router_address: str | None = Field(
        default=None,
        description="host:port peers use for the router (default host:router_port); any peer address may "
        "also be a gRPC target naming several replicas (dns:///router.internal:50051 with several records, "
        "or ipv4:10.0.0.1:50051,10.0.0.2:50051): calls go round robin to the replicas that are up. Replicas "
        "of a stateful service must share its storage (cache: Redis; learning: PostgreSQL); the monitor "
        "watches one replica of such an address.",
    )
    learning_address: str | None = Field(default=None, description="Peers' address of learning.")
    monitor_address: str | None = Field(default=None, description="Peers' address of the monitor.")
    briefs_address: str | None = Field(default=None, description="Peers' address of briefs.")
    cache_address: str | None = Field(default=None, description="Peers' address of the cache.")
    gateway_address: str | None = Field(default=None, description="host:port of the gateway.")
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Embedded-mode files (SQLite database, spools, logs).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://…; default SQLite under data_dir.",
    )
    redis_url: str | None = Field(
        default=None, description="redis://… for the cache; default in-memory."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="json (one object a line, with trace ids) or text."
    )
    shutdown_grace_s: float = Field(
        default=10.0, gt=0, le=600, description="Seconds in-flight calls get to finish on SIGTERM."
    )
    overload_loop_lag_s: float = Field(
        default=0.1, ge=0, le=60,
        description=(
            "Refuse new calls (gRPC RESOURCE_EXHAUSTED, HTTP 503) while the event loop runs this far behind "
            "(median of its last 5 samples, taken every 50 ms): overloaded, a service answers some callers fast "
            "instead of none in time "
            "(0: never refuse; health is always answered)."
        ),
    )
    peer_timeout_s: float = Field(
        default=5.0, gt=0, le=600, description="Default deadline of a unary call to a peer."
    )
    up_ready_timeout_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="`switchboard up`: how long every service may take to report SERVING (a slow start is not a failure before then).",
    )
    max_message_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest gRPC message accepted or sent."
    )
    # TLS for every gRPC server and every call to a peer (off unless the files are set).
    tls_cert_file: FilePath | None = Field(
        default=None,
        description="PEM certificate (chain) of this service. With tls_key_file: gRPC servers serve TLS only, "
        "peer calls use TLS and present it as the client certificate (mutual TLS).",
    )
    tls_key_file: FilePath | None = Field(default=None, description="PEM private key of tls_cert_file.")
    tls_ca_file: FilePath | None = Field(
        default=None,
        description="PEM CA bundle peers' certificates must chain to (servers' for callers; callers' under "
        "tls_client_auth=require). Unset: the system roots. Set alone (a tool), calls use TLS without a certificate.",
    )
    tls_client_auth: Literal["none", "require"] = Field(
        default="none",
        description="require: gRPC servers refuse callers without a certificate signed by tls_ca_file (mutual TLS).",
    )
    tls_server_name: str | None = Field(
        default=None, min_length=1, max_length=253,
        description="Name peers' certificates are checked against, when it is not the host of their address.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tls_complete(self) -> MeshSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("SWITCHBOARD_TLS_CERT_FILE and SWITCHBOARD_TLS_KEY_FILE must be set together")
        if self.tls_client_auth == "require" and (self.tls_cert_file is None or self.tls_ca_file is None):
            raise ValueError(
                "SWITCHBOARD_TLS_CLIENT_AUTH=require needs SWITCHBOARD_TLS_CERT_FILE, SWITCHBOARD_TLS_KEY_FILE "
                "and SWITCHBOARD_TLS_CA_FILE (the CA that signs the callers' certificates)"
            )
        return self

    @property
    def tls_server(self) -> bool:
        """gRPC servers serve TLS (and only TLS)."""
        return self.tls_cert_file is not None and self.tls_key_file is not None

    @property
    def tls_client(self) -> bool:
        """Calls to gRPC peers use TLS."""
        return self.tls_server or self.tls_ca_file is not None

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def metrics_port_of(self, service: str) -> int:
        """The service's Prometheus scrape port; 0 when it has none."""
        return int(getattr(self, f"{service}_metrics_port"))

    def address_of(self, service: str) -> str:
        """Where peers reach `service`: its explicit address, else host:port."""
        explicit = getattr(self, f"{service}_address")
        if explicit:
            return str(explicit)
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.port_of(service)}"

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'switchboard.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get(CONFIG_ENV)
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


class SettingsError(Exception):
    """A setting has a bad value; the message names it."""


S = TypeVar("S", bound=MeshSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Builds `cls` from the environment and TOML file, or raises SettingsError
    naming every bad setting as its environment variable."""
    toml_path = os.environ.get(CONFIG_ENV)
    if toml_path and not Path(toml_path).is_file():
        raise SettingsError(f"{CONFIG_ENV}={toml_path}: no such file")
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ENV_PREFIX + "_".join(str(p) for p in err["loc"]).upper()
            shown = err.get("input")
            value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
            problems.append(f"{name}{value}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise SettingsError(f"invalid settings: {exc}") from None
