"""Load the vaccine master data file into the reference tables (idempotent).

The file (``data/vaccines.json``) seeds an installation; afterwards the
national admin edits the data in the app. Re-loading adds what is missing
(new makers, products, lots) and leaves edited names and rules alone.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from db.vaccines.tables import (
    Maker,
    MasterDataChange,
    ProductName,
    VaccineLot,
    VaccineProduct,
    VaccineRule,
)

DEFAULT_FILE = Path(__file__).parent / "data" / "vaccines.json"

_RULE_FIELDS = ("kind", "valid_from", "valid_to", "note")


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


async def load_master_data(path: Path = DEFAULT_FILE) -> dict[str, int]:
    """Insert what the file has and the tables lack; returns counts of rows added."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    added = {"makers": 0, "products": 0, "names": 0, "rules": 0, "lots": 0}
    for maker in data["makers"]:
        if not await Maker.exists().where(Maker.code == maker["code"]):
            await Maker(**maker).save()
            added["makers"] += 1
    for product in data["products"]:
        code = product["code"]
        if not await VaccineProduct.exists().where(VaccineProduct.code == code):
            await VaccineProduct(
                code=code,
                maker=product["maker"],
                platform=product["platform"],
                cvx=product["cvx"],
                icd11=product["icd11"],
                valent=product["valent"],
            ).save()
            added["products"] += 1
        if not await ProductName.exists().where(ProductName.product == code):
            for name in product["names"]:
                await ProductName(
                    product=code,
                    name=name["name"],
                    name_en=name["name_en"],
                    valid_from=_date(name["valid_from"]),
                    valid_to=_date(name["valid_to"]),
                ).save()
                added["names"] += 1
        # Rules of a kind the product has none of yet (a kind added to the file later, e.g.
        # dose_start) reach existing installations; kinds already there may have been edited.
        known = {
            row["kind"]
            for row in await VaccineRule.select(VaccineRule.kind).where(VaccineRule.product == code)
        }
        for rule in product["rules"]:
            if rule["kind"] not in known:
                params = {k: v for k, v in rule.items() if k not in _RULE_FIELDS}
                await VaccineRule(
                    product=code,
                    kind=rule["kind"],
                    params=json.dumps(params),
                    valid_from=_date(rule["valid_from"]),
                    valid_to=_date(rule.get("valid_to")),
                    note=rule.get("note", ""),
                ).save()
                added["rules"] += 1
        for lot in product["lots"]:
            exists = await VaccineLot.exists().where(
                (VaccineLot.product == code) & (VaccineLot.lot_number == lot["lot_number"])
            )
            if not exists:
                await VaccineLot(
                    product=code, lot_number=lot["lot_number"], expires_on=_date(lot["expires_on"])
                ).save()
                added["lots"] += 1
    if any(added.values()):
        await MasterDataChange(
            summary=f"loaded {path.name}", details=json.dumps(added), changed_by=None
        ).save()
    return added
