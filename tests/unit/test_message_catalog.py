"""The message catalog: both languages complete, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

from web.i18n import LANGUAGES, catalog, translate

ROOT = Path(__file__).resolve().parents[2]
# t("key"), translate("key"), AppError("key"), IdentifierError("key"), AccountError("key")...
_KEY_USE = re.compile(
    r"""(?:\bt|translate|Error|Required|Allowed|Found|Input|Conflict|raise \w+)\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']"""
)


def used_keys() -> set[str]:
    keys: set[str] = set()
    for folder, pattern in (
        ("templates", "*.html"),
        ("web", "*.py"),
        ("db", "*.py"),
        ("common", "*.py"),
    ):
        for path in (ROOT / folder).rglob(pattern):
            keys.update(_KEY_USE.findall(path.read_text(encoding="utf-8")))
    return keys


def test_both_languages_have_the_same_keys() -> None:
    assert set(catalog("ja")) == set(catalog("en"))


def test_every_key_the_code_uses_has_a_message() -> None:
    keys = used_keys()
    assert len(keys) > 30  # the scan finds the keys (guards the regex)
    missing = sorted(k for k in keys if k not in catalog("ja") and not k.endswith("."))
    assert missing == []


def test_placeholders_match_between_languages() -> None:
    fields = re.compile(r"{(\w+)}")
    for key, text in catalog("ja").items():
        assert set(fields.findall(text)) == set(fields.findall(catalog("en")[key])), key


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert (
        translate("account.password_short", "en", length=12)
        == "A password needs at least 12 characters."
    )
    assert translate("account.password_short", "fr", length=12).startswith("パスワードは12")
    assert translate("no.such.key", "en") == "no.such.key"
    assert LANGUAGES[0] == "ja"
