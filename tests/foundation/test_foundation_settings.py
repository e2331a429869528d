"""Settings: SWITCHBOARD_* environment, an optional TOML file, and a bad value
stopping start-up with a message naming the variable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from foundation_support import clean_env, run_process
from switchboard.runtime.settings import MeshSettings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SWITCHBOARD_") and not name.startswith("SWITCHBOARD_TEST_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SWITCHBOARD_ROUTER_PORT", "abc"),
        ("SWITCHBOARD_CACHE_PORT", "70000"),
        ("SWITCHBOARD_LOG_LEVEL", "LOUD"),
        ("SWITCHBOARD_LOG_FORMAT", "xml"),
        ("SWITCHBOARD_SHUTDOWN_GRACE_S", "-1"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(MeshSettings)
    assert variable in str(caught.value)
    assert value in str(caught.value)


def test_every_bad_value_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_ROUTER_PORT", "abc")
    monkeypatch.setenv("SWITCHBOARD_SHUTDOWN_GRACE_S", "0")
    message = str(pytest.raises(SettingsError, load_settings, MeshSettings).value)
    assert "SWITCHBOARD_ROUTER_PORT" in message and "SWITCHBOARD_SHUTDOWN_GRACE_S" in message


def test_environment_values_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_ROUTER_PORT", "6001")
    monkeypatch.setenv("SWITCHBOARD_LOG_LEVEL", "debug")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    settings = load_settings(MeshSettings)
    assert settings.router_port == 6001
    assert settings.address_of("router") == "127.0.0.1:6001"
    assert settings.log_level == "DEBUG"
    assert settings.sqlalchemy_url() == f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"


def test_toml_file_sets_values_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('log_level = "WARNING"\ncache_port = 6055\nshutdown_grace_s = 3.5\n')
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    settings = load_settings(MeshSettings)
    assert (settings.log_level, settings.cache_port, settings.shutdown_grace_s) == ("WARNING", 6055, 3.5)

    monkeypatch.setenv("SWITCHBOARD_LOG_LEVEL", "ERROR")
    settings = load_settings(MeshSettings)
    assert settings.log_level == "ERROR"  # the environment overrides the file
    assert settings.cache_port == 6055  # the rest still comes from the file


def test_bad_value_in_toml_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('router_port = "abc"\n')
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    assert "SWITCHBOARD_ROUTER_PORT" in str(pytest.raises(SettingsError, load_settings, MeshSettings).value)


def test_toml_syntax_error_is_a_settings_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text("log_level = \n")
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    with pytest.raises(SettingsError):
        load_settings(MeshSettings)


def test_missing_toml_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(missing))
    message = str(pytest.raises(SettingsError, load_settings, MeshSettings).value)
    assert "SWITCHBOARD_CONFIG" in message and str(missing) in message and "no such file" in message


async def test_serve_with_bad_value_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = clean_env(SWITCHBOARD_ROUTER_PORT="abc", SWITCHBOARD_DATA_DIR=str(tmp_path))
    done = await run_process(sys.executable, "-m", "switchboard.cli", "serve", "router", env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "SWITCHBOARD_ROUTER_PORT" in done.stderr
    assert "Traceback" not in done.stderr


async def test_serve_with_missing_config_file_exits_2(tmp_path: Path) -> None:
    env = clean_env(SWITCHBOARD_CONFIG=str(tmp_path / "absent.toml"), SWITCHBOARD_DATA_DIR=str(tmp_path))
    done = await run_process(sys.executable, "-m", "switchboard.cli", "serve", "cache", env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "SWITCHBOARD_CONFIG" in done.stderr and "Traceback" not in done.stderr
