"""Is the card holder the person a municipality's record describes? (kiosk and app)

A My Number links a card to a resident record in every municipality that
holds one, but a record can carry a wrong My Number (a typo at registration,
a merged household). Before a municipality's certificate is offered, the
card's basic 4 facts are compared with that record:

- the birth date must be equal, else the municipality is not offered and the
  resident is told to contact it;
- the names are compared after removing spaces, NFKC, a small table of
  variant kanji (髙/高, 﨑/崎, 邊/邉/辺 …), the card's 旧姓 in parentheses
  (「山田 花子（佐藤）」) and the record's ``former_name``. A name that still
  differs (a marriage, a 通称, a foreign name) does not block: the resident sees
  each municipality's name as recorded before paying and chooses.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Variant (異体字) → the common form. Small on purpose: the usual ones on
#: residence records (住民票) and cards; a name that still differs never blocks.
VARIANTS = {
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "邊": "辺",
    "邉": "辺",
    "濵": "浜",
    "濱": "浜",
    "澤": "沢",
    "齋": "斉",
    "齊": "斉",
    "斎": "斉",
    "櫻": "桜",
    "廣": "広",
    "國": "国",
    "冨": "富",
    "𠮷": "吉",
    "德": "徳",
    "惠": "恵",
    "眞": "真",
    "槇": "槙",
    "龍": "竜",
    "藪": "薮",
    "籠": "篭",
    "嶋": "島",
    "嶌": "島",
    "條": "条",
    "來": "来",
    "萬": "万",
    "與": "与",
    "髮": "髪",
}

_FORMER = re.compile(r"[（(]([^）)]*)[）)]")
_SPACES = re.compile(r"\s+")


def normalised(name: str) -> str:
    """A name for comparison: NFKC, no spaces, variant kanji folded."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", name or ""))
    return "".join(VARIANTS.get(char, char) for char in text)


def card_names(card_name: str) -> tuple[str, str]:
    """The card's 氏名 without and the 旧姓 in parentheses: 「山田 花子（佐藤）」→ (山田花子, 佐藤)."""
    text = unicodedata.normalize("NFKC", card_name or "")
    former = " ".join(_FORMER.findall(text))
    return normalised(_FORMER.sub("", text)), normalised(former)


def names_match(card_name: str, record_name: str, record_former_name: str = "") -> bool:
    """Whether the card's name is the record's name (or its former name, or with the 旧姓)."""
    card, card_former = card_names(card_name)
    record = normalised(record_name)
    former = normalised(record_former_name)
    if not card:
        return False
    candidates = {record}
    # The record's former family name with the current given name, and the other way round:
    # 「佐藤 花子」 on the card, 「山田 花子」 with former_name 「佐藤」 on the record.
    given = _given(record_name)
    if former:
        candidates |= {former, former + given}
    if card_former:
        candidates |= {card_former + given}
    return card in candidates or (bool(card_former) and card_former == former and card == record)


def _given(name: str) -> str:
    parts = re.split(r"[\s\u3000]+", unicodedata.normalize("NFKC", name or "").strip(), maxsplit=1)
    return normalised(parts[1]) if len(parts) == 2 else ""


@dataclass(frozen=True)
class IdentityCheck:
    """What the comparison of the card with one record concluded."""

    birth_date_matches: bool
    name_matches: bool

    @property
    def offered(self) -> bool:
        """Only the birth date blocks; a differing name is shown and the resident chooses."""
        return self.birth_date_matches


def compare(card_facts: Mapping[str, Any] | None, record: Mapping[str, Any]) -> IdentityCheck:
    """Compare the card's basic 4 facts (``name``, ``birth_date``) with a resident record."""
    if not card_facts:
        return IdentityCheck(False, False)
    born = card_facts.get("birth_date")
    if isinstance(born, str):
        try:
            born = dt.date.fromisoformat(born)
        except ValueError:
            born = None
    recorded = record.get("birth_date")
    if isinstance(recorded, str):
        recorded = dt.date.fromisoformat(recorded)
    return IdentityCheck(
        birth_date_matches=born is not None and born == recorded,
        name_matches=names_match(
            str(card_facts.get("name") or ""),
            str(record.get("name") or ""),
            str(record.get("former_name") or ""),
        ),
    )
