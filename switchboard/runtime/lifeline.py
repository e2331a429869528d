"""A supervised child dies with its supervisor: no orphans even if the
supervisor is killed with SIGKILL (Linux PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

SUPERVISOR_PID_ENV = "SWITCHBOARD_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def bind_to_supervisor() -> None:
    """If started by `switchboard up`, ask the kernel for SIGTERM when the
    supervisor dies, and exit now if it already has."""
    expected = os.environ.get(SUPERVISOR_PID_ENV)
    if not expected or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(expected):
        raise SystemExit("switchboard: supervisor is gone; exiting")
