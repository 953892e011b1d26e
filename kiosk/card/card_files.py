"""The contents of the My Number card's files, written (emulator) and read (kiosk).

- EF 0001 of the input support AP: ``FF 10 0C`` + the 12 ASCII digits of the My Number.
- EF 0002: ``FF 20 <len> {DF 21 offsets, DF 22 name, DF 23 address, DF 24 YYYYMMDD,
  DF 25 sex}``, lengths in BER (long form once the address is long).
- EF 0003: ``FF 30 {DF 31 SHA-256 of EF 0001, DF 32 SHA-256 of EF 0002, DF 33 signature}``
  (field layout from AokiApp/jsapdu; what the issuer signs is our test card's choice).
- Certificates (JPKI EF 000A/000B): X.509 DER whose 4-byte head gives the length.

Decoders raise :class:`~kiosk.card.errors.CardError` with a ``card.*_malformed`` key
and a detail that names the broken part but never repeats its content.
"""

from __future__ import annotations

import hashlib
from datetime import date

from common.card_proof import SEX_CODES, Basic4, CardProofFormatError
from common.identifiers import IdentifierError, parse_my_number
from kiosk.card import layout
from kiosk.card.errors import CardError
from kiosk.card.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv

#: A certificate's head: SEQUENCE with a 2-byte long-form length (``30 82 hi lo``).
CERTIFICATE_HEAD_LENGTH = 4


# --- EF 0001: My Number ---------------------------------------------------------------


def encode_my_number(my_number: str) -> bytes:
    """EF 0001's content for a (valid) My Number."""
    return encode_tlv(layout.TAG_MY_NUMBER, parse_my_number(my_number).encode("ascii"))


def decode_my_number(content: bytes) -> str:
    """The My Number in EF 0001, check digit verified."""
    digits = _outer(content, layout.TAG_MY_NUMBER, "card.my_number_malformed")
    # Strict here: the card writes exactly 12 ASCII digits, no blanks or full-width forms.
    if len(digits) != 12 or not digits.isdigit():
        raise CardError("card.my_number_malformed", "not 12 ASCII digits")
    try:
        return parse_my_number(digits.decode("ascii"))
    except IdentifierError as error:
        raise CardError("card.my_number_malformed", error.key) from None


# --- EF 0002: basic 4 facts -----------------------------------------------------------


def encode_basic4(basic4: Basic4) -> bytes:
    """EF 0002's content: the four facts, with the DF 21 offsets element first."""
    fields = [
        encode_tlv(layout.TAG_BASIC4_NAME, basic4.name.encode("utf-8")),
        encode_tlv(layout.TAG_BASIC4_ADDRESS, basic4.address.encode("utf-8")),
        encode_tlv(layout.TAG_BASIC4_BIRTH_DATE, basic4.birth_date.strftime("%Y%m%d").encode()),
        encode_tlv(layout.TAG_BASIC4_SEX, basic4.sex.encode("ascii")),
    ]
    # DF 21 holds where each element starts (2 bytes each, counted from the value's start);
    # readers skip it, but it is there on real cards, so parsers must cope with it.
    offsets_length = len(encode_tlv(layout.TAG_BASIC4_OFFSETS, bytes(2 * len(fields))))
    positions, position = [], offsets_length
    for encoded in fields:
        positions.append(position.to_bytes(2, "big"))
        position += len(encoded)
    offsets = encode_tlv(layout.TAG_BASIC4_OFFSETS, b"".join(positions))
    return encode_tlv(layout.TAG_BASIC4, offsets + b"".join(fields))


def decode_basic4(content: bytes) -> Basic4:
    """The basic 4 facts in EF 0002; elements other than DF 22–25 are skipped."""
    value = _outer(content, layout.TAG_BASIC4, "card.basic4_malformed")
    found: dict[int, bytes] = {}
    try:
        for element in iter_tlvs(value):
            found.setdefault(element.tag, element.value)
    except TlvError as error:
        raise CardError("card.basic4_malformed", str(error)) from None
    texts = {}
    for tag, part in (
        (layout.TAG_BASIC4_NAME, "name"),
        (layout.TAG_BASIC4_ADDRESS, "address"),
        (layout.TAG_BASIC4_BIRTH_DATE, "birth date"),
        (layout.TAG_BASIC4_SEX, "sex"),
    ):
        if tag not in found:
            raise CardError("card.basic4_malformed", f"{part} (tag {tag:X}) missing")
        try:
            texts[part] = found[tag].decode("utf-8")
        except UnicodeDecodeError:
            raise CardError("card.basic4_malformed", f"{part} is not UTF-8") from None
    if texts["sex"] not in SEX_CODES:
        raise CardError("card.basic4_malformed", "sex is not an ISO 5218 code 1/2/9")
    try:
        return Basic4(
            name=texts["name"],
            address=texts["address"],
            birth_date=_parse_birth_date(texts["birth date"]),
            sex=texts["sex"],
        )
    except CardProofFormatError as error:
        raise CardError("card.basic4_malformed", f"{error.field} {error.key}") from None


def _parse_birth_date(text: str) -> date:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise CardError("card.basic4_malformed", "birth date is not YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CardError("card.basic4_malformed", "birth date is not a calendar date") from None


# --- EF 0003: the issuer's signature over EF 0001 and EF 0002 -------------------------


def input_support_signed_part(my_number_file: bytes, basic4_file: bytes) -> bytes:
    """DF 31 ‖ DF 32: the hashes of EF 0001 and EF 0002, which the issuer signs."""
    return encode_tlv(
        layout.TAG_SIGNATURE_MY_NUMBER_HASH, hashlib.sha256(my_number_file).digest()
    ) + encode_tlv(layout.TAG_SIGNATURE_BASIC4_HASH, hashlib.sha256(basic4_file).digest())


def encode_input_support_signature(signed_part: bytes, signature: bytes) -> bytes:
    """EF 0003's content: the signed hashes and the issuer's signature over them."""
    return encode_tlv(
        layout.TAG_SIGNATURE, signed_part + encode_tlv(layout.TAG_SIGNATURE_VALUE, signature)
    )


# --- certificates ---------------------------------------------------------------------


def certificate_length(head: bytes) -> int:
    """Total DER length from a certificate's first 4 bytes: ``((b2 << 8) | b3) + 4``."""
    if len(head) < CERTIFICATE_HEAD_LENGTH or head[0] != 0x30 or head[1] != 0x82:
        raise CardError("card.certificate_malformed", "not a DER certificate head (30 82 ..)")
    return ((head[2] << 8) | head[3]) + CERTIFICATE_HEAD_LENGTH


def _outer(content: bytes, tag: int, key: str) -> bytes:
    try:
        element = read_tlv(content)
    except TlvError as error:
        raise CardError(key, str(error)) from None
    if element.tag != tag:
        raise CardError(key, f"outer tag {element.tag:X}, expected {tag:X}")
    return element.value
