"""Reading a dose from what a person typed or a file held: one parser for form, API and CSV.

Every problem is a :class:`FieldError` naming the field and the message key,
so all three channels say the same thing in the same words.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from common.identifiers import IdentifierError, TicketCode, parse_ticket_code

_LOT = re.compile(r"[A-Z0-9-]{2,32}")
_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
MAX_DOSE_NUMBER = 9


class FieldError(ValueError):
    """One field is not acceptable."""

    def __init__(self, key: str, field: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params


@dataclass(frozen=True)
class DoseRequest:
    """A dose to record, with everything parsed."""

    ticket: TicketCode
    dose_number: int
    vaccinated_on: dt.date
    product: str
    lot_number: str
    volume_ml: Decimal
    doctor_name: str
    idempotency_key: str
    override_reason: str = ""
    source: str = "tablet"


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value).strip()


def parse_dose(
    values: Mapping[str, Any],
    *,
    default_municipality: str | None,
    idempotency_key: str | None = None,
    source: str = "tablet",
) -> DoseRequest:
    """Parse a dose from a mapping of field name → text (form, JSON or CSV row).

    Fields: ``ticket`` (18-digit OCR line or 10-digit number), ``municipality_code``
    (for a 10-digit number; else ``default_municipality``), ``dose_number``,
    ``vaccinated_on`` (YYYY-MM-DD), ``product``, ``lot_number``, ``volume_ml``,
    ``doctor_name``, optional ``override_reason``.
    """
    try:
        ticket = parse_ticket_code(
            _text(values, "ticket"),
            default_municipality=_text(values, "municipality_code") or default_municipality,
            field_name="ticket",
        )
    except IdentifierError as exc:
        raise FieldError(exc.key, "ticket", **exc.params) from None

    raw_dose = _text(values, "dose_number")
    if not raw_dose and ticket.dose_number is not None:
        raw_dose = str(ticket.dose_number)
    if not raw_dose.isdigit() or not 1 <= int(raw_dose) <= MAX_DOSE_NUMBER:
        raise FieldError("dose.dose_number_invalid", "dose_number", max=MAX_DOSE_NUMBER)

    try:
        vaccinated_on = dt.date.fromisoformat(_text(values, "vaccinated_on"))
    except ValueError:
        raise FieldError("dose.date_invalid", "vaccinated_on") from None

    product = _text(values, "product")
    if not product:
        raise FieldError("dose.product_required", "product")

    lot = _text(values, "lot_number").upper().translate(_FULLWIDTH)
    if not _LOT.fullmatch(lot):
        raise FieldError("dose.lot_invalid", "lot_number")

    try:
        volume = Decimal(_text(values, "volume_ml").translate(_FULLWIDTH))
    except InvalidOperation:
        raise FieldError("dose.volume_invalid", "volume_ml") from None
    if not volume.is_finite() or not Decimal("0.05") <= volume <= Decimal("1.0"):
        raise FieldError("dose.volume_invalid", "volume_ml")

    doctor = _text(values, "doctor_name")
    if not doctor or len(doctor) > 64:
        raise FieldError("dose.doctor_required", "doctor_name")

    key = (idempotency_key or _text(values, "idempotency_key")).strip()
    if not _KEY.fullmatch(key):
        raise FieldError("dose.idempotency_key_invalid", "idempotency_key")

    override = _text(values, "override_reason")
    if len(override) > 500:
        raise FieldError("dose.override_too_long", "override_reason")

    return DoseRequest(
        ticket=ticket,
        dose_number=int(raw_dose),
        vaccinated_on=vaccinated_on,
        product=product,
        lot_number=lot,
        volume_ml=volume.quantize(Decimal("0.01")),
        doctor_name=doctor,
        idempotency_key=key,
        override_reason=override,
        source=source,
    )


_FULLWIDTH = str.maketrans(
    "０１２３４５６７８９．ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ－",
    "0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
)
