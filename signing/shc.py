"""SMART Health Cards: issue, encode for a QR code or a file, and verify.

A card is a compact JWS (header ``{"zip":"DEF","alg":"ES256","kid":...}``) whose
payload is the minified JWT claims set compressed with raw DEFLATE (FORMATS §1,
spec.smarthealth.cards). Signing and signature checking use joserfc; its JWS
registry refuses unknown header names, so ``zip`` (a JWE name the SHC spec
reuses) is registered in a registry of our own. The DEFLATE step is ours: the
payload handed to joserfc is the compressed bytes, as the spec requires.

Verification accepts the current ``vc.type`` (``#health-card``) and the
deprecated ``#immunization`` / ``#covid19`` types Japan's cards also carried,
and answers with a specific :class:`~signing.errors.VerificationError`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from signing.b64 import b64url_decode, b64url_encode
from signing.content import CertificateContent
from signing.errors import VerificationError, VerificationFailure
from signing.fhir import immunization_bundle
from signing.keys import ShcIssuerKey

HEALTH_CARD = "https://smarthealth.cards#health-card"
#: Deprecated since VCI 1.4.0 but present on Japan's cards: accepted, never issued.
DEPRECATED_TYPES = frozenset(
    {"https://smarthealth.cards#immunization", "https://smarthealth.cards#covid19"}
)
FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/smart-health-card"
FILE_EXTENSION = ".smart-health-card"
QR_PREFIX = "shc:/"

#: A JWS longer than this needs the deprecated chunked QR form (spec: V22 at error L).
MAX_SINGLE_QR_JWS = 1195
#: Inflated payloads larger than this are refused (a card is a few kB): no DEFLATE bombs.
_MAX_PAYLOAD_BYTES = 64 * 1024

_REGISTRY = JWSRegistry(
    header_registry={"zip": HeaderParameter("Payload compression (SMART Health Cards)", "str")},
    algorithms=["ES256"],
)
_RID = re.compile(r"[A-Za-z0-9_-]{1,24}")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


# --- issuing -----------------------------------------------------------------


def card_claims(
    content: CertificateContent,
    issuer_url: str,
    issued_at: dt.datetime,
    rid: str | None = None,
) -> dict[str, Any]:
    """The JWT claims of a card: ``iss``, ``nbf``, ``vc`` (and ``rid`` if given).

    Args:
        content: what the certificate states.
        issuer_url: the ``iss`` base URL, without a trailing slash; its
            ``/.well-known/jwks.json`` must serve the issuer keys.
        issued_at: the issuance time (``nbf``).
        rid: revocation id, ≤ 24 base64url characters (ours: ``KeyStore.shc_rid``).
    """
    if issuer_url.endswith("/"):
        raise ValueError("issuer_url: no trailing slash (the SHC spec appends /.well-known/...)")
    vc: dict[str, Any] = {
        "type": [HEALTH_CARD],
        "credentialSubject": {
            "fhirVersion": FHIR_VERSION,
            "fhirBundle": immunization_bundle(content),
        },
    }
    if rid is not None:
        if not _RID.fullmatch(rid):
            raise ValueError("rid: at most 24 base64url characters")
        vc["rid"] = rid
    return {"iss": issuer_url, "nbf": int(issued_at.timestamp()), "vc": vc}


def sign_card(claims: Mapping[str, Any], key: ShcIssuerKey) -> str:
    """Minify, DEFLATE and sign ``claims`` with ``key``; returns the compact JWS."""
    if key.signing_key is None:
        raise ValueError(f"SHC key {key.kid} is retired and cannot sign")
    minified = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(minified) + compressor.flush()
    header = {"zip": "DEF", "alg": "ES256", "kid": key.kid}
    return jws.serialize_compact(header, deflated, key.signing_key, registry=_REGISTRY)


def issue_card(
    content: CertificateContent,
    key: ShcIssuerKey,
    issuer_url: str,
    issued_at: dt.datetime,
    rid: str | None = None,
) -> str:
    """Issue the SMART Health Card of a certificate: the signed compact JWS."""
    return sign_card(card_claims(content, issuer_url, issued_at, rid), key)


def to_qr_text(card_jws: str) -> str:
    """The text of the card's QR code: ``shc:/`` then two digits per JWS character.

    Raises:
        ValueError: the JWS is too long for one QR code (chunking is deprecated).
    """
    if len(card_jws) > MAX_SINGLE_QR_JWS:
        raise ValueError(f"JWS of {len(card_jws)} characters needs more than one QR code")
    return QR_PREFIX + numeric_digits(card_jws)


def numeric_digits(card_jws: str) -> str:
    """Each JWS character as ``ord(c) - 45`` in two digits (the numeric QR segment)."""
    return "".join(f"{ord(char) - 45:02d}" for char in card_jws)


def from_qr_text(text: str) -> str:
    """The JWS inside a ``shc:/`` QR text.

    Raises:
        VerificationError: not a single-chunk ``shc:/`` text of digit pairs.
    """
    if not text.startswith(QR_PREFIX):
        raise VerificationError(VerificationFailure.MALFORMED, "does not start with shc:/")
    digits = text[len(QR_PREFIX) :]
    if "/" in digits:
        raise VerificationError(
            VerificationFailure.UNSUPPORTED, "chunked (multi-QR) cards are not supported"
        )
    if not digits.isdigit() or len(digits) % 2:
        raise VerificationError(
            VerificationFailure.MALFORMED, "shc:/ must be followed by pairs of digits"
        )
    values = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    if max(values) > ord("z") - 45:
        raise VerificationError(
            VerificationFailure.MALFORMED, "digit pair outside the JWS alphabet"
        )
    return "".join(chr(value + 45) for value in values)


def file_body(card_jwss: Iterable[str]) -> bytes:
    """The body of a ``.smart-health-card`` download (``application/smart-health-card``).

    Minified JSON with nothing around it: the SHC dev tools report a trailing
    newline or other surrounding whitespace as an error.
    """
    document = {"verifiableCredential": list(card_jwss)}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


# --- revocation lists --------------------------------------------------------


@dataclass(frozen=True)
class RevocationList:
    """An issuer's card revocation list for one key (``/.well-known/crl/{kid}.json``).

    ``rids`` maps a revoked rid to ``None`` (all cards with it) or to a
    timestamp: only cards issued (``nbf``) before it are revoked.
    """

    kid: str
    ctr: int
    rids: Mapping[str, int | None]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RevocationList:
        """Parse a CRL document as served by an issuer.

        Raises:
            ValueError: not a ``method: rid`` CRL.
        """
        if document.get("method") != "rid":
            raise ValueError("only CRLs of method 'rid' are supported")
        rids: dict[str, int | None] = {}
        for entry in document.get("rids", []):
            rid, _, timestamp = str(entry).partition(".")
            rids[rid] = int(timestamp) if timestamp else None
        return cls(kid=str(document["kid"]), ctr=int(document["ctr"]), rids=rids)

    def to_document(self) -> dict[str, Any]:
        """The JSON document to serve for this list."""
        rids = [rid if ts is None else f"{rid}.{ts}" for rid, ts in sorted(self.rids.items())]
        return {"kid": self.kid, "method": "rid", "ctr": self.ctr, "rids": rids}

    def revokes(self, rid: str | None, nbf: float) -> bool:
        """Whether a card with ``rid`` issued at ``nbf`` is revoked by this list."""
        if rid is None or rid not in self.rids:
            return False
        cutoff = self.rids[rid]
        return cutoff is None or nbf < cutoff


# --- verifying ---------------------------------------------------------------


def load_jwks(document: Mapping[str, Any]) -> dict[str, ECKey]:
    """``kid`` → public key from a JWKS document (``{"keys": [...]}``).

    Keys whose ``kid`` is not their RFC 7638 thumbprint are skipped, as the
    SHC spec requires the kid to be the thumbprint.
    """
    keys: dict[str, ECKey] = {}
    for entry in document.get("keys", []):
        if entry.get("kty") != "EC" or entry.get("crv") != "P-256":
            continue
        public = {name: entry[name] for name in ("kty", "crv", "x", "y")}
        key = ECKey.import_key(public)
        if key.thumbprint() == entry.get("kid"):
            keys[entry["kid"]] = key
    return keys


@dataclass(frozen=True)
class CardVerification:
    """A card whose signature checked out."""

    jws: str
    kid: str
    claims: dict[str, Any]

    @property
    def issuer_url(self) -> str:
        """The ``iss`` claim."""
        return str(self.claims["iss"])

    @property
    def issued_at(self) -> dt.datetime:
        """The ``nbf`` claim as a UTC time."""
        return dt.datetime.fromtimestamp(float(self.claims["nbf"]), dt.UTC)

    @property
    def bundle(self) -> dict[str, Any]:
        """The FHIR Bundle."""
        bundle: dict[str, Any] = self.claims["vc"]["credentialSubject"]["fhirBundle"]
        return bundle

    @property
    def rid(self) -> str | None:
        """The revocation id, if the card has one."""
        rid: str | None = self.claims["vc"].get("rid")
        return rid


def verify_card(
    value: str,
    keys: Mapping[str, ECKey],
    *,
    revocation_lists: Mapping[str, RevocationList] | None = None,
    expected_issuer: str | None = None,
) -> CardVerification:
    """Decode and verify a card given as QR text (``shc:/...``) or as a JWS.

    Args:
        value: what was scanned or uploaded.
        keys: trusted issuer keys by kid (see :func:`load_jwks`).
        revocation_lists: CRLs by kid; a card whose rid one lists is refused.
        expected_issuer: when given, the ``iss`` the card must name.

    Raises:
        VerificationError: with the reason: malformed, unsupported, unknown
            key, bad signature, wrong issuer or revoked.
    """
    text = value.strip()
    card_jws = from_qr_text(text) if text.startswith(QR_PREFIX) else text
    segments = card_jws.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise VerificationError(VerificationFailure.MALFORMED, "not a compact JWS")
    # A changed last character can decode to the same bytes (unused low bits);
    # requiring the canonical encoding makes every one-character change fail.
    try:
        decoded = [b64url_decode(s) for s in segments]
    except ValueError as error:
        raise VerificationError(
            VerificationFailure.MALFORMED, "JWS segment is not base64url"
        ) from error
    if [b64url_encode(d) for d in decoded] != segments:
        raise VerificationError(
            VerificationFailure.MALFORMED, "JWS segment is not canonical base64url"
        )
    header = _json_object(decoded[0], "JWS header")
    if header.get("alg") != "ES256":
        raise VerificationError(
            VerificationFailure.UNSUPPORTED, f"alg {header.get('alg')!r} is not ES256"
        )
    if header.get("zip") != "DEF":
        raise VerificationError(VerificationFailure.MALFORMED, "header lacks zip: DEF")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise VerificationError(
            VerificationFailure.UNKNOWN_KEY, f"no trusted issuer key with kid {kid!r}"
        )
    try:
        jws.deserialize_compact(card_jws, keys[kid], registry=_REGISTRY)
    except BadSignatureError as error:
        raise VerificationError(
            VerificationFailure.BAD_SIGNATURE, "signature does not match"
        ) from error
    except JoseError as error:
        raise VerificationError(VerificationFailure.MALFORMED, f"JWS refused: {error}") from error
    claims = _json_object(_inflate(decoded[1]), "JWS payload")
    _check_claims(claims)
    if expected_issuer is not None and claims["iss"] != expected_issuer:
        raise VerificationError(VerificationFailure.WRONG_ISSUER, f"issued by {claims['iss']!r}")
    crl = (revocation_lists or {}).get(kid)
    if crl is not None and crl.revokes(claims["vc"].get("rid"), float(claims["nbf"])):
        raise VerificationError(VerificationFailure.REVOKED, "the issuer has revoked this card")
    return CardVerification(jws=card_jws, kid=kid, claims=claims)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        inflated = inflater.decompress(data, _MAX_PAYLOAD_BYTES)
    except zlib.error as error:
        raise VerificationError(
            VerificationFailure.MALFORMED, "payload is not raw DEFLATE"
        ) from error
    if inflater.unconsumed_tail or not inflater.eof:
        raise VerificationError(VerificationFailure.MALFORMED, "payload is truncated or too large")
    return inflated


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VerificationError(VerificationFailure.MALFORMED, f"{what} is not JSON") from error
    if not isinstance(parsed, dict):
        raise VerificationError(VerificationFailure.MALFORMED, f"{what} is not a JSON object")
    return parsed


def _check_claims(claims: dict[str, Any]) -> None:
    vc = claims.get("vc")
    if not isinstance(claims.get("iss"), str) or not isinstance(claims.get("nbf"), int | float):
        raise VerificationError(VerificationFailure.MALFORMED, "claims lack iss or nbf")
    if not isinstance(vc, dict) or not isinstance(vc.get("type"), list):
        raise VerificationError(VerificationFailure.MALFORMED, "claims lack vc.type")
    types = set(vc["type"])
    if HEALTH_CARD not in types and not types & DEPRECATED_TYPES:
        raise VerificationError(
            VerificationFailure.MALFORMED, "vc.type does not name a health card"
        )
    subject = vc.get("credentialSubject")
    if not isinstance(subject, dict) or not isinstance(subject.get("fhirBundle"), dict):
        raise VerificationError(
            VerificationFailure.MALFORMED, "vc.credentialSubject lacks fhirBundle"
        )
