"""`switchboard chat` streams a reply through `switchboard up`, both run as a user
runs them (subprocesses, free ports, a fresh data directory, no backend
configured): `up` says the router serves the mock, and the reply is labelled so.
Also the line itself, against a served router and a missing one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from router_harness import CLOSED, start_router
from switchboard.clients.router_backends import describe_backends, router_backends_line
from switchboard.mesh import SERVICES
from switchboard.router.v1 import router_pb2 as R
from switchboard.runtime.settings import MeshSettings
from switchboard.testing.infra import free_port

REPO = Path(__file__).resolve().parents[2]


def clean_env(**overrides: str) -> dict[str, str]:
    """No SWITCHBOARD_/OTEL_ setting and no provider key from this process: the
    child sees exactly the embedded default the test means."""
    drop = ("SWITCHBOARD_", "OTEL_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop) and k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    env.update(overrides)
    return env


async def _lines_until(stream: asyncio.StreamReader, seen: list[str], marker: str) -> str:
    while True:
        raw = await stream.readline()
        if not raw:
            raise AssertionError("stdout closed before " + repr(marker) + ":\n" + "".join(seen))
        line = raw.decode()
        seen.append(line)
        if line.startswith(marker):
            return line


async def test_chat_streams_a_mock_reply_through_switchboard_up(tmp_path: Path) -> None:
    ports = {f"SWITCHBOARD_{s.name.upper()}_PORT": str(free_port()) for s in SERVICES}
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path / "data"),
        SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        SWITCHBOARD_ROUTER_PROBE_OLLAMA="false",  # a local Ollama must not change what this test sees
        **ports,
    )
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.cli", "up", env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert up.stdout is not None and up.stderr is not None
    seen: list[str] = []
    errors: list[str] = []

    async def drain_stderr() -> None:
        assert up.stderr is not None
        async for raw in up.stderr:
            errors.append(raw.decode())

    stderr_task = asyncio.create_task(drain_stderr())
    try:
        try:
            line = await asyncio.wait_for(_lines_until(up.stdout, seen, "router backends:"), 90)
        except (TimeoutError, AssertionError):
            await asyncio.sleep(0.5)  # let stderr catch up, for the message
            raise AssertionError("no backends line within 90 s\n" + "".join(seen) + "".join(errors)) from None
        assert line.strip() == (
            "router backends: mock (mock: no real backend configured; answers do not come from a model)"
        ), "".join(seen)

        chat = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switchboard.cli", "chat", "Hello through the whole mesh", "--timeout", "30",
            env=env, cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(chat.communicate(), 60)
        stdout, stderr = out.decode(), err.decode()
        assert chat.returncode == 0, stdout + stderr
        assert "mock answer" in stdout and "Hello through the whole mesh" in stdout, stdout
        assert stderr.startswith("[mock (mock) · mock · "), stderr  # the start event's mock label
        assert "tokens" in stderr and "Traceback" not in stderr, stderr

        # The router's start-up log names its backends with the mock label too.
        router_log = (tmp_path / "data" / "logs" / "router.log").read_text()
        assert "mock (mock, mock)" in router_log, router_log[-2000:]

        up.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(up.wait(), 30) == 0, "".join(errors)
    finally:
        if up.returncode is None:  # a failed assertion: still stop the mesh gracefully first
            with contextlib.suppress(ProcessLookupError):
                up.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(up.wait(), 15)
            except TimeoutError:
                up.kill()
                await up.wait()
        stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stderr_task


async def test_backends_line_from_a_served_router_and_a_missing_one(serve, mesh_settings, tmp_path) -> None:
    router = await start_router(serve, mesh_settings, tmp_path, None)  # the embedded default: the mock
    settings = MeshSettings(router_address=router.running.address)
    assert "mock: no real backend configured" in await router_backends_line(settings)
    missing = MeshSettings(router_address=CLOSED)
    assert await router_backends_line(missing, timeout=1) == "router backends: unknown (ListBackends: UNAVAILABLE)"


def test_describe_backends_labels_each_mock() -> None:
    real = R.BackendInfo(name="ollama", model="llama3.2", kind=R.BACKEND_KIND_OLLAMA)
    mock = R.BackendInfo(name="demo", model="mock", kind=R.BACKEND_KIND_MOCK, mock=True)
    assert describe_backends([real, mock]) == "router backends: ollama (llama3.2), demo (mock)"
    assert describe_backends([mock]).startswith("router backends: demo (mock: no real backend configured")
    assert describe_backends([]) == "router backends: none configured"
