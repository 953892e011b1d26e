"""The kinds of vaccine rule and their parameters: one definition, no I/O.

Each kind (``age``, ``volume``...) lists the numbers its ``params`` hold
(:class:`Param`). The national admin's form draws one labelled number input
per parameter from it, :func:`read_params` turns what was typed into the
``params`` the rules judge (``db/vaccinations/rules.py``), and
:func:`described` shows a stored rule as labelled values. A parameter's label
is the message ``master.param.<field>``; a kind's name is ``master.kind.<kind>``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


class MasterDataError(ValueError):
    """An edit that cannot be made; ``key`` names the message, ``field`` the form field at
    fault. ``label`` and ``other`` in ``params`` are message keys the page translates."""

    def __init__(self, key: str, field: str = "", **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params


@dataclass(frozen=True)
class Param:
    """One number of a rule: its form field, where it goes in ``params``, its range."""

    field: str
    low: Decimal
    high: Decimal
    required: bool = True
    key: str = ""
    """The key in ``params`` (the field's name when empty)."""
    slot: int | None = None
    """Its place in a list-valued key (``volume``'s ``doses``: [from, to])."""
    step: str = "1"
    """``1`` for whole numbers; ``0.01`` for millilitres."""

    @property
    def params_key(self) -> str:
        return self.key or self.field

    @property
    def whole(self) -> bool:
        return self.step == "1"


_MONTHS = (Decimal(0), Decimal(1440))
_DAYS = (Decimal(0), Decimal(3650))
_DOSE = (Decimal(1), Decimal(20))

#: Every kind of rule and its parameters, in the order the form shows them.
SHAPES: dict[str, tuple[Param, ...]] = {
    "age": (
        Param("min_months", *_MONTHS, required=False),
        Param("max_months", *_MONTHS, required=False),
    ),
    "volume": (
        Param("ml", Decimal("0.01"), Decimal("2"), slot=0, step="0.01"),
        Param("dose_from", *_DOSE, key="doses", slot=0),
        Param("dose_to", *_DOSE, key="doses", slot=1, required=False),
        Param("min_age_months", *_MONTHS, required=False),
        Param("max_age_months", *_MONTHS, required=False),
    ),
    "interval": (
        Param("after_dose", *_DOSE),
        Param("min_days", *_DAYS),
        Param("max_days", *_DAYS, required=False),
    ),
    "doses": (Param("min_dose", *_DOSE),),
    "dose_start": (Param("dose", *_DOSE),),
}
RULE_KINDS = tuple(SHAPES)
#: Every parameter's form field, over all kinds (each name belongs to one kind).
PARAM_FIELDS = tuple(p.field for params in SHAPES.values() for p in params)
#: Pairs that must be in order when both are given: (lower, upper).
ORDERED = (
    ("min_months", "max_months"),
    ("min_age_months", "max_age_months"),
    ("dose_from", "dose_to"),
    ("min_days", "max_days"),
)


def _number(param: Param, typed: str) -> Decimal | None:
    text = unicodedata.normalize("NFKC", typed).strip()
    label = f"master.param.{param.field}"
    if not text:
        if param.required:
            raise MasterDataError("master.number_required", param.field, label=label)
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or (param.whole and value != value.to_integral_value()):
        key = (
            "master.whole_number" if param.whole and value.is_finite() else "master.number_invalid"
        )
        raise MasterDataError(key, param.field, label=label, value=typed.strip())
    if value < 0:
        raise MasterDataError("master.number_negative", param.field, label=label)
    if not param.low <= value <= param.high:
        raise MasterDataError("master.number_range", param.field, label=label,
                              low=param.low, high=param.high)  # fmt: skip
    return value


def read_params(kind: str, values: Mapping[str, str]) -> dict[str, Any]:
    """The ``params`` of a ``kind`` rule from its form fields as typed.

    Raises :class:`MasterDataError` naming the field at fault: an unknown kind, a
    missing or unreadable number, a negative one, one out of range, a range upside down.
    """
    if kind not in SHAPES:
        raise MasterDataError("master.rule_kind", "kind")
    typed = {field: values[field] for field in PARAM_FIELDS}
    numbers = {p.field: _number(p, typed[p.field]) for p in SHAPES[kind]}
    for low, high in ORDERED:
        first, second = numbers.get(low), numbers.get(high)
        if first is not None and second is not None and first > second:
            raise MasterDataError("master.range_order", high,
                                  label=f"master.param.{low}", other=f"master.param.{high}")  # fmt: skip
    params: dict[str, Any] = {}
    for p in SHAPES[kind]:
        number = numbers[p.field]
        value: int | float | None = None
        if number is not None:
            value = int(number) if p.whole else float(number)
        if p.slot is None:
            if value is not None:
                params[p.params_key] = value
            continue
        slots = params.setdefault(p.params_key, [])
        slots.extend([None] * (p.slot + 1 - len(slots)))
        slots[p.slot] = value
    return params


def described(kind: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A stored rule as (field, value) pairs for the page: labelled values, never JSON."""
    shown = []
    for p in SHAPES.get(kind, ()):
        value = params.get(p.params_key)
        if isinstance(value, list):
            if p.field == "ml":  # a list of volumes, entered one per rule
                value = " / ".join(str(v) for v in value) or None
            else:
                value = value[p.slot] if p.slot is not None and p.slot < len(value) else None
        if value is not None:
            shown.append((p.field, str(value)))
    return shown
