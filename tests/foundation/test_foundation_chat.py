"""`switchboard chat` through a running router: a streamed answer, or (until
the router issue lands) a clear UNIMPLEMENTED; never a traceback."""

from __future__ import annotations

import sys

from foundation_support import clean_env, run_process
from switchboard.mesh import SERVICES
from switchboard.testing.infra import free_port


async def test_chat_answers_or_says_unimplemented(serve, service_settings, tmp_path) -> None:
    router = await serve("router", settings=service_settings("router"))
    env = clean_env(SWITCHBOARD_ROUTER_PORT=str(router.port), SWITCHBOARD_DATA_DIR=str(tmp_path / "data"))
    done = await run_process(
        sys.executable, "-m", "switchboard.cli", "chat", "Say hello in three words.", "--timeout", "30",
        env=env, timeout=45,
    )
    print(f"\nchat exit {done.returncode}\nstdout: {done.stdout!r}\nstderr: {done.stderr!r}")
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 0:
        assert done.stdout.strip(), "exit 0 but no answer printed"
    else:
        assert done.returncode == 1, done.stderr
        assert "UNIMPLEMENTED" in done.stderr, done.stderr


async def test_chat_without_a_router_is_a_clear_error(tmp_path) -> None:
    env = clean_env(SWITCHBOARD_ROUTER_PORT=str(free_port()), SWITCHBOARD_DATA_DIR=str(tmp_path))
    done = await run_process(
        sys.executable, "-m", "switchboard.cli", "chat", "hello", "--timeout", "5", env=env, timeout=30
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNAVAILABLE" in done.stderr and "switchboard up" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


async def test_status_with_nothing_running_exits_1_listing_every_service(tmp_path) -> None:
    env = clean_env(
        SWITCHBOARD_DATA_DIR=str(tmp_path),
        **{f"SWITCHBOARD_{s.name.upper()}_PORT": str(free_port()) for s in SERVICES},
    )
    done = await run_process(sys.executable, "-m", "switchboard.cli", "status", "--timeout", "0.5", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    for service in SERVICES:
        assert any(line.split()[:1] == [service.name] and "UNREACHABLE" in line for line in done.stdout.splitlines()), done.stdout
