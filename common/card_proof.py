"""The card-authentication proof shared by the kiosk, the app and the server (FORMATS §5).

The flow:

1. The server hands out a :class:`CardChallenge` (``POST /api/v1/card-sessions``).
2. The card signs DigestInfo(SHA-256(challenge)) with its JPKI authentication key
   (RSA PKCS#1 v1.5), after the resident's PIN; the kiosk or app reads the
   authentication certificate, the My Number and the basic 4 facts (基本4情報).
3. The client posts a :class:`CardProof`; the server calls :func:`verify_proof`,
   which checks the certificate chain to a trusted J-LIS CA, its validity, the CRL
   and the signature over the server's own challenge, and returns the
   certificate's fingerprint.

What :func:`verify_proof` does not do, because it needs the server's database: the
challenge must be looked up by ``session_id``, be unexpired and be consumed exactly
once (replayed or expired challenge → refusal), and the returned fingerprint must be
found in the linkage table (紐付け, as J-LIS keeps it) mapping certificates to My
Numbers and compared with ``proof.my_number`` — the certificate itself does not
carry the My Number.

Parsing raises :class:`CardProofFormatError` (a message key and the field);
verification raises :class:`ProofRefused` (a reason key). Neither message contains
the My Number, the name or the address. Nothing here imports the web or database
layers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from common.identifiers import IdentifierError, parse_my_number

#: The server's challenges are 32 random bytes; shorter ones are refused as too guessable.
CHALLENGE_BYTES = 32
_MIN_CHALLENGE_BYTES = 16
_MAX_CHALLENGE_BYTES = 64

#: ISO 5218 sex codes as the card writes them: 1 male, 2 female, 9 not applicable.
SEX_CODES: Mapping[str, str] = {"1": "male", "2": "female", "9": "not applicable"}

#: Why :func:`verify_proof` refuses a proof (message keys ``card_proof.<reason>``).
REFUSAL_REASONS = frozenset(
    {
        "malformed",  # certificate or signature cannot be parsed, or not an RSA-2048+ key
        "unknown_ca",  # not issued by any trusted J-LIS CA
        "not_auth_certificate",  # issued by the CA, but not for digital signatures
        "not_yet_valid",
        "expired",  # the certificate (or its CA) is past its validity
        "revocation_unknown",  # no current CRL signed by the issuing CA
        "revoked",
        "bad_signature",  # the signature is not over this challenge by this certificate's key
    }
)

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class CardProofFormatError(ValueError):
    """A proof or challenge that does not parse: ``key`` names the message, ``field`` the part.

    A plain exception, not a frozen dataclass: Python sets ``__traceback__`` on
    exceptions as they pass through context managers, which a frozen one refuses.
    """

    def __init__(self, key: str, field: str) -> None:
        self.key = key
        self.field = field
        super().__init__(f"{field}: {key}")  # English fallback for logs; never the value


class ProofRefused(Exception):
    """The server will not accept this proof; ``reason`` is one of :data:`REFUSAL_REASONS`."""

    def __init__(self, reason: str) -> None:
        if reason not in REFUSAL_REASONS:
            raise ValueError(f"not a refusal reason: {reason}")
        self.reason = reason
        super().__init__(f"card proof refused: {reason}")


# --- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Basic4:
    """基本4情報 — the basic four facts printed on the card: name, address, birth date, sex."""

    name: str
    address: str
    birth_date: date
    sex: str  # ISO 5218 code, one of SEX_CODES

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CardProofFormatError("proof.empty", "basic4.name")
        if not self.address.strip():
            raise CardProofFormatError("proof.empty", "basic4.address")
        if self.sex not in SEX_CODES:
            raise CardProofFormatError("proof.bad_sex", "basic4.sex")

    def __repr__(self) -> str:  # personal data stays out of logs and tracebacks
        return "Basic4(…)"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form; the birth date as ``YYYY-MM-DD``."""
        return {
            "name": self.name,
            "address": self.address,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Basic4:
        """Parse the ``basic4`` object of a proof."""
        if not isinstance(data, Mapping):
            raise CardProofFormatError("proof.wrong_type", "basic4")
        birth = _required_str(data, "birth_date", "basic4.")
        try:
            birth_date = date.fromisoformat(birth)
        except ValueError:
            raise CardProofFormatError("proof.bad_date", "basic4.birth_date") from None
        return cls(
            name=_required_str(data, "name", "basic4."),
            address=_required_str(data, "address", "basic4."),
            birth_date=birth_date,
            sex=_required_str(data, "sex", "basic4."),
        )


@dataclass(frozen=True)
class CardChallenge:
    """A card session's challenge: what the card must sign, for whom and until when."""

    session_id: str
    challenge: bytes
    expires_at: datetime

    def __post_init__(self) -> None:
        if not self.session_id:
            raise CardProofFormatError("proof.empty", "session_id")
        if not _MIN_CHALLENGE_BYTES <= len(self.challenge) <= _MAX_CHALLENGE_BYTES:
            raise CardProofFormatError("proof.challenge_length", "challenge")
        if self.expires_at.tzinfo is None:
            raise CardProofFormatError("proof.bad_date", "expires_at")

    @classmethod
    def new(cls, session_id: str, now: datetime, lifetime: timedelta) -> CardChallenge:
        """A fresh challenge of :data:`CHALLENGE_BYTES` random bytes, valid for ``lifetime``."""
        return cls(session_id, secrets.token_bytes(CHALLENGE_BYTES), now + lifetime)

    def is_expired(self, now: datetime) -> bool:
        """Whether ``now`` is at or past the expiry (the server also consumes it once)."""
        return now >= self.expires_at

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form: the challenge in unpadded base64url, the expiry in ISO 8601."""
        return {
            "session_id": self.session_id,
            "challenge": base64.urlsafe_b64encode(self.challenge).rstrip(b"=").decode(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> CardChallenge:
        """Parse the server's answer to ``POST /api/v1/card-sessions``."""
        if not isinstance(data, Mapping):
            raise CardProofFormatError("proof.wrong_type", "challenge")
        expires = _required_str(data, "expires_at")
        try:
            expires_at = datetime.fromisoformat(expires)
        except ValueError:
            raise CardProofFormatError("proof.bad_date", "expires_at") from None
        return cls(
            session_id=_required_str(data, "session_id"),
            challenge=_decode_base64url(_required_str(data, "challenge"), "challenge"),
            expires_at=expires_at,
        )

    def to_json(self) -> str:
        """Compact JSON."""
        return _dump(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> CardChallenge:
        """Parse JSON text (see :meth:`from_dict`)."""
        return cls.from_dict(_load(text))


@dataclass(frozen=True)
class CardProof:
    """What the kiosk or app posts after the card signed the challenge."""

    auth_certificate: bytes  # DER of JPKI EF 000A
    signature: bytes  # RSA PKCS#1 v1.5 over DigestInfo(SHA-256(challenge))
    my_number: str
    basic4: Basic4

    def __post_init__(self) -> None:
        if not self.auth_certificate:
            raise CardProofFormatError("proof.empty", "auth_certificate")
        if not self.signature:
            raise CardProofFormatError("proof.empty", "signature")
        try:
            parse_my_number(self.my_number)
        except IdentifierError as error:
            raise CardProofFormatError(error.key, "my_number") from None

    def __repr__(self) -> str:  # keep the My Number and the basic 4 out of logs and tracebacks
        return f"CardProof(certificate={certificate_fingerprint(self.auth_certificate)[:16]}…)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: certificate and signature in standard base64."""
        return {
            "auth_certificate": base64.b64encode(self.auth_certificate).decode(),
            "signature": base64.b64encode(self.signature).decode(),
            "my_number": self.my_number,
            "basic4": self.basic4.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> CardProof:
        """Parse the body of ``POST /api/v1/card-sessions/{id}/proof``."""
        if not isinstance(data, Mapping):
            raise CardProofFormatError("proof.wrong_type", "proof")
        if "basic4" not in data:
            raise CardProofFormatError("proof.missing_field", "basic4")
        return cls(
            auth_certificate=_decode_base64(
                _required_str(data, "auth_certificate"), "auth_certificate"
            ),
            signature=_decode_base64(_required_str(data, "signature"), "signature"),
            my_number=_required_str(data, "my_number"),
            basic4=Basic4.from_dict(data["basic4"]),
        )

    def to_json(self) -> str:
        """Compact JSON, UTF-8 text kept as is (names and addresses are Japanese)."""
        return _dump(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> CardProof:
        """Parse JSON text (see :meth:`from_dict`)."""
        return cls.from_dict(_load(text))


# --- server-side verification -----------------------------------------------------------


def certificate_fingerprint(certificate_der: bytes) -> str:
    """SHA-256 of the certificate's DER, lower-case hex: the linkage table's key."""
    return hashlib.sha256(certificate_der).hexdigest()


def verify_proof(
    proof: CardProof,
    challenge: bytes,
    trusted_ca_certs: Sequence[x509.Certificate],
    crl: x509.CertificateRevocationList | Sequence[x509.CertificateRevocationList],
    now: datetime,
) -> str:
    """Check a proof against the challenge the server issued; return the certificate fingerprint.

    Args:
        proof: the parsed proof.
        challenge: the raw challenge bytes the server handed out for this session.
        trusted_ca_certs: the J-LIS authentication CA certificates the server trusts.
        crl: the current CRL(s) of those CAs; one signed by the issuing CA must be current.
        now: the time to judge validity at (timezone-aware).

    Returns:
        The SHA-256 fingerprint of the authentication certificate, to look up in the
        linkage table (the caller then compares the linked My Number with the proof's).

    Raises:
        ProofRefused: with a reason from :data:`REFUSAL_REASONS`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        certificate = x509.load_der_x509_certificate(proof.auth_certificate)
        public_key = certificate.public_key()
    except ValueError:
        raise ProofRefused("malformed") from None
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < 2048:
        raise ProofRefused("malformed")

    issuer = _issuing_ca(certificate, trusted_ca_certs)
    _check_usage(certificate)
    for checked in (issuer, certificate):
        if now < checked.not_valid_before_utc:
            raise ProofRefused("not_yet_valid")
        if now > checked.not_valid_after_utc:
            raise ProofRefused("expired")
    _check_revocation(certificate, issuer, crl, now)

    try:
        public_key.verify(proof.signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ProofRefused("bad_signature") from None
    return certificate_fingerprint(proof.auth_certificate)


def _issuing_ca(
    certificate: x509.Certificate, trusted_ca_certs: Sequence[x509.Certificate]
) -> x509.Certificate:
    for ca in trusted_ca_certs:
        if ca.subject != certificate.issuer or not _is_ca(ca):
            continue
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue  # same name, other key: J-LIS renews CA keys under one name
        return ca
    raise ProofRefused("unknown_ca")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _check_usage(certificate: x509.Certificate) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise ProofRefused("not_auth_certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise ProofRefused("not_auth_certificate")


def _check_revocation(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    crl: x509.CertificateRevocationList | Sequence[x509.CertificateRevocationList],
    now: datetime,
) -> None:
    crls = [crl] if isinstance(crl, x509.CertificateRevocationList) else list(crl)
    issuer_key = issuer.public_key()
    current = [
        candidate
        for candidate in crls
        if candidate.issuer == issuer.subject
        and candidate.is_signature_valid(issuer_key)  # type: ignore[arg-type]  # a CA key is RSA or EC; a wrong kind fails the check
        and candidate.last_update_utc <= now
        and (candidate.next_update_utc is None or now <= candidate.next_update_utc)
    ]
    if not current:
        # Fail closed: without a current list from this CA a revoked card would pass.
        raise ProofRefused("revocation_unknown")
    for candidate in current:
        if (
            candidate.get_revoked_certificate_by_serial_number(certificate.serial_number)
            is not None
        ):
            raise ProofRefused("revoked")


# --- JSON helpers ------------------------------------------------------------------------


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _load(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise CardProofFormatError("proof.not_json", "body") from None


def _required_str(data: Mapping[str, Any], name: str, prefix: str = "") -> str:
    if name not in data or data[name] is None:
        raise CardProofFormatError("proof.missing_field", prefix + name)
    value = data[name]
    if not isinstance(value, str):
        raise CardProofFormatError("proof.wrong_type", prefix + name)
    return value


def _decode_base64(text: str, field_name: str) -> bytes:
    # Python's decoder forgives surplus padding; the format is canonical base64.
    if len(text) % 4 or not _BASE64.fullmatch(text):
        raise CardProofFormatError("proof.bad_base64", field_name)
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CardProofFormatError("proof.bad_base64", field_name) from None
    if not decoded:
        raise CardProofFormatError("proof.empty", field_name)
    return decoded


def _decode_base64url(text: str, field_name: str) -> bytes:
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CardProofFormatError("proof.bad_base64", field_name)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
