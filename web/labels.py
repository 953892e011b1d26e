"""Names for the codes records carry, in the page's language (issue 14).

Pages show people names, never codes: a product by its name from the master
data, and sources, states, kinds and channels by their message in
``locales/<lang>/labels.json`` (``labels.<kind>.<code>``). A code with no
message is shown as it is, so a new code is visible rather than a blank.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from db.vaccines.loader import DEFAULT_FILE
from db.vaccines.master import cached_label
from web.i18n import catalog


@cache
def _seeded_names() -> dict[str, tuple[str, str]]:
    """The latest names in the master data file, for before the master cache is read."""
    data = json.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    names = {}
    for product in data["products"]:
        latest = max(product["names"], key=lambda name: name["valid_from"] or "")
        names[product["code"]] = (latest["name"], latest["name_en"])
    return names


def product_name(code: Any, language: str = "ja", day: dt.date | None = None) -> str:
    """A product's name (in force on ``day`` when given), e.g. ``コミナティ筋注``."""
    if not code:
        return ""
    code = str(code)
    label = cached_label(code, day if isinstance(day, dt.date) else None)
    if label is not None:
        return label.name if language == "ja" else label.name_en
    seeded = _seeded_names().get(code)
    if seeded is not None:
        return seeded[0] if language == "ja" else seeded[1]
    return code


def product_codes_and_names(language: str = "ja") -> list[tuple[str, str]]:
    """Every product's code and current name, for pages that document the code (CSV columns)."""
    return [(code, product_name(code, language)) for code in sorted(_seeded_names())]


def code_name(kind: str, code: Any, language: str = "ja") -> str:
    """The name of a code of one kind (``source``, ``record_status``...), or the code itself."""
    if code is None or code == "":
        return ""
    key = f"labels.{kind}.{code}"
    return catalog(language).get(key) or catalog("ja").get(key) or str(code)
