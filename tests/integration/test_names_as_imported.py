"""Names are stored as imported (trimmed only); search normalises both sides at look-up time.

The mistake: 氏名 was NFKC-normalised on import (① → 1, Ⅱ → II, Ａ → A), so the
record no longer said what the registry said. Only カナ is normalised
(half-width to full-width), as the README says.
"""

from __future__ import annotations

import datetime as dt

import pytest

from db.engine import tenant_transaction
from db.imports.format import COLUMNS, check_row, map_header
from db.residents.queries import PersonQuery, search
from tests.factories import create_municipality, create_resident

HEADERS = [c.header for c in COLUMNS]


def imported(name: str, kana: str = "ﾔﾏﾀﾞ ﾀﾛｳ"):
    positions, missing, _, _ = map_header(HEADERS)
    assert missing == []
    values = {"resident_number": "1001", "name": name, "name_kana": kana,
              "birth_date": "1960-04-01", "sex": "1"}  # fmt: skip
    checked, problems = check_row(
        [values.get(c.key, "") for c in COLUMNS], positions, dt.date(2026, 12, 1)
    )
    assert problems == [] and checked is not None
    return checked


@pytest.mark.parametrize("name", ["山田 太郎①", "ルイ　Ⅱ世", "ＡＢＣ　花子", "髙橋 﨑子"])
def test_a_name_is_stored_as_imported_not_nfkc_normalised(name: str) -> None:
    assert imported(f"  {name} ").name == name


def test_only_the_kana_is_normalised_to_full_width() -> None:
    assert imported("山田 太郎").name_kana == "ヤマダ タロウ"


async def test_search_finds_a_person_however_the_name_was_typed(app) -> None:
    await create_municipality("131016")
    await create_resident("131016", name="ＡＢＣ　花子", name_kana="エービーシー ハナコ")
    async with tenant_transaction("131016"):
        for typed in ("ABC花子", "ＡＢＣ 花子", "abc　花子", "ｴｰﾋﾞｰｼｰ"):
            found, _ = await search(PersonQuery(name=typed))
            assert [r["name"] for r in found] == ["ＡＢＣ　花子"], typed
