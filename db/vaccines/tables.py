"""Vaccine master data (makers, products, lots, rules), national reference data.

Loaded from ``db/vaccines/data/vaccines.json`` and edited by the national
admin. Every rule carries the dates it was in force, so a record is judged
by the rules of its own date.
"""

from piccolo.columns import (
    JSONB,
    UUID,
    Date,
    ForeignKey,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table


class Maker(Table):
    """ワクチンメーカー."""

    code = Varchar(length=32, primary_key=True)
    name = Varchar(length=64)
    name_en = Varchar(length=64)


class VaccineProduct(Table):
    """A vaccine product (e.g. コミナティ筋注 6ヵ月〜4歳用), with its codes."""

    code = Varchar(length=48, primary_key=True)
    maker = ForeignKey(references=Maker)
    platform = Varchar(length=16)
    """mrna, viral_vector or protein (ICD-11 XM0GQ8 / XM9QW8 / XM5JC5)."""
    cvx = Varchar(length=8)
    icd11 = Varchar(length=8)
    valent = Varchar(length=16, default="monovalent")


class ProductName(Table):
    """A product's name while it was in force (Moderna's rename to スパイクバックス)."""

    id = UUID(primary_key=True)
    product = ForeignKey(references=VaccineProduct)
    name = Varchar(length=128)
    name_en = Varchar(length=128)
    valid_from = Date()
    valid_to = Date(null=True, default=None)


class VaccineLot(Table):
    """A manufactured lot with its expiry (ロット番号・有効期限)."""

    id = UUID(primary_key=True)
    product = ForeignKey(references=VaccineProduct, index=True)
    lot_number = Varchar(length=32)
    expires_on = Date()
    updated_at = Timestamptz()

    lot_number_unique = Unique(["product", "lot_number"])


class VaccineRule(Table):
    """One rule for a product while it was in force.

    ``kind`` says what ``params`` holds: ``age`` {min_months, max_months},
    ``volume`` {ml: [...], min_age_months, max_age_months, doses: [from, to]},
    ``interval`` {after_dose, min_days}.
    """

    id = UUID(primary_key=True)
    product = ForeignKey(references=VaccineProduct, index=True)
    kind = Varchar(length=16)
    params = JSONB()
    valid_from = Date()
    valid_to = Date(null=True, default=None)
    note = Varchar(length=256, default="")


class MasterDataChange(Table):
    """Who changed the vaccine master data, when and what (a national audit)."""

    id = UUID(primary_key=True)
    changed_at = Timestamptz()
    changed_by = UUID(null=True, default=None)
    summary = Varchar(length=256)
    details = JSONB()
