"""Plain helpers of the foundation suite (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor import ServiceDescriptor

from switchboard.mesh import SERVICES, ServiceEntry

GRPC_SERVICES = [s for s in SERVICES if s.grpc_service is not None]
REPO = Path(__file__).resolve().parents[2]


def proto_service(entry: ServiceEntry) -> ServiceDescriptor:
    """The service's descriptor from its generated module (switchboard.<pkg>.v1.<pkg>_pb2)."""
    assert entry.grpc_service is not None
    package, short = entry.grpc_service.rsplit(".", 1)
    pkg = package.split(".")[1]
    module = importlib.import_module(f"{package}.{pkg}_pb2")
    return module.DESCRIPTOR.services_by_name[short]


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def run_process(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> Completed:
    """Runs a command to completion on the running loop (never blocks it: the
    servers under test run in-process on the same loop)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        env=dict(env) if env is not None else None,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"{args} did not finish within {timeout} s\nstdout:\n{out.decode()}\nstderr:\n{err.decode()}"
        ) from None
    assert proc.returncode is not None
    return Completed(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any SWITCHBOARD_*/OTEL_* setting,
    plus `overrides`: a child sees exactly the settings the test chose."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))}
    env.pop("PYTHONUNBUFFERED", None)  # the CLI must flush what matters by itself
    env.update(overrides)
    return env
