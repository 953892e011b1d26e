"""ICAO Visible Digital Seal for Non-Constrained environments (VDS-NC), proof of vaccination.

Issue: the ``data`` object of FORMATS §2 (``hdr`` + ``msg``, one ``ve`` entry
per dose as Japan did), signed ECDSA P-256 / SHA-256 over its RFC 8785 (JCS)
canonical form; ``sig`` carries ``alg``, the barcode signer certificate (DER,
base64url) and the raw r‖s signature (base64url). The QR code carries the
compact JSON in byte mode.

Verify: the signature with the key of the embedded signer certificate, the
signer's validity on a given date and its barcode-signer key usage, the chain
to one of the configured CSCAs, and an optional revoked-UVCI list.
Certificates are read with asn1crypto (see :mod:`signing.icao_pki`), because
``cryptography`` refuses Japan's. A chain that cannot be checked (a CSCA key
of a kind we cannot verify) is reported as ``UNVERIFIABLE``, never as trusted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Container, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import rfc8785
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from signing.b64 import b64url_decode, b64url_encode
from signing.content import CertificateContent
from signing.errors import VerificationError, VerificationFailure
from signing.icao_pki import UnsupportedKeyError, load_certificate, public_key_of, verify_issued_by
from signing.keys import CertifiedKey

DOCUMENT_TYPE = "icao.vacc"
DISEASE_COVID19 = "RA01.0"
BARCODE_SIGNER_EKU = "2.23.136.1.1.14.2"

# Field limits of the ICAO PoV data set (VDS-NC report / WHO DDCC core data set).
_NAME_MAX = 39
_DOCUMENT_NUMBER_MAX = 11
_ADDITIONAL_ID_MAX = 24
_CENTRE_MAX = 20
_LOT_MAX = 20

_ALGORITHMS: dict[str, tuple[hashes.HashAlgorithm, int]] = {
    "ES256": (hashes.SHA256(), 32),
    "ES384": (hashes.SHA384(), 48),
    "ES512": (hashes.SHA512(), 66),
}


# --- issuing -----------------------------------------------------------------


def seal_data(content: CertificateContent, issuing_state: str = "JPN") -> dict[str, Any]:
    """The ``data`` object (header and message) for an overseas certificate.

    The name is written FAMILY GIVEN and cut to 39 characters as ICAO 9303-3
    truncates names. A passport number longer than the 11-character document
    number field goes to ``ai`` (additional identifier) instead.

    Raises:
        ValueError: the certificate is not an overseas one (no passport data).
    """
    if not content.overseas:
        raise ValueError("a VDS-NC is issued for overseas certificates only")
    holder = content.holder
    pid: dict[str, Any] = {"n": holder.name_roman[:_NAME_MAX], "dob": holder.birth_date.isoformat()}
    if len(holder.passport_number) <= _DOCUMENT_NUMBER_MAX:
        pid["i"] = holder.passport_number
    else:
        pid["ai"] = holder.passport_number[:_ADDITIONAL_ID_MAX]
    if holder.sex is not None:
        pid["sex"] = holder.sex
    events = []
    for dose in content.doses:
        event = {
            "dvc": dose.date.isoformat(),
            "seq": dose.dose_number,
            "ctr": issuing_state,
            "adm": dose.municipality_en[:_CENTRE_MAX],
            "lot": dose.lot[:_LOT_MAX],
        }
        events.append(
            {
                "des": dose.icd11_code,
                "nam": dose.product_name_en,
                "dis": DISEASE_COVID19,
                "vd": [event],
            }
        )
    return {
        "hdr": {"t": DOCUMENT_TYPE, "v": 1, "is": issuing_state},
        "msg": {"uvci": content.certificate_id, "pid": pid, "ve": events},
    }


def seal(data: dict[str, Any], signer: CertifiedKey) -> dict[str, Any]:
    """Sign ``data`` with the barcode signer: the complete VDS-NC document."""
    der = signer.private_key.sign(rfc8785.dumps(data), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "data": data,
        "sig": {
            "alg": "ES256",
            "cer": b64url_encode(signer.certificate_der),
            "sigvl": b64url_encode(raw),
        },
    }


def issue_seal(
    content: CertificateContent, signer: CertifiedKey, issuing_state: str = "JPN"
) -> str:
    """The overseas certificate's VDS-NC as compact JSON, the text of its QR code."""
    return to_json(seal(seal_data(content, issuing_state), signer))


def to_json(document: dict[str, Any]) -> str:
    """Compact JSON (no whitespace) for the QR code."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


# --- verifying ---------------------------------------------------------------


class ChainStatus(StrEnum):
    """How far the signer certificate's chain to a CSCA was checked."""

    VERIFIED = "verified"
    """A configured CSCA signed the signer certificate."""
    UNVERIFIABLE = "unverifiable"
    """A configured CSCA matches by name, but its key or algorithm cannot be checked."""
    NOT_CHECKED = "not_checked"
    """No CSCA was configured."""


@dataclass(frozen=True)
class SealVerification:
    """A seal whose signature checked out."""

    data: dict[str, Any]
    signer: asn1_x509.Certificate
    chain: ChainStatus
    chain_detail: str

    @property
    def uvci(self) -> str:
        """The certificate identifier."""
        return str(self.data["msg"]["uvci"])

    @property
    def trusted(self) -> bool:
        """True only when the chain to a configured CSCA was verified."""
        return self.chain is ChainStatus.VERIFIED


def load_cscas(ders: Sequence[bytes]) -> list[asn1_x509.Certificate]:
    """Parse configured CSCA certificates (DER or PEM)."""
    parsed = []
    for data in ders:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        parsed.append(load_certificate(data))
    return parsed


def verify_seal(
    value: str | bytes | dict[str, Any] | list[Any],
    cscas: Sequence[asn1_x509.Certificate],
    *,
    at: dt.datetime | None = None,
    revoked_uvcis: Container[str] = (),
) -> SealVerification:
    """Verify a VDS-NC given as scanned JSON text or already parsed.

    Args:
        value: the QR text, or a parsed document; a one-element array (as
            published test data wraps it) is unwrapped.
        cscas: trusted CSCA certificates (see :func:`load_cscas`).
        at: the moment the signer certificate must be valid (default: now).
        revoked_uvcis: UVCIs the issuer has revoked.

    Raises:
        VerificationError: malformed, unsupported algorithm, bad signature,
            signer not valid at ``at``, untrusted signer, or revoked.
    """
    document = _parse(value)
    data, sig = document["data"], document["sig"]
    signer = _signer_certificate(sig)
    _check_signature(data, sig, signer)
    _check_signer_usage(signer, at or dt.datetime.now(dt.UTC))
    chain, detail = _check_chain(signer, cscas)
    uvci = data["msg"].get("uvci")
    if uvci in revoked_uvcis:
        raise VerificationError(VerificationFailure.REVOKED, f"certificate {uvci} has been revoked")
    return SealVerification(data=data, signer=signer, chain=chain, chain_detail=detail)


def _parse(value: str | bytes | dict[str, Any] | list[Any]) -> dict[str, Any]:
    document: Any = value
    if isinstance(value, str | bytes):
        try:
            document = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise VerificationError(VerificationFailure.MALFORMED, "not JSON") from error
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise VerificationError(VerificationFailure.MALFORMED, "not a VDS-NC (no data object)")
    sig, data = document.get("sig"), document["data"]
    if not isinstance(sig, dict) or not all(
        isinstance(sig.get(k), str) for k in ("alg", "cer", "sigvl")
    ):
        raise VerificationError(VerificationFailure.MALFORMED, "sig lacks alg, cer or sigvl")
    header = data.get("hdr")
    if not isinstance(header, dict) or header.get("t") != DOCUMENT_TYPE or header.get("v") != 1:
        raise VerificationError(VerificationFailure.UNSUPPORTED, "not an icao.vacc version 1 seal")
    if not isinstance(data.get("msg"), dict):
        raise VerificationError(VerificationFailure.MALFORMED, "data lacks msg")
    return document


def _signer_certificate(sig: dict[str, str]) -> asn1_x509.Certificate:
    try:
        return load_certificate(b64url_decode(sig["cer"]))
    except ValueError as error:
        raise VerificationError(VerificationFailure.MALFORMED, f"sig.cer: {error}") from error


def _check_signature(
    data: dict[str, Any], sig: dict[str, str], signer: asn1_x509.Certificate
) -> None:
    if sig["alg"] not in _ALGORITHMS:
        raise VerificationError(VerificationFailure.UNSUPPORTED, f"sig.alg {sig['alg']!r}")
    digest, size = _ALGORITHMS[sig["alg"]]
    try:
        key = public_key_of(signer)
        raw = b64url_decode(sig["sigvl"])
    except UnsupportedKeyError as error:
        raise VerificationError(VerificationFailure.UNSUPPORTED, f"signer key: {error}") from error
    except ValueError as error:
        raise VerificationError(
            VerificationFailure.MALFORMED, "sig.sigvl is not base64url"
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(raw) != 2 * size:
        raise VerificationError(
            VerificationFailure.BAD_SIGNATURE, "signature does not fit the signer key"
        )
    der = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
    try:
        key.verify(der, rfc8785.dumps(data), ec.ECDSA(digest))
    except InvalidSignature as error:
        raise VerificationError(
            VerificationFailure.BAD_SIGNATURE, "signature does not match the data"
        ) from error
    except (rfc8785.CanonicalizationError, ValueError) as error:
        raise VerificationError(
            VerificationFailure.MALFORMED, f"data cannot be canonicalised: {error}"
        ) from error


def _check_signer_usage(signer: asn1_x509.Certificate, at: dt.datetime) -> None:
    validity = signer["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    if not not_before <= at <= not_after:
        raise VerificationError(
            VerificationFailure.SIGNER_NOT_VALID,
            f"signer certificate valid {not_before:%Y-%m-%d} to {not_after:%Y-%m-%d}, not on {at:%Y-%m-%d}",
        )
    usages = signer.extended_key_usage_value
    if usages is None or BARCODE_SIGNER_EKU not in {usage.dotted for usage in usages}:
        raise VerificationError(
            VerificationFailure.UNTRUSTED_SIGNER, "signer is not a VDS-NC barcode signer"
        )


def _check_chain(
    signer: asn1_x509.Certificate, cscas: Sequence[asn1_x509.Certificate]
) -> tuple[ChainStatus, str]:
    if not cscas:
        return ChainStatus.NOT_CHECKED, "no CSCA configured"
    unverifiable = ""
    for csca in cscas:
        if csca.subject != signer.issuer:
            continue
        if signer.authority_key_identifier and csca.key_identifier:
            if signer.authority_key_identifier != csca.key_identifier:
                continue
        try:
            verify_issued_by(signer, csca)
        except UnsupportedKeyError as error:
            unverifiable = f"CSCA {csca.subject.human_friendly}: {error}"
            continue
        except InvalidSignature:
            continue
        return ChainStatus.VERIFIED, f"issued by CSCA {csca.subject.human_friendly}"
    if unverifiable:
        return ChainStatus.UNVERIFIABLE, unverifiable
    raise VerificationError(
        VerificationFailure.UNTRUSTED_SIGNER,
        f"signer issued by {signer.issuer.human_friendly}, which is no configured CSCA",
    )
