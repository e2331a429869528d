"""Fixtures of the gateway suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway_mesh import Mesh, start_mesh


@pytest.fixture
async def full_mesh(serve: Any, tmp_path: Path) -> AsyncIterator[Mesh]:
    """Every service real, the gateway in front (see gateway_mesh.py)."""
    async with start_mesh(serve, tmp_path) as mesh:
        yield mesh
