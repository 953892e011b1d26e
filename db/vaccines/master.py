"""The vaccine master data as the rules and pages use it, cached per process.

Master data is national reference data that changes rarely (a new lot, a
rule change), so it is read once and re-read when a change is recorded in
``master_data_change`` (checked at most every few seconds).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from db.engine import current_connection
from db.vaccines.model import MasterData, Period, Product, Rule

_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class ProductLabel:
    """How a product is shown: its name in force on a date, and its maker."""

    code: str
    name: str
    name_en: str
    maker: str
    maker_en: str


@dataclass
class _Cache:
    master: MasterData | None = None
    labels: dict[str, list[tuple[Period, ProductLabel]]] | None = None
    version: int = -1
    checked_at: float = 0.0


_cache = _Cache()


async def master_data(connection: Any = None) -> MasterData:
    """The master data (read on ``connection``, else the current transaction's; no tenant needed)."""
    await _refresh(connection)
    assert _cache.master is not None
    return _cache.master


def recent_master_data() -> MasterData | None:
    """The cached master data if it was checked within the last few seconds, else None.

    For a caller without a connection at hand: only when this is None does it
    need one, to call :func:`master_data`.
    """
    if _cache.master is not None and time.monotonic() - _cache.checked_at < _RECHECK_SECONDS:
        return _cache.master
    return None


async def product_labels(day: dt.date) -> list[ProductLabel]:
    """Every product with the name it had on ``day`` (e.g. スパイクバックス from 2022-01-21)."""
    await _refresh()
    assert _cache.labels is not None
    labels = []
    for periods in _cache.labels.values():
        in_force = [label for period, label in periods if period.covers(day)] or [periods[-1][1]]
        labels.append(in_force[0])
    return sorted(labels, key=lambda label: label.code)


def cached_label(code: str, day: dt.date | None = None) -> ProductLabel | None:
    """A product's label from what this process last read (None before the first read).

    For templates, which cannot wait for the database: the name in force on ``day``
    (the latest name without one), or None for a code the cache does not know.
    """
    periods = (_cache.labels or {}).get(code)
    if not periods:
        return None
    if day is not None:
        for period, label in periods:
            if period.covers(day):
                return label
    return periods[-1][1]


def forget() -> None:
    """Drop the cache (after master data edits in this process, and in tests)."""
    _cache.version = -1
    _cache.checked_at = 0.0


async def _refresh(connection: Any = None) -> None:
    now = time.monotonic()
    if _cache.master is not None and now - _cache.checked_at < _RECHECK_SECONDS:
        return
    connection = connection or current_connection()
    version = await connection.fetchval(
        "SELECT coalesce(max(changed_at)::text, '') FROM master_data_change"
    )
    version_key = hash(version)
    _cache.checked_at = now
    if _cache.master is not None and version_key == _cache.version:
        return
    products = await connection.fetch(
        "SELECT p.code, p.maker, m.name AS maker_name, m.name_en AS maker_name_en"
        " FROM vaccine_product p JOIN maker m ON m.code = p.maker ORDER BY p.code"
    )
    rules = await connection.fetch(
        "SELECT product, kind, params, valid_from, valid_to, note FROM vaccine_rule"
    )
    lots = await connection.fetch("SELECT product, lot_number, expires_on FROM vaccine_lot")
    names = await connection.fetch(
        "SELECT product, name, name_en, valid_from, valid_to FROM product_name ORDER BY valid_from"
    )
    by_product: dict[str, list[Rule]] = {}
    for row in rules:
        params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
        by_product.setdefault(row["product"], []).append(
            Rule(row["kind"], params, Period(row["valid_from"], row["valid_to"]), row["note"])
        )
    lots_by_product: dict[str, dict[str, dt.date]] = {}
    for row in lots:
        lots_by_product.setdefault(row["product"], {})[row["lot_number"].upper()] = row[
            "expires_on"
        ]
    makers = {row["code"]: row for row in products}
    labels: dict[str, list[tuple[Period, ProductLabel]]] = {}
    for row in names:
        maker = makers[row["product"]]
        labels.setdefault(row["product"], []).append(
            (
                Period(row["valid_from"], row["valid_to"]),
                ProductLabel(
                    row["product"],
                    row["name"],
                    row["name_en"],
                    maker["maker_name"],
                    maker["maker_name_en"],
                ),
            )
        )
    _cache.master = MasterData(
        {
            row["code"]: Product(
                row["code"],
                row["maker"],
                tuple(by_product.get(row["code"], ())),
                lots_by_product.get(row["code"], {}),
            )
            for row in products
        }
    )
    _cache.labels = labels
    _cache.version = version_key
