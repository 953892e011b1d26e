"""What a vaccination certificate (接種証明書) certifies: the content model.

These frozen dataclasses are the one input of every output format: the SMART
Health Card, the ICAO VDS-NC and the printed PDF are all derived from a
:class:`CertificateContent`, so the QR codes and the paper always say the same
thing. The web layer builds one from the database (the issuance source data,
交付の基礎となる情報) and keeps it with the issuance history.

A certificate id is 12 characters so that it fits the VDS-NC ``uvci`` field
(≤ 12) unchanged and can be typed from the paper: 11 random characters from an
alphabet without look-alikes (no 0/O, 1/I) and a Luhn mod 32 check character,
which catches every single mistyped character and most swapped neighbours.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Literal

from common.identifiers import parse_municipality_code, parse_passport_number

CertificateKind = Literal["domestic", "overseas"]
"""国内用 (domestic) or 海外用 (overseas, bilingual, with passport data)."""

Sex = Literal["M", "F", "X"]
"""Sex as ICAO Doc 9303 writes it (X: unspecified)."""

CERTIFICATE_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CERTIFICATE_ID_LENGTH = 12


@dataclass(frozen=True)
class Dose:
    """One vaccination (接種) as a certificate states it."""

    dose_number: int
    """接種回数: 1 for the first dose."""
    date: date
    """接種年月日."""
    product_name_ja: str
    """ワクチン名, e.g. コミナティ筋注."""
    product_name_en: str
    """Brand name in English, e.g. COMIRNATY (the VDS-NC ``nam``)."""
    maker_ja: str
    """ワクチンメーカー, e.g. ファイザー."""
    maker_en: str
    """Maker in English, e.g. Pfizer."""
    cvx_code: str
    """CDC CVX code for the SMART Health Card (208 Pfizer, 207 Moderna, ...)."""
    icd11_code: str
    """ICD-11 vaccine code for the VDS-NC (XM0GQ8 RNA, XM9QW8 viral vector, XM5JC5 protein)."""
    lot: str
    """ロット番号."""
    municipality_ja: str
    """接種自治体: the municipality that vaccinated."""
    municipality_en: str
    """The same municipality's name in English (overseas certificate, VDS-NC ``adm``)."""
    venue: str = ""
    """接種会場, when known; not printed, kept for the issuance source data."""


@dataclass(frozen=True)
class Holder:
    """The vaccinated person (接種者) as the certificate names them."""

    family_name: str
    """氏 in kanji (or as registered): the registered 氏名 up to its first space, or all of it."""
    given_name: str
    """名: the registered 氏名 after its first space; empty when the name has no space."""
    birth_date: date
    """生年月日."""
    family_name_roman: str = ""
    """Family name in Roman letters as in the passport (overseas certificates)."""
    given_name_roman: str = ""
    """Given name(s) in Roman letters as in the passport."""
    former_family_name: str = ""
    """旧姓 (旧氏), printed beside the name when the resident asked for 旧姓併記."""
    sex: Sex | None = None
    """性別, when it is to be printed; optional on both certificate kinds."""
    passport_number: str = ""
    """旅券番号 (overseas certificates)."""
    nationality: str = ""
    """国籍 as an ICAO 3-letter code, e.g. JPN (overseas certificates)."""

    @property
    def name_kanji(self) -> str:
        """氏名 as printed: family name, a space, given name (the family name alone without one)."""
        return " ".join(part for part in (self.family_name, self.given_name) if part)

    @property
    def name_roman(self) -> str:
        """Name in Roman letters, passport style: FAMILY GIVEN, upper case."""
        return f"{self.family_name_roman} {self.given_name_roman}".upper().strip()


@dataclass(frozen=True)
class Issuer:
    """The municipality that manages the records and issues the certificate (証明書発行者)."""

    municipality_code: str
    """6-digit 市区町村コード with check digit."""
    name_ja: str
    """Municipality name, e.g. 千代田区."""
    name_en: str
    """Municipality name in English, e.g. Chiyoda City."""
    head_ja: str
    """Head of the municipality with title, e.g. 千代田区長 山田 一郎."""
    head_en: str = ""
    """The same in English, e.g. Mayor of Chiyoda City, YAMADA Ichiro (overseas)."""
    contact_ja: str = ""
    """Where to ask about the certificate (第19条), e.g. department and telephone."""
    contact_en: str = ""
    """The same in English (overseas)."""


@dataclass(frozen=True)
class CertificateContent:
    """Everything one certificate states; validated on construction.

    Raises:
        ValueError: a field is missing or inconsistent (the message names it);
            ``common.identifiers.IdentifierError`` (a ``ValueError``) for a bad
            municipality code or passport number.
    """

    kind: CertificateKind
    certificate_id: str
    issued_on: date
    issuer: Issuer
    holder: Holder
    doses: tuple[Dose, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("domestic", "overseas"):
            raise ValueError(f"kind: must be 'domestic' or 'overseas', not {self.kind!r}")
        if not is_valid_certificate_id(self.certificate_id):
            raise ValueError(f"certificate_id: {self.certificate_id!r} is not a certificate id")
        parse_municipality_code(self.issuer.municipality_code, "issuer.municipality_code")
        # A registered 氏名 without a space is the family name alone (no given name).
        if not self.holder.family_name:
            raise ValueError("holder: the name is required")
        if not self.doses:
            raise ValueError("doses: a certificate certifies at least one dose")
        numbers = [dose.dose_number for dose in self.doses]
        if numbers != sorted(set(numbers)) or numbers[0] < 1:
            raise ValueError(f"doses: dose numbers must rise from 1 without repeats, got {numbers}")
        if any(dose.date > self.issued_on for dose in self.doses):
            raise ValueError("doses: a dose is dated after the issue date")
        if self.kind == "overseas":
            self._check_overseas()

    def _check_overseas(self) -> None:
        holder = self.holder
        # As on the paper side, a passport name may be a family name alone.
        if not holder.family_name_roman:
            raise ValueError("holder: an overseas certificate needs the name in Roman letters")
        if not holder.name_roman.isascii():
            raise ValueError("holder: the Roman-letter name must be ASCII")
        if not holder.nationality:
            raise ValueError("holder: an overseas certificate needs the nationality")
        parse_passport_number(holder.passport_number, holder.nationality, "holder.passport_number")
        if not self.issuer.name_en:
            raise ValueError(
                "issuer: an overseas certificate needs the municipality's English name"
            )
        for dose in self.doses:
            if not (dose.product_name_en.isascii() and dose.lot.isascii()):
                raise ValueError(f"doses: dose {dose.dose_number} has non-ASCII product or lot")

    @property
    def overseas(self) -> bool:
        """True for the bilingual overseas certificate (海外用)."""
        return self.kind == "overseas"


def _luhn_mod_n_sum(text: str, double_first: bool) -> int:
    """Luhn mod N sum over ``text`` from the right; N is the alphabet size."""
    n = len(CERTIFICATE_ID_ALPHABET)
    total = 0
    double = double_first
    for char in reversed(text):
        addend = CERTIFICATE_ID_ALPHABET.index(char) * (2 if double else 1)
        total += addend // n + addend % n
        double = not double
    return total


def new_certificate_id() -> str:
    """A fresh random certificate id: 11 random characters and a check character."""
    body = "".join(
        secrets.choice(CERTIFICATE_ID_ALPHABET) for _ in range(CERTIFICATE_ID_LENGTH - 1)
    )
    n = len(CERTIFICATE_ID_ALPHABET)
    check = (n - _luhn_mod_n_sum(body, double_first=True) % n) % n
    return body + CERTIFICATE_ID_ALPHABET[check]


def is_valid_certificate_id(value: str) -> bool:
    """Whether ``value`` is a well-formed certificate id (alphabet, length, check character)."""
    if len(value) != CERTIFICATE_ID_LENGTH or any(c not in CERTIFICATE_ID_ALPHABET for c in value):
        return False
    return _luhn_mod_n_sum(value, double_first=False) % len(CERTIFICATE_ID_ALPHABET) == 0
