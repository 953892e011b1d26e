"""The bases of a resident's consent to an inquiry (確認事項 第3条(5)), as a closed list.

A clerk chooses one and gives its reference (the form's number, the
application's receipt number, who recorded the oral consent and when). The
stored form is ``<basis>: <reference>``; the crossing functions check the same
list (migration ``inquiries_2026_12_06t06_30``), so free text cannot pass.
"""

from __future__ import annotations

import unicodedata

#: key → the stored (Japanese) label; the message catalog has both languages (consent.<key>).
CONSENT_BASES: dict[str, str] = {
    "written": "書面による同意",
    "application": "申請書への記載",
    "oral": "口頭同意の記録",
    "electronic": "電子申請での同意",
}
MIN_REFERENCE = 2
MAX_REFERENCE = 200


def basis_key(text: str) -> str | None:
    """The key for a key or label as typed (a bulk file may carry either)."""
    value = unicodedata.normalize("NFKC", text).strip()
    if value in CONSENT_BASES:
        return value
    for key, label in CONSENT_BASES.items():
        if value == unicodedata.normalize("NFKC", label):
            return key
    return None


def consent_basis(key: str, reference: str) -> str | None:
    """The stored consent basis, or None when the basis is not listed or the reference is empty."""
    reference = " ".join(reference.split())
    if key not in CONSENT_BASES or len(reference) < MIN_REFERENCE:
        return None
    return f"{CONSENT_BASES[key]}: {reference[:MAX_REFERENCE]}"
