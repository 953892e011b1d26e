"""Identifiers of the vaccination system (SPEC §2), parsed with specific messages.

Every parser raises :class:`IdentifierError` with a message key (for the message
catalog), the field it concerns and the values to fill in, so the venue page,
the API and a CSV report can all say exactly what is wrong in the user's
language. Nothing here imports the web or database layers: the kiosk uses it too.

Check digits catch most misreads, not all (141011 → 144011 is still a valid
municipality code, and ticket numbers carry no check digit), which is why the
venue page always shows the matched person for confirmation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DIGITS = re.compile(r"[0-9]+")
_PASSPORT_JP = re.compile(r"[A-Z]{2}[0-9]{7}")
_PASSPORT_ANY = re.compile(r"[A-Z0-9]{1,20}")

#: 券種 (ticket type) digits printed on tickets: 1 接種券 (vaccination ticket),
#: 2 接種済証 with a ticket, 3 予診票 only (used for clinics' forms). Kept as data
#: so that a new kind of ticket is a one-line change.
TICKET_TYPES: dict[str, str] = {"1": "接種券", "2": "接種券一体型予診票", "3": "予診票"}

#: 回数 on the ticket: the dose the ticket is for (1–9; 0 is not printed).
MAX_DOSE_NUMBER = 9


class IdentifierError(ValueError):
    """A malformed identifier: ``key`` names the message, ``params`` fill it in."""

    def __init__(self, key: str, field: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params or {}

    def __str__(self) -> str:  # English fallback for logs and exceptions
        return f"{self.field}: {self.key} {self.params}"


def _normalise_digits(value: str) -> str:
    """Accept full-width digits and surrounding blanks, as typed on Japanese keyboards."""
    return value.strip().translate(_FULLWIDTH)


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _require_digits(value: str, length: int, field_name: str) -> str:
    digits = _normalise_digits(value)
    if not digits:
        raise IdentifierError("id.required", field_name)
    if not _DIGITS.fullmatch(digits):
        raise IdentifierError("id.not_digits", field_name, {"length": length})
    if len(digits) != length:
        raise IdentifierError(
            "id.wrong_length", field_name, {"length": length, "actual": len(digits)}
        )
    return digits


# --- 市区町村コード ---------------------------------------------------------


def municipality_check_digit(jis_code: str) -> str:
    """Check digit of a 5-digit JIS X 0402 code (総務省 全国地方公共団体コード)."""
    if not _DIGITS.fullmatch(jis_code) or len(jis_code) != 5:
        raise IdentifierError("id.wrong_length", "municipality_code", {"length": 5})
    total = sum(int(d) * w for d, w in zip(jis_code, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def parse_municipality_code(value: str, field_name: str = "municipality_code") -> str:
    """Validate a 6-digit 市区町村コード (5 digits + check digit) and return it."""
    code = _require_digits(value, 6, field_name)
    if municipality_check_digit(code[:5]) != code[5]:
        raise IdentifierError("id.municipality_check_digit", field_name, {"code": code})
    return code


def prefecture_of(municipality_code: str) -> str:
    """The 2-digit prefecture code (都道府県コード) a municipality belongs to."""
    return municipality_code[:2]


# --- マイナンバー -------------------------------------------------------------


def my_number_check_digit(first_eleven: str) -> str:
    """Check digit of a My Number (個人番号), from its first 11 digits."""
    if not _DIGITS.fullmatch(first_eleven) or len(first_eleven) != 11:
        raise IdentifierError("id.wrong_length", "my_number", {"length": 11})
    total = 0
    for n in range(1, 12):
        p = int(first_eleven[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def parse_my_number(value: str, field_name: str = "my_number") -> str:
    """Validate a 12-digit My Number and return it (never log the result)."""
    number = _require_digits(value.replace("-", "").replace(" ", ""), 12, field_name)
    if my_number_check_digit(number[:11]) != number[11]:
        raise IdentifierError("id.my_number_check_digit", field_name)
    return number


def mask_my_number(number: str) -> str:
    """Show a My Number masked, keeping the last four digits (e.g. ********1234)."""
    return "*" * 8 + number[-4:]


# --- 接種券 -------------------------------------------------------------------


@dataclass(frozen=True)
class TicketCode:
    """What a ticket's OCR line or barcode says.

    ``ticket_type`` and ``dose_number`` are ``None`` for the NW-7 barcode, which
    carries only the 10-digit number; ``municipality_code`` is then the one the
    caller supplied (the venue's, unless the operator chose another).
    """

    municipality_code: str
    ticket_number: str
    ticket_type: str | None = None
    dose_number: int | None = None

    @property
    def ocr_line(self) -> str | None:
        """The 18-digit line, when the code carried one."""
        if self.ticket_type is None or self.dose_number is None:
            return None
        return f"{self.ticket_type}{self.dose_number}{self.municipality_code}{self.ticket_number}"


def parse_ticket_number(value: str, field_name: str = "ticket_number") -> str:
    """Validate a 10-digit 接種券番号."""
    return _require_digits(value, 10, field_name)


def parse_ocr_line(value: str, field_name: str = "ocr_line") -> TicketCode:
    """Parse the 18 digits of a ticket's OCR line or QR code.

    Layout: 券種 (1) + 回数 (1) + 市区町村コード (6) + 券番号 (10).
    """
    digits = _require_digits(value, 18, field_name)
    ticket_type, dose, code, number = digits[0], digits[1], digits[2:8], digits[8:]
    if ticket_type not in TICKET_TYPES:
        raise IdentifierError(
            "id.ticket_type_unknown",
            field_name,
            {"value": ticket_type, "known": "/".join(TICKET_TYPES)},
        )
    if dose == "0":
        raise IdentifierError("id.dose_number_zero", field_name)
    municipality = parse_municipality_code(code, field_name)
    return TicketCode(municipality, number, ticket_type, int(dose))


def parse_ticket_code(
    value: str, default_municipality: str | None = None, field_name: str = "ticket"
) -> TicketCode:
    """Read whatever the operator scanned or typed: the 18-digit line or the 10-digit barcode."""
    digits = _normalise_digits(value)
    if len(digits) == 10 and _DIGITS.fullmatch(digits):
        if default_municipality is None:
            raise IdentifierError("id.barcode_needs_municipality", field_name)
        return TicketCode(parse_municipality_code(default_municipality), digits)
    if len(digits) == 18:
        return parse_ocr_line(digits, field_name)
    if digits and not _DIGITS.fullmatch(digits):
        raise IdentifierError("id.not_digits", field_name, {"length": 18})
    raise IdentifierError("id.ticket_length", field_name, {"actual": len(digits)})


# --- 個別宛名番号 / 旅券番号 --------------------------------------------------


def parse_resident_number(value: str, field_name: str = "resident_number") -> str:
    """Validate a 個別宛名番号 (the municipality's own resident id, 1–15 digits)."""
    digits = _normalise_digits(value)
    if not digits:
        raise IdentifierError("id.required", field_name)
    if not _DIGITS.fullmatch(digits) or len(digits) > 15:
        raise IdentifierError("id.resident_number", field_name)
    return digits


def parse_passport_number(
    value: str, nationality: str = "JPN", field_name: str = "passport_number"
) -> str:
    """Validate a passport number: Japanese ones are 2 letters + 7 digits."""
    text = value.strip().upper()
    if not text:
        raise IdentifierError("id.required", field_name)
    if nationality.upper() in {"JPN", "JP"}:
        if not _PASSPORT_JP.fullmatch(text):
            raise IdentifierError("id.passport_japanese", field_name)
    elif not _PASSPORT_ANY.fullmatch(text):
        raise IdentifierError("id.passport_other", field_name)
    return text
