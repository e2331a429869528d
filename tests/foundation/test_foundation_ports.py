"""The test harness's port picker: distinct ports, outside the ephemeral range,
skipping ones something already holds."""

from __future__ import annotations

import socket

from switchboard.testing.ports import PortPicker, _ephemeral_low


def test_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    picker = PortPicker.below_ephemeral_range(seed=1)
    ports = [picker.pick() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < _ephemeral_low() for p in ports)


def test_a_port_in_use_is_never_handed_out() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        picker = PortPicker(low=taken, span=1, seed=0)
        try:
            port = picker.pick()
        except RuntimeError as err:
            assert str(taken) in str(err)
        else:
            raise AssertionError(f"handed out {port}, which is held")


def test_the_picker_says_when_the_range_is_used_up() -> None:
    picker = PortPicker(low=_ephemeral_low() - 3, span=3, seed=0)
    got = set()
    try:
        for _ in range(4):
            got.add(picker.pick())
    except RuntimeError as err:
        assert "no free port left" in str(err)
    else:
        raise AssertionError(f"four distinct ports from a span of three: {got}")
