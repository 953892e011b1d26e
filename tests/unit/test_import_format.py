"""The import's per-row date and text handling (the fast paths keep the documented forms)."""

from __future__ import annotations

import datetime as dt

import pytest

from db.imports.format import nfkc, parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-04-01", dt.date(2021, 4, 1)),
        (" 2021-04-01 ", dt.date(2021, 4, 1)),
        ("２０２１－０４－０１", dt.date(2021, 4, 1)),
        ("2021/04/01", dt.date(2021, 4, 1)),
        ("2021/4/1", dt.date(2021, 4, 1)),
        ("20210401", dt.date(2021, 4, 1)),
        ("2021-4-1", dt.date(2021, 4, 1)),
    ],
)
def test_dates_in_every_documented_form_are_read(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2021-02-30", "2021-13-01", "0000-01-01", "2021-04", "昭和56年"])
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def test_nfkc_leaves_ascii_alone_and_normalises_the_rest() -> None:
    assert nfkc("abc 123") == "abc 123"
    assert nfkc("ｱｲｳ　１２３") == "アイウ 123"
