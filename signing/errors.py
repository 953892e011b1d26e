"""Why a certificate QR code or file failed verification.

Both verifiers (SMART Health Card and ICAO VDS-NC) raise the one exception
below, so the public verify page and the API can map a ``reason`` to a message
in the user's language without knowing which format was scanned.
"""

from __future__ import annotations

from enum import StrEnum


class VerificationFailure(StrEnum):
    """The specific reason a credential was refused."""

    MALFORMED = "malformed"
    """Not decodable as the format claims (bad base64, JSON, DEFLATE, header...)."""
    UNSUPPORTED = "unsupported"
    """Well formed but uses a feature we do not accept (an algorithm, chunked QR...)."""
    UNKNOWN_KEY = "unknown_key"
    """Signed with a key id that is not among the issuer keys we trust."""
    BAD_SIGNATURE = "bad_signature"
    """The signature does not match the content: tampered with or forged."""
    REVOKED = "revoked"
    """Genuine, but the issuer has revoked it (e.g. the records were corrected)."""
    SIGNER_NOT_VALID = "signer_not_valid"
    """The signing certificate was not valid on the date checked."""
    UNTRUSTED_SIGNER = "untrusted_signer"
    """The signing certificate does not chain to a configured trust anchor."""
    WRONG_ISSUER = "wrong_issuer"
    """Signed correctly, but claims a different issuer than the one expected."""


class VerificationError(Exception):
    """A credential failed verification for ``reason``; ``detail`` says more, in English."""

    def __init__(self, reason: VerificationFailure, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class SigningServiceUnavailable(Exception):
    """A service the signature needs did not answer (the timestamp authority, or a
    revocation service its chain names), so nothing was signed; ``detail`` says more."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail
