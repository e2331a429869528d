"""Files and output of the mesh as tests and benchmarks drive it: the router's
`[[backends]]` TOML, and the table `switchboard up` prints."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from switchboard.mesh import SERVICES

UP_TABLE_HEADER = ["service", "address", "status", "pid"]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def write_backends(path: Path, tables: Sequence[Mapping[str, Any]]) -> Path:
    """Writes the router's configuration: one `[[backends]]` table per mapping."""
    lines: list[str] = []
    for table in tables:
        lines.append("[[backends]]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in table.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


async def read_up_table(
    stdout: asyncio.StreamReader, seen: list[str], names: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Reads `switchboard up`'s stdout up to its table's last row:
    {service: [address, status, pid]}. Every line read is appended to `seen`."""
    wanted = list(names or [s.name for s in SERVICES])
    rows: dict[str, list[str]] = {}
    in_table = False
    while len(rows) < len(wanted):
        raw = await stdout.readline()
        if not raw:
            raise AssertionError("switchboard up ended before its table:\n" + "".join(seen))
        line = raw.decode()
        seen.append(line)
        cells = line.split()
        if cells[:4] == UP_TABLE_HEADER:
            in_table = True
        elif in_table and cells and cells[0] in wanted:
            rows[cells[0]] = cells[1:]
    return rows
