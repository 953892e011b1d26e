"""What the server signs and verifies certificates with, loaded once per process.

The :class:`KeyStore` lives in ``<data dir>/keys`` (``vrs keys init``), its
private keys decrypted with ``VRS_KEY_PASSPHRASE``. Verification trusts our
own keys plus the trust directory in ``<data dir>/trust/``
(:mod:`web.issuer_directory`: other SHC issuers, each key bound to its ``iss``,
with their CRLs; CSCAs for VDS-NC, e.g. Japan's, with their CRLs).
Card authentication trusts the J-LIS CA certificates and CRLs in
``<data dir>/card-trust/`` (``*.crt.pem|*.der`` and ``*.crl``); the CRLs are
read on every proof, since J-LIS publishes new ones daily.

The PDF signature level follows the settings: with ``VRS_TSA_URL`` every
channel's PDF is PAdES B-LTA (a timestamp from that TSA, the validation data
embedded and a document timestamp over them; the TSA's roots from
``VRS_TSA_TRUST_ROOTS``, else the system's), without it B-B. When the PDF signer key lives in a PKCS#11 token
(``vrs keys init --pkcs11``), ``VRS_PDF_SIGNER_PKCS11_*`` say where.

Handlers get a :class:`SigningContext` through ``Provide`` (the app factory
builds one :class:`SigningProvider`), so tests can swap it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from joserfc.jwk import ECKey
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from common.settings import Settings
from signing import shc, vdsnc
from signing.keys import KeyStore, KeyStoreError
from signing.pades import PdfSigner
from web.errors import AppError
from web.issuer_directory import IssuerDirectory, load_directory

if TYPE_CHECKING:
    from signing.hsm import TokenSettings

log = logging.getLogger("vrs.signing")


class SigningUnavailable(AppError):
    """The signing keys are not set up (or cannot be decrypted) on this server."""

    status_code = HTTP_503_SERVICE_UNAVAILABLE


def key_directory(settings: Settings) -> Path:
    """Where the deployment's key store lives."""
    return settings.data_dir / "keys"


def trust_directory(settings: Settings) -> Path:
    """The extra trust list for the verify page."""
    return settings.data_dir / "trust"


def crl_base_url(settings: Settings) -> str:
    """Where the system publishes its CAs' CRLs (``/pki/...``), as signer certificates name it."""
    return f"{settings.base_url.rstrip('/')}/pki"


def card_trust_directory(settings: Settings) -> Path:
    """The trusted J-LIS CA certificates and their CRLs."""
    return settings.data_dir / "card-trust"


@dataclass(frozen=True)
class SigningContext:
    """Our keys, the PDF signer built from them, and what the verify page trusts."""

    keys: KeyStore
    pdf_signer: PdfSigner
    issuer_url: str
    directory: IssuerDirectory = field(default_factory=IssuerDirectory)
    """The other issuers and the CSCAs the verify page trusts."""
    card_trust: Path | None = None

    def our_jwks_keys(self) -> dict[str, ECKey]:
        """Our own SHC keys by kid (retired ones included: their cards still verify)."""
        return shc.load_jwks(self.keys.jwks())

    def our_csca(self) -> asn1_x509.Certificate:
        """Our VDS-NC CSCA."""
        from cryptography.hazmat.primitives import serialization

        der = self.keys.vdsnc_csca.public_bytes(serialization.Encoding.DER)
        return vdsnc.load_cscas([der])[0]

    def cscas(self) -> list[asn1_x509.Certificate]:
        """Our CSCA and the trust directory's."""
        return [self.our_csca(), *(csca.certificate for csca in self.directory.cscas)]

    def card_cas_and_crls(
        self,
    ) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
        """The trusted J-LIS CAs and their current CRLs, read now."""
        cas: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        directory = self.card_trust
        if directory is None or not directory.is_dir():
            return cas, crls
        for path in sorted(directory.iterdir()):
            data = path.read_bytes()
            try:
                if path.name.endswith(".crl"):
                    crls.append(
                        x509.load_pem_x509_crl(data)
                        if data.startswith(b"-----")
                        else x509.load_der_x509_crl(data)
                    )
                elif path.suffix in (".pem", ".der", ".crt"):
                    cas.append(
                        x509.load_pem_x509_certificate(data)
                        if data.startswith(b"-----")
                        else x509.load_der_x509_certificate(data)
                    )
            except ValueError:
                log.warning("card trust: cannot read %s", path.name)
        return cas, crls


def token_settings(settings: Settings) -> TokenSettings:
    """Where the PDF signer key lives in a PKCS#11 token, from ``VRS_PDF_SIGNER_PKCS11_*``."""
    from signing.hsm import TokenSettings

    return TokenSettings(
        module=settings.pdf_signer_pkcs11_module,
        token_label=settings.pdf_signer_pkcs11_token,
        pin=settings.pdf_signer_pkcs11_pin,
        key_label=settings.pdf_signer_pkcs11_key,
    )


def _tsa_roots(settings: Settings) -> list[x509.Certificate]:
    if not settings.tsa_trust_roots:
        return []
    try:
        return x509.load_pem_x509_certificates(Path(settings.tsa_trust_roots).read_bytes())
    except (OSError, ValueError) as error:
        raise KeyStoreError(
            f"VRS_TSA_TRUST_ROOTS: cannot read certificates from {settings.tsa_trust_roots}"
        ) from error


def build_pdf_signer(settings: Settings, keys: KeyStore) -> PdfSigner:
    """The PDF signer the settings ask for: B-LTA with a TSA, else B-B; key in a file or token.

    Raises:
        KeyStoreError: the token or the TSA trust roots cannot be used.
    """
    token_signer = None
    if keys.pdf_signer_in_token is not None:
        from signing.hsm import TokenError
        from signing.hsm import token_signer as open_token

        if not settings.pdf_signer_pkcs11_module:
            raise KeyStoreError(
                "the PDF signer key lives in a PKCS#11 token: set VRS_PDF_SIGNER_PKCS11_MODULE"
            )
        tokens = token_settings(settings)
        if tokens.key_label != keys.pdf_signer_in_token.key_label:
            raise KeyStoreError(
                f"VRS_PDF_SIGNER_PKCS11_KEY is {tokens.key_label!r} but the key store's"
                f" PDF signer key is {keys.pdf_signer_in_token.key_label!r}"
            )
        try:
            token_signer = open_token(tokens, keys.pdf_signer_in_token.certificate, [keys.pdf_root])
        except TokenError as error:
            raise KeyStoreError(str(error)) from error
    return PdfSigner.from_key_store(
        keys,
        timestamp_url=settings.tsa_url or None,
        ltv_trust_roots=_tsa_roots(settings),
        token_signer=token_signer,
        level="B-LTA" if settings.tsa_url else "B-B",
    )


def load_signing_context(settings: Settings) -> SigningContext:
    """Read and decrypt the key store and the trust lists.

    Raises:
        KeyStoreError: no key store, or the passphrase does not open it.
    """
    if not settings.key_passphrase:
        raise KeyStoreError("VRS_KEY_PASSPHRASE is not set: run `vrs init-secrets` or set it")
    keys = KeyStore.load(key_directory(settings), settings.key_passphrase)
    return SigningContext(
        keys=keys,
        pdf_signer=build_pdf_signer(settings, keys),
        issuer_url=settings.shc_issuer,
        directory=load_directory(settings.data_dir),
        card_trust=card_trust_directory(settings),
    )


class SigningProvider:
    """Loads the :class:`SigningContext` once (at start-up, or on first use) and keeps it.

    A server started before ``vrs keys init`` answers certificate requests with
    a clear 503 until the keys exist, rather than refusing to start.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context: SigningContext | None = None
        self._lock = threading.Lock()

    def load(self) -> SigningContext | None:
        """Load now if possible; logs (never raises) when the keys are not there yet."""
        try:
            return self()
        except SigningUnavailable:
            log.warning("certificate signing keys are not set up: run `vrs keys init`")
            return None

    def __call__(self) -> SigningContext:
        if self._context is None:
            with self._lock:
                if self._context is None:
                    try:
                        self._context = load_signing_context(self._settings)
                    except KeyStoreError as error:
                        log.warning("signing keys unavailable: %s", error)
                        raise SigningUnavailable("certificate.keys_unavailable") from error
        return self._context

    def loaded(self) -> SigningContext | None:
        """The context if it is loaded, without trying to load it."""
        return self._context

    def reload_crls(self) -> bool:
        """Take up CRLs renewed on disk since loading (by any process); returns whether they changed.

        The PDF signer embeds the new PDF root CRL in B-LT signatures from now on.
        """
        with self._lock:
            context = self._context
            if context is None:
                return False
            keys = context.keys.with_current_crls()
            if _der(keys.pdf_crl) == _der(context.keys.pdf_crl) and (
                _der(keys.vdsnc_crl) == _der(context.keys.vdsnc_crl)
            ):
                return False
            context.pdf_signer.use_revocation_lists([keys.pdf_crl])
            self._context = dataclasses.replace(context, keys=keys)
            log.info("using the renewed CRLs")
            return True


def _der(crl: x509.CertificateRevocationList | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"" if crl is None else crl.public_bytes(serialization.Encoding.DER)
