"""The vaccine master data as plain values: what rules and pages read.

Loaded from the reference tables by :mod:`db.vaccines.master`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Period:
    """Dates a rule or name was in force (``until`` inclusive, None = still)."""

    since: dt.date
    until: dt.date | None

    def covers(self, day: dt.date) -> bool:
        return self.since <= day and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class Rule:
    """A vaccine rule row: ``kind`` says what ``params`` holds (see VaccineRule)."""

    kind: str
    params: dict[str, Any]
    period: Period
    note: str = ""


@dataclass(frozen=True)
class Product:
    """A vaccine product with its rules and lots."""

    code: str
    maker: str
    rules: tuple[Rule, ...]
    lots: dict[str, dt.date]
    """lot number → expiry date."""

    def rules_on(self, kind: str, day: dt.date) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind and r.period.covers(day)]


@dataclass(frozen=True)
class MasterData:
    """The vaccine master as the rules need it."""

    products: dict[str, Product]


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def master_from_document(document: dict[str, Any]) -> MasterData:
    """Master data straight from the data file's shape (tests, tools)."""
    products = {}
    for product in document["products"]:
        rules = tuple(
            Rule(
                rule["kind"],
                {
                    k: v
                    for k, v in rule.items()
                    if k not in ("kind", "valid_from", "valid_to", "note")
                },
                Period(dt.date.fromisoformat(rule["valid_from"]), _day(rule.get("valid_to"))),
                rule.get("note", ""),
            )
            for rule in product["rules"]
        )
        lots = {
            lot["lot_number"].upper(): dt.date.fromisoformat(lot["expires_on"])
            for lot in product["lots"]
        }
        products[product["code"]] = Product(product["code"], product["maker"], rules, lots)
    return MasterData(products)
