"""The card holder against each municipality's record: birth date blocks, names never do."""

from __future__ import annotations

import datetime as dt

import pytest

from db.certificates.identity import compare, names_match

BORN = dt.date(1985, 4, 1)


@pytest.mark.parametrize(
    ("card", "record", "former"),
    [
        ("山田 太郎", "山田　太郎", ""),  # full-width space
        ("山田太郎", "山田 太郎", ""),
        ("髙橋 一郎", "高橋 一郎", ""),
        ("山﨑 花子", "山崎 花子", ""),
        ("渡邊 健", "渡辺 健", ""),
        ("渡邉 健", "渡邊 健", ""),
        ("ＹＡＭＡＤＡ　ＴＡＲＯ", "YAMADA TARO", ""),
        ("山田 花子（佐藤）", "山田 花子", ""),  # the card's 旧姓 in parentheses
        ("山田 花子(佐藤)", "山田 花子", "佐藤"),
        ("佐藤 花子", "山田 花子", "佐藤"),  # the record's former name
    ],
)
def test_names_that_are_the_same_person_match(card: str, record: str, former: str) -> None:
    assert names_match(card, record, former)


@pytest.mark.parametrize(
    ("card", "record"),
    [("鈴木 花子", "山田 花子"), ("JOHN SMITH", "スミス ジョン"), ("山田 太郎", "山田 次郎")],
)
def test_other_names_differ_but_do_not_block(card: str, record: str) -> None:
    assert not names_match(card, record)
    check = compare(
        {"name": card, "birth_date": BORN.isoformat()}, {"name": record, "birth_date": BORN}
    )
    assert check.offered and not check.name_matches


def test_another_birth_date_is_not_offered() -> None:
    check = compare(
        {"name": "山田 太郎", "birth_date": "1985-04-02"}, {"name": "山田 太郎", "birth_date": BORN}
    )
    assert check.name_matches and not check.offered
    assert not compare(None, {"name": "山田 太郎", "birth_date": BORN}).offered
    assert not compare(
        {"name": "山田 太郎", "birth_date": "x"}, {"name": "山田 太郎", "birth_date": BORN}
    ).offered
