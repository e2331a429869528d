"""One service alone as a process: `switchboard serve <name> --port 0` (and
`python -m services.<folder>`) logs the bound port as JSON, serves health, and
exits 0 on SIGTERM after draining."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from foundation_support import REPO, clean_env
from switchboard.clients.health import check_address
from switchboard.mesh import BY_NAME, SERVICES
from switchboard.testing.infra import free_port


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["-m", "switchboard.cli", "serve", "cache", "--port", "0"], "cache"),
        (["-m", "services.health", "--port", "0"], "monitor"),
    ],
    ids=["switchboard-serve-cache", "python-m-services.health"],
)
async def test_serve_alone_on_port_0_logs_port_and_stops_on_sigterm(tmp_path: Path, command, name) -> None:
    # Peers point at closed ports: this test must not reach anything else running here.
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path),
        SWITCHBOARD_SHUTDOWN_GRACE_S="3",
        **{f"SWITCHBOARD_{s.name.upper()}_PORT": str(free_port()) for s in SERVICES},
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command, env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        port = None
        async with asyncio.timeout(30):
            while port is None:
                raw = await proc.stderr.readline()
                assert raw, f"exited ({await proc.wait()}) before serving:\n" + "".join(lines)
                lines.append(raw.decode())
                try:
                    entry = json.loads(raw)  # every line is one JSON object
                except json.JSONDecodeError:
                    rest = (await proc.stderr.read()).decode()
                    raise AssertionError("not a JSON line in stderr:\n" + "".join(lines) + rest) from None
                if entry.get("msg") == "serving":
                    port = int(entry["port"])
                    # The start-up heap is out of the collector's view (switchboard/runtime/heap.py).
                    assert entry["frozen_objects"] > 10_000
        assert port > 0
        status = await check_address(f"127.0.0.1:{port}", BY_NAME[name].grpc_service or "", timeout=5)
        assert status == "SERVING"

        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, "".join(lines) + rest.decode()
        later = [json.loads(line) for line in rest.decode().splitlines()]
        assert "stopped" in [entry.get("msg") for entry in later]
        assert all("Traceback" not in line for line in lines)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
