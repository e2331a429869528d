"""The README stays true: its settings table matches the settings classes, and
it names the two commands."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings_doc():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    doc = _settings_doc()
    assert doc.readme_with_table(readme) == readme, "README settings table is stale: run `make docs`"
    for variable, *_ in doc.rows():
        assert f"`{variable}`" in readme


def test_two_commands_are_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert "\nup:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
