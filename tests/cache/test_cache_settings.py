"""The cache's settings: SWITCHBOARD_CACHE_* variables, defaults, bounds."""

from __future__ import annotations

import pytest

from services.cache.settings import CacheSettings
from switchboard.runtime.settings import SettingsError, load_settings


def test_defaults_match_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWITCHBOARD_REDIS_URL", "SWITCHBOARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(CacheSettings)
    assert settings.redis_url is None  # in-memory store
    assert (settings.cache_max_entries, settings.cache_default_ttl_s) == (1000, 3600)
    assert settings.cache_auto_ttl is False
    assert settings.cache_max_value_bytes == 1024 * 1024
    assert settings.cache_redis_timeout_s == 0.05


def test_environment_variables_set_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_CACHE_MAX_ENTRIES", "5")
    monkeypatch.setenv("SWITCHBOARD_CACHE_AUTO_TTL", "true")
    monkeypatch.setenv("SWITCHBOARD_CACHE_REDIS_PREFIX", "tenant-a:")
    settings = load_settings(CacheSettings)
    assert (settings.cache_max_entries, settings.cache_auto_ttl, settings.cache_redis_prefix) == (5, True, "tenant-a:")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SWITCHBOARD_CACHE_MAX_ENTRIES": "0"}, "SWITCHBOARD_CACHE_MAX_ENTRIES"),
        ({"SWITCHBOARD_CACHE_REDIS_TIMEOUT_S": "-1"}, "SWITCHBOARD_CACHE_REDIS_TIMEOUT_S"),
        ({"SWITCHBOARD_CACHE_MIN_TTL_S": "7200"}, "SWITCHBOARD_CACHE_DEFAULT_TTL_S must lie within"),
        ({"SWITCHBOARD_CACHE_MIN_TTL_S": "900", "SWITCHBOARD_CACHE_MAX_TTL_S": "600"}, "must not exceed"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings(CacheSettings)
