"""Ports for child processes that must be told their port before they start.

Binding port 0 and closing the socket is racy twice over: the kernel may hand the
same ephemeral port out again at once (CI once gave the router and the monitor of
one `switchboard up` the same port), and an outgoing connection may take it before
the child binds. So ports come from below the kernel's ephemeral range, are never
handed out twice by one picker, and are checked to bind at the moment they are picked.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_SPAN = 10_000


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default when /proc is not there to ask


def _binds(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PortPicker:
    """Hands out distinct, currently bindable ports from [low, low + span)."""

    def __init__(self, low: int, span: int, seed: int) -> None:
        self._low = low
        self._span = span
        self._offset = random.Random(seed).randrange(span)  # separate pickers rarely overlap
        self._handed: set[int] = set()

    @classmethod
    def below_ephemeral_range(cls, seed: int) -> PortPicker:
        high = _ephemeral_low()
        low = max(1024, high - _SPAN)
        return cls(low, high - low, seed)

    def pick(self) -> int:
        for _ in range(self._span):
            port = self._low + self._offset
            self._offset = (self._offset + 1) % self._span
            if port not in self._handed and _binds(port):
                self._handed.add(port)
                return port
        raise RuntimeError(f"no free port left in {self._low}..{self._low + self._span - 1}")
