"""The backup key and retention settings: in new secrets files, added to old ones, checked."""

from __future__ import annotations

import base64

import pytest

from common.settings import SettingsError, add_missing_secrets, load_settings, write_secrets_file

BASE = {"VRS_SECRET_KEY": "s" * 40, "VRS_MY_NUMBER_KEY": base64.b64encode(b"k" * 32).decode()}


def test_a_new_secrets_file_holds_a_backup_key(tmp_path) -> None:
    path = tmp_path / "secrets.env"
    assert write_secrets_file(path)
    settings = load_settings({"VRS_DATA_DIR": str(tmp_path), "VRS_SECRETS_FILE": str(path)})
    assert len(settings.backup_key) == 32
    assert settings.backup_retention_days == 30 and settings.upload_retention_days == 7


def test_an_older_secrets_file_gets_the_key_added_once_and_keeps_its_keys(tmp_path) -> None:
    path = tmp_path / "secrets.env"
    old = "".join(f"{k}={v}\n" for k, v in BASE.items())
    path.write_text(old)
    env = {"VRS_DATA_DIR": str(tmp_path), "VRS_SECRETS_FILE": str(path)}
    assert load_settings(env).backup_key == b""  # absent: backups say so (not a start-up error)
    assert add_missing_secrets(path) == ["VRS_BACKUP_KEY"]
    assert path.read_text().startswith(old)
    key = load_settings(env).backup_key
    assert len(key) == 32
    assert add_missing_secrets(path) == []
    assert load_settings(env).backup_key == key


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_backup_key_stops_start_up(tmp_path, value) -> None:
    with pytest.raises(SettingsError, match="VRS_BACKUP_KEY"):
        load_settings({**BASE, "VRS_DATA_DIR": str(tmp_path), "VRS_BACKUP_KEY": value})


def test_retention_periods_are_settings(tmp_path) -> None:
    settings = load_settings(
        {
            **BASE,
            "VRS_DATA_DIR": str(tmp_path),
            "VRS_BACKUP_RETENTION_DAYS": "90",
            "VRS_UPLOAD_RETENTION_DAYS": "1",
        }  # fmt: skip
    )
    assert (settings.backup_retention_days, settings.upload_retention_days) == (90, 1)
