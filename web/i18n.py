"""The message catalog: Japanese first, English available.

Messages live in ``locales/<lang>/<part>.json`` (one file per part of the
system and language, editable by translators), keyed by dotted names; the
files of a language are merged, and a key defined twice is an error.
Templates and error handlers look messages up with :func:`translate`.
Placeholders use ``str.format`` names.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANGUAGE_COOKIE = "vrs_lang"

_LOCALES = Path(__file__).parent / "locales"


@cache
def catalog(language: str) -> dict[str, str]:
    """All messages of one language, merged from its files."""
    messages: dict[str, str] = {}
    for path in sorted((_LOCALES / language).glob("*.json")):
        part = json.loads(path.read_text(encoding="utf-8"))
        twice = messages.keys() & part.keys()
        if twice:
            raise ValueError(f"{path.name} redefines {sorted(twice)}")
        messages.update(part)
    return messages


def translate(key: str, language: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """The message for ``key`` in ``language``, falling back to Japanese, then the key."""
    text = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE).get(key, key)
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text


def pick_language(cookie: str | None, query: str | None = None) -> str:
    """The language of a request: an explicit ?lang=, else the cookie, else Japanese."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def language_of(request: Any) -> str:
    """The language of a Litestar request, even where our middleware did not run (404s)."""
    chosen = request.scope.get("state", {}).get("language")
    if chosen in LANGUAGES:
        return chosen
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.query_params.get("lang"))
