"""The national admin's edits of the vaccine master data, each recorded.

Rules and names are never rewritten in place: a change ends the old row's
period (``valid_to``) and starts a new row, so records keep being judged by
the rule of their own date. Every edit writes ``master_data_change``, which
also tells the per-process caches to reload.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

from db.engine import current_connection
from db.vaccines.master import forget
from db.vaccines.rule_shapes import RULE_KINDS, MasterDataError, described

__all__ = ["RULE_KINDS", "MasterDataError", "add_lot", "add_rule", "overview", "rename"]


async def _changed(actor: UUID | None, summary: str, details: dict[str, Any]) -> None:
    await current_connection().execute(
        "INSERT INTO master_data_change (id, changed_at, changed_by, summary, details)"
        " VALUES (gen_random_uuid(), now(), $1, $2, $3::jsonb)",
        actor,
        summary,
        json.dumps(details, ensure_ascii=False, default=str),
    )
    forget()


async def _require_product(code: str, *, starting: dt.date | None = None) -> None:
    """The product exists; a period ``starting`` on a date does not begin before its first name."""
    first = await current_connection().fetchrow(
        "SELECT p.code, min(n.valid_from) AS since FROM vaccine_product p"
        " LEFT JOIN product_name n ON n.product = p.code WHERE p.code = $1 GROUP BY p.code",
        code,
    )
    if first is None:
        raise MasterDataError("master.product_unknown", "product", product=code)
    if starting is not None and first["since"] is not None and starting < first["since"]:
        raise MasterDataError(
            "master.before_product", "valid_from", date=first["since"].isoformat()
        )


async def add_lot(product: str, lot_number: str, expires_on: dt.date, actor: UUID | None) -> None:
    """Register a lot (or change its expiry, e.g. an extension by the maker)."""
    await _require_product(product)
    lot = lot_number.strip().upper()
    if not lot or len(lot) > 32 or not lot.replace("-", "").isalnum():
        raise MasterDataError("dose.lot_invalid", "lot_number")
    await current_connection().execute(
        "INSERT INTO vaccine_lot (id, product, lot_number, expires_on, updated_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, now())"
        " ON CONFLICT (product, lot_number) DO UPDATE SET expires_on = excluded.expires_on, updated_at = now()",
        product,
        lot,
        expires_on,
    )
    await _changed(
        actor, f"lot {lot} of {product}", {"product": product, "lot": lot, "expires_on": expires_on}
    )


async def add_rule(
    product: str,
    kind: str,
    params: dict[str, Any],
    valid_from: dt.date,
    note: str,
    actor: UUID | None,
) -> None:
    """Start a rule on ``valid_from``; an open rule of the same kind and key ends the day before."""
    if kind not in RULE_KINDS:
        raise MasterDataError("master.rule_kind", "kind")
    await _require_product(product, starting=valid_from)
    connection = current_connection()
    same_key = {"interval": "after_dose", "dose_start": "dose"}.get(kind)
    open_rules = await connection.fetch(
        "SELECT id, params, valid_from FROM vaccine_rule WHERE product = $1 AND kind = $2 AND valid_to IS NULL",
        product,
        kind,
    )
    for rule in open_rules:
        existing = (
            rule["params"] if isinstance(rule["params"], dict) else json.loads(rule["params"])
        )
        if same_key and existing.get(same_key) != params.get(same_key):
            continue
        if rule["valid_from"] >= valid_from:
            raise MasterDataError(
                "master.rule_overlap", "valid_from", since=rule["valid_from"].isoformat()
            )
        await connection.execute(
            "UPDATE vaccine_rule SET valid_to = $2 WHERE id = $1",
            rule["id"],
            valid_from - dt.timedelta(days=1),
        )
    await connection.execute(
        "INSERT INTO vaccine_rule (id, product, kind, params, valid_from, valid_to, note)"
        " VALUES (gen_random_uuid(), $1, $2, $3::jsonb, $4, NULL, $5)",
        product,
        kind,
        json.dumps(params),
        valid_from,
        note,
    )
    await _changed(
        actor,
        f"{kind} rule of {product} from {valid_from}",
        {"product": product, "kind": kind, "params": params},
    )


async def rename(
    product: str, name: str, name_en: str, valid_from: dt.date, actor: UUID | None
) -> None:
    """A product's new name from a date (e.g. スパイクバックス from 2022-01-21)."""
    await _require_product(product, starting=valid_from)
    if not name.strip() or not name_en.strip():
        raise MasterDataError("master.name_required", "name" if not name.strip() else "name_en")
    connection = current_connection()
    await connection.execute(
        "UPDATE product_name SET valid_to = $2 WHERE product = $1 AND valid_to IS NULL AND valid_from < $3",
        product,
        valid_from - dt.timedelta(days=1),
        valid_from,
    )
    await connection.execute(
        "INSERT INTO product_name (id, product, name, name_en, valid_from, valid_to)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, NULL)",
        product,
        name.strip(),
        name_en.strip(),
        valid_from,
    )
    await _changed(
        actor, f"name of {product} from {valid_from}", {"product": product, "name": name}
    )


def _rule(row: Any) -> dict[str, Any]:
    """A rule row with its params decoded and shown as labelled values (``shown``)."""
    params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
    return {**dict(row), "params": params, "shown": described(row["kind"], params)}


async def overview() -> list[dict[str, Any]]:
    """Every product with its names, rules and lots, for the admin page."""
    connection = current_connection()
    products = await connection.fetch(
        "SELECT p.code, p.cvx, p.icd11, p.platform, p.valent, m.name AS maker FROM vaccine_product p"
        " JOIN maker m ON m.code = p.maker ORDER BY p.code"
    )
    names = await connection.fetch("SELECT * FROM product_name ORDER BY valid_from")
    rules = await connection.fetch("SELECT * FROM vaccine_rule ORDER BY kind, valid_from")
    lots = await connection.fetch("SELECT * FROM vaccine_lot ORDER BY lot_number")
    result = []
    for product in products:
        code = product["code"]
        result.append({
            **dict(product),
            "names": [dict(n) for n in names if n["product"] == code],
            "rules": [_rule(r) for r in rules if r["product"] == code],
            "lots": [dict(lot) for lot in lots if lot["product"] == code],
        })  # fmt: skip
    return result
