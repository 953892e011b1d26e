"""Issue one certificate: content in, signed PDF and QR payloads out.

The one entry point the web layer (counter, app API, kiosk) calls. Every
output is derived from the same :class:`~signing.content.CertificateContent`:
the SMART Health Card (both kinds), the ICAO VDS-NC (overseas only), the page
showing them as QR codes, and the PAdES signature over that page.

The SHC revocation id (``rid``) is a one-way value of the certificate id
(:meth:`~signing.keys.KeyStore.shc_rid`), as the SHC spec recommends: the CRL
never lists printed ids, yet the issuer recomputes it from the id it revokes.
The VDS-NC ``uvci`` is the certificate id itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from signing import shc, vdsnc
from signing.content import CertificateContent
from signing.keys import KeyStore
from signing.pades import Level, PdfSigner
from signing.pdf import PageCodes, render_certificate
from signing.qr import byte_symbol, shc_symbol


@dataclass(frozen=True)
class IssuedCertificate:
    """What issuing one certificate produced."""

    certificate_id: str
    pdf: bytes
    """The signed PDF."""
    shc_jws: str
    """The SMART Health Card as a compact JWS (for the app and the file download)."""
    shc_rid: str
    """The card's revocation id (``vc.rid``)."""
    shc_qr_text: str
    """The SHC QR code's text, ``shc:/...``."""
    vdsnc_json: str | None
    """The VDS-NC as compact JSON (overseas certificates), else ``None``."""

    @property
    def smart_health_card_file(self) -> bytes:
        """The ``.smart-health-card`` file body for this card."""
        return shc.file_body([self.shc_jws])


@dataclass(frozen=True)
class _Unsigned:
    card: str
    rid: str
    qr_text: str
    seal: str | None
    pdf: bytes


def _prepare(
    content: CertificateContent,
    keys: KeyStore,
    issuer_url: str,
    issued_at: dt.datetime | None,
    issuing_state: str,
) -> _Unsigned:
    when = issued_at or dt.datetime.now(dt.UTC)
    rid = keys.shc_rid(content.certificate_id)
    card = shc.issue_card(content, keys.shc_signing_key, issuer_url, when, rid=rid)
    qr_text = shc.to_qr_text(card)
    seal = vdsnc.issue_seal(content, keys.vdsnc_signer, issuing_state) if content.overseas else None
    codes = PageCodes(
        health_card=shc_symbol(qr_text), icao_seal=byte_symbol(seal) if seal else None
    )
    return _Unsigned(card, rid, qr_text, seal, render_certificate(content, codes))


def _issued(
    content: CertificateContent, unsigned: _Unsigned, signed_pdf: bytes
) -> IssuedCertificate:
    return IssuedCertificate(
        certificate_id=content.certificate_id,
        pdf=signed_pdf,
        shc_jws=unsigned.card,
        shc_rid=unsigned.rid,
        shc_qr_text=unsigned.qr_text,
        vdsnc_json=unsigned.seal,
    )


def issue_certificate(
    content: CertificateContent,
    keys: KeyStore,
    *,
    issuer_url: str,
    pdf_signer: PdfSigner | None = None,
    issued_at: dt.datetime | None = None,
    level: Level | None = None,
    issuing_state: str = "JPN",
) -> IssuedCertificate:
    """Sign and render one certificate (CPU-bound, ~60 ms: from async code use
    :func:`async_issue_certificate` or a worker thread).

    Args:
        content: what the certificate states (validated on construction).
        keys: the deployment's key store, loaded once at start-up.
        issuer_url: the SHC ``iss`` (public base URL serving ``/.well-known/jwks.json``).
        pdf_signer: a :class:`PdfSigner` built once from ``keys`` and reused;
            one is built on the spot when omitted (slower: do not in a loop).
        issued_at: issuance time for the SHC ``nbf`` (default: now).
        level: PAdES level (default: B-T when the signer has a TSA, else B-B).
        issuing_state: the VDS-NC issuing state code.

    Raises:
        ValueError: the card does not fit a single QR code, or the page overflows.
    """
    signer = pdf_signer or PdfSigner.from_key_store(keys)
    unsigned = _prepare(content, keys, issuer_url, issued_at, issuing_state)
    return _issued(content, unsigned, signer.sign(unsigned.pdf, level))


async def async_issue_certificate(
    content: CertificateContent,
    keys: KeyStore,
    *,
    issuer_url: str,
    pdf_signer: PdfSigner,
    issued_at: dt.datetime | None = None,
    level: Level | None = None,
    issuing_state: str = "JPN",
) -> IssuedCertificate:
    """:func:`issue_certificate` for a running event loop (pyHanko's sync API starts its own).

    The page is built in the loop's thread; pass the work to a thread pool if
    the loop must stay responsive during the ~30 ms of rendering.
    """
    unsigned = _prepare(content, keys, issuer_url, issued_at, issuing_state)
    return _issued(content, unsigned, await pdf_signer.async_sign(unsigned.pdf, level))
