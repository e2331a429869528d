"""The README's settings table, made from the settings classes themselves so
the documentation cannot drift: `python scripts/settings_doc.py` prints it,
`--write` (or `make docs`) refreshes README.md, and a test fails when stale."""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings

from switchboard.mesh import SERVICES
from switchboard.runtime.auth import ApiKeySettings
from switchboard.runtime.entry import app_module
from switchboard.runtime.settings import ENV_PREFIX, MeshSettings


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, default, used by, description) for every setting, shared first."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    # API keys are read by every service (gRPC interceptor) and the gateway.
    classes: list[tuple[str, type[BaseSettings]]] = [("all", MeshSettings), ("all", ApiKeySettings)]
    classes += [(e.name, app_module(e).SETTINGS) for e in SERVICES]
    for owner, cls in classes:
        for name, field in cls.model_fields.items():
            var = ENV_PREFIX + name.upper()
            if var in seen:
                continue
            default: Any = field.default if field.default_factory is None else "(see description)"
            if name == "data_dir":
                default = "$XDG_DATA_HOME/switchboard or ~/.local/share/switchboard"
            shown = "" if default is None else f"`{default}`"
            seen[var] = (var, shown, owner, (field.description or "").replace("|", "\\|"))
    return list(seen.values())


def table() -> str:
    lines = ["| variable | default | used by | meaning |", "|---|---|---|---|"]
    lines += [f"| `{v}` | {d} | {o} | {m} |" for v, d, o, m in rows()]
    return "\n".join(lines)


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def readme_with_table(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if "--write" in sys.argv:  # make docs: refresh the README's table in place
        path = Path(__file__).resolve().parent.parent / "README.md"
        path.write_text(readme_with_table(path.read_text()))
    else:
        print(table())
