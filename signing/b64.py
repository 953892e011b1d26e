"""Base64url (RFC 4648 §5) without padding, as JWS, JWK and ICAO VDS-NC write it."""

from __future__ import annotations

import base64
import binascii
import re

# Padding is accepted on input because Japan's VDS-NC wrote its `cer` field
# with "==" on the end; the alphabet itself is checked strictly.
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url text, padded or not.

    Raises:
        ValueError: the text has characters outside the base64url alphabet or
            a length no encoding produces.
    """
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url text")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ValueError("base64url text of impossible length")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as error:  # pragma: no cover - the regex rules this out
        raise ValueError("not base64url text") from error
