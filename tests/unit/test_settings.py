"""Settings: one place, required values named when missing."""

from __future__ import annotations

import base64

import pytest

from common.settings import SettingsError, load_settings, write_secrets_file

KEY = base64.b64encode(b"m" * 32).decode()


def env(**values: str) -> dict[str, str]:
    return {
        "VRS_DATA_DIR": "/nonexistent/vrs",
        "VRS_SECRET_KEY": "s" * 40,
        "VRS_MY_NUMBER_KEY": KEY,
        **values,
    }


def test_a_missing_secret_is_named() -> None:
    values = env()
    del values["VRS_SECRET_KEY"]
    with pytest.raises(SettingsError, match="VRS_SECRET_KEY"):
        load_settings(values)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VRS_MY_NUMBER_KEY", "not base64!", "base64"),
        ("VRS_MY_NUMBER_KEY", base64.b64encode(b"short").decode(), "32 bytes"),
        ("VRS_SECRET_KEY", "short", "32 characters"),
        ("VRS_SESSION_HOURS", "eight", "whole number"),
    ],
)
def test_malformed_values_are_refused_with_their_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env(**{name: value}))


def test_defaults_and_derived_values() -> None:
    settings = load_settings(env(VRS_BASE_URL="https://vrs.example.lg.jp/"))
    assert settings.database_url is None  # → embedded server
    assert settings.secure_cookies
    assert settings.shc_issuer == "https://vrs.example.lg.jp/issuer"
    assert settings.lockout_threshold == 5


def test_the_secrets_file_fills_in_and_the_environment_wins(tmp_path) -> None:
    path = tmp_path / "secrets.env"
    assert write_secrets_file(path)
    assert not write_secrets_file(path)  # never overwritten
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    from_file = load_settings({"VRS_DATA_DIR": str(tmp_path)})
    assert len(from_file.my_number_key) == 32
    overridden = load_settings({"VRS_DATA_DIR": str(tmp_path), "VRS_SECRET_KEY": "e" * 40})
    assert overridden.secret_key == "e" * 40
