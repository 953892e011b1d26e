"""Reading a dose from what a person typed or a file held: one parser for form, API and CSV.

Every problem is a :class:`FieldError` naming the field and the message key,
so all three channels say the same thing in the same words.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    birth_date: dt.date | None = None
    """The birth date the person (or guardian) stated: the identity check."""
    identity_reason: str = ""
    """Why the operator saves although the registry's birth date differs (then 要修正)."""

    @property
    def fingerprint(self) -> str:
        """What this save asks for: the same idempotency key must always ask the same."""
        material = "|".join(
            str(part)
            for part in (
                self.ticket.municipality_code, self.ticket.ticket_number, self.dose_number,
                self.vaccinated_on, self.product, self.lot_number, self.volume_ml,
                self.doctor_name, self.birth_date,
            )
        )  # fmt: skip
        return hashlib.sha256(material.encode()).hexdigest()


#: 和暦: era letter (or the era digit of JIS X 0301 style forms) → the year before its year 1.
ERAS = {"M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
_ERA_DIGITS = {"1": "M", "2": "T", "3": "S", "4": "H", "5": "R"}
_ERA_KANJI = {"明": "M", "大": "T", "昭": "S", "平": "H", "令": "R"}
_ERA_START = {"M": dt.date(1868, 1, 25), "T": dt.date(1912, 7, 30), "S": dt.date(1926, 12, 25),
              "H": dt.date(1989, 1, 8), "R": dt.date(2019, 5, 1)}  # fmt: skip


def parse_stated_birth_date(text: str) -> dt.date:
    """The birth date as a nurse types it; raises ``ValueError``.

    8 digits ``19850401``; ``1985-04-01`` or ``1985/04/01``; 和暦 as an era
    letter or digit and six digits: ``S600401`` or ``3600401`` (昭和60年4月1日).
    """
    value = text.strip().translate(_FULLWIDTH).upper()
    value = _ERA_KANJI.get(value[:1], value[:1]) + value[1:] if value else value
    compact = value.replace("-", "").replace("/", "").replace(".", "")
    if len(compact) == 8 and compact.isdigit():
        return dt.date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
    if len(compact) == 7 and compact[0] in _ERA_DIGITS and compact[1:].isdigit():
        compact = _ERA_DIGITS[compact[0]] + compact[1:]
    if len(compact) == 7 and compact[0] in ERAS and compact[1:].isdigit():
        era, year = compact[0], int(compact[1:3])
        day = dt.date(ERAS[era] + year, int(compact[3:5]), int(compact[5:]))
        later = [start for start in _ERA_START.values() if start > _ERA_START[era]]
        if year < 1 or day < _ERA_START[era] or (later and day >= min(later)):
            raise ValueError(text)
        return day
    raise ValueError(text)


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
    ``doctor_name``, ``birth_date`` (the person's stated birth date, see
    :func:`parse_stated_birth_date`), optional ``override_reason`` and
    ``identity_reason`` (the registry's birth date is wrong: save as 要修正).
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

    birth_date = parse_birth_field(values)
    identity_reason = _text(values, "identity_reason")
    if len(identity_reason) > 500:
        raise FieldError("dose.override_too_long", "identity_reason")

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
        birth_date=birth_date,
        identity_reason=identity_reason,
    )


def parse_birth_field(values: Mapping[str, Any]) -> dt.date:
    """The required ``birth_date`` field: the person's stated birth date."""
    raw = _text(values, "birth_date")
    if not raw:
        raise FieldError("identity.birth_date_required", "birth_date")
    try:
        return parse_stated_birth_date(raw)
    except ValueError:
        raise FieldError("identity.birth_date_invalid", "birth_date") from None


_FULLWIDTH = str.maketrans(
    "０１２３４５６７８９．ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ－",
    "0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
)
