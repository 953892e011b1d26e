"""PAdES signatures on certificate PDFs with pyHanko.

Levels (ETSI EN 319 142-1 baseline):

- ``B-B``: always possible; ECDSA P-256 with the key store's PDF signer.
- ``B-T``: adds an RFC 3161 signature timestamp; needs a TSA URL.
- ``B-LT``: B-T plus the validation data (certificates, CRLs, OCSP responses
  of the signer and TSA chains) in the document security store, so the
  signature can be validated after the TSA and revocation services are gone.
- ``B-LTA``: B-LT plus a document timestamp over it all. The timestamp proves
  the validation data existed while the signer certificate was valid, so the
  signature still validates after the signer certificate has expired, for as
  long as the last timestamp's TSA certificate is valid.
  :meth:`PdfSigner.async_extend` adds the next timestamp before that
  (``vrs keys retimestamp``), which is how a stored PDF stays valid for decades.

Without a TSA only B-B is possible: such a signature validates only while the
signer certificate is valid (3 years from the key store's creation or the last
``pdf`` rotation); after that the holder must get the certificate reissued.

Our own CRLs (the PDF root's, ``KeyStore.pdf_crl``) are used as they are:
the signer certificate names the system's own CRL address, and fetching it
from ourselves while signing would only add a way to fail.

Speed (FORMATS §3): pyHanko's ``SimpleSigner`` re-parses its private key for
every signature and signs twice per document (a trial signature to size the
placeholder). :class:`PdfSigner` is built once and reused: it keeps the parsed
``cryptography`` key and passes a fixed ``bytes_reserved``.

pyHanko's synchronous API runs its own event loop; from async code (the web
layer) call :meth:`PdfSigner.async_sign` instead of :meth:`PdfSigner.sign`.

The signing key is either a parsed software key (:class:`CertifiedKey`) or any
pyHanko signer, e.g. one whose key lives in a PKCS#11 token
(:mod:`signing.pkcs11`). When the timestamp authority or a revocation service
does not answer, :class:`~signing.errors.SigningServiceUnavailable` is raised
and nothing is signed: a configured level is never silently lowered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import aiohttp
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import CRLFetcher, Fetchers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from signing.errors import SigningServiceUnavailable
from signing.keys import CertifiedKey, KeyStore
from signing.signed_attributes import KeptAttributesMixin

log = logging.getLogger("vrs.signing.pades")

Level = Literal["B-B", "B-T", "B-LT", "B-LTA"]
_LONG_TERM: frozenset[str] = frozenset({"B-LT", "B-LTA"})

FIELD_NAME = "VaccinationCertificateSignature"
#: Placeholder sizes in hex digits (pyHanko's ``bytes_reserved`` counts the
#: hex-encoded /Contents, two digits per CMS byte). B-B: the signature, signed
#: attributes, signer and root certificates, measured at 1.7 kB of DER; twice
#: that leaves room for longer names after a rotation. A timestamp adds the
#: token with the TSA's certificates (often RSA chains of several kB).
RESERVED_B_B = 8192
RESERVED_WITH_TIMESTAMP = 32768
#: Seconds to wait for the timestamp authority before giving up.
TSA_TIMEOUT = 10

#: What a timestamp or validation-data fetch raises when a service is down or answers nonsense.
_SERVICE_FAILURES = (
    TimestampRequestError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
    PathBuildingError,
    PathValidationError,
)


class _OwnCrlsFirst(CRLFetcher):
    """A CRL fetcher that answers from our own CRLs for certificates our CAs issued.

    Anything else (the TSA's chain) goes to the network fetcher it wraps.
    """

    def __init__(self, own: Sequence[asn1_crl.CertificateList], network: CRLFetcher) -> None:
        self._own = list(own)
        self._network = network

    def _ours(
        self, cert: asn1_x509.Certificate | asn1_cms.AttributeCertificateV2
    ) -> list[asn1_crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            return []
        return [c for c in self._own if c.issuer == cert.issuer]

    async def fetch(
        self,
        cert: asn1_x509.Certificate | asn1_cms.AttributeCertificateV2,
        *,
        use_deltas: bool | None = None,
    ) -> Iterable[asn1_crl.CertificateList]:
        return self._ours(cert) or await self._network.fetch(cert, use_deltas=use_deltas)

    def fetched_crls(self) -> Iterable[asn1_crl.CertificateList]:
        return [*self._own, *self._network.fetched_crls()]

    def fetched_crls_for_cert(
        self, cert: asn1_x509.Certificate | asn1_cms.AttributeCertificateV2
    ) -> Iterable[asn1_crl.CertificateList]:
        return self._ours(cert) or self._network.fetched_crls_for_cert(cert)


class _KeptKeySigner(KeptAttributesMixin, signers.Signer):
    """A pyHanko signer holding an already-parsed EC private key (attributes encoded once)."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        cert: asn1_x509.Certificate,
        chain: Sequence[asn1_x509.Certificate],
    ) -> None:
        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),
            embed_roots=True,
        )
        self._key = key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        return self._key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class PdfSigner:
    """Signs certificate PDFs; build once per process from the key store and reuse.

    Args:
        signer: the PDF signer key and certificate (``KeyStore.pdf_signer``), or
            a pyHanko signer holding the key elsewhere (a PKCS#11 token).
        root: the PDF root CA (``KeyStore.pdf_root``), embedded with the signature.
        timestamp_url: an RFC 3161 TSA; without it only B-B is possible.
        ltv_trust_roots: further roots (the TSA's) to trust when collecting
            B-LT validation data; when empty, the system's trust store is used
            besides our root (Mozilla's list from ``certifi``: a public TSA's chain).
        revocation_lists: CRLs of our own chain (``KeyStore.pdf_crl``), which
            B-LT embeds since our signer names no revocation URL to fetch.
        reason: the /Reason of the signature.
        location: the /Location (the issuing municipality, for example).
        timestamper: a pyHanko timestamper to use instead of ``timestamp_url``.
        level: the default level; ``None`` means B-T with a TSA, else B-B.
            The server asks for B-LTA whenever a TSA is configured.
    """

    def __init__(
        self,
        signer: CertifiedKey | signers.Signer,
        root: x509.Certificate,
        *,
        timestamp_url: str | None = None,
        ltv_trust_roots: Sequence[x509.Certificate] = (),
        revocation_lists: Sequence[x509.CertificateRevocationList] = (),
        reason: str = "新型コロナウイルス感染症予防接種証明書 / Vaccination Certificate of COVID-19",
        location: str | None = None,
        timestamper: TimeStamper | None = None,
        level: Level | None = None,
    ) -> None:
        self._root = _asn1(root)
        if isinstance(signer, CertifiedKey):
            self._signer: signers.Signer = _KeptKeySigner(
                signer.private_key, _asn1(signer.certificate), [self._root]
            )
        else:
            signer.cert_registry.register(self._root)
            self._signer = signer
        # Named TSA roots: trust exactly ours and those; none named: Mozilla's list too
        # (certifi's, a public TSA's chain), read once when a TSA is configured.
        self._extra_ltv_roots = [_asn1(c) for c in ltv_trust_roots]
        if not self._extra_ltv_roots and (timestamp_url or timestamper):
            self._extra_ltv_roots = _public_roots()
        self.use_revocation_lists(revocation_lists)
        self._timestamper = timestamper or (
            HTTPTimeStamper(timestamp_url, timeout=TSA_TIMEOUT) if timestamp_url else None
        )
        self._reason = reason
        self._location = location
        if level is not None and level != "B-B" and self._timestamper is None:
            raise ValueError(f"PAdES {level} needs a timestamp authority (timestamp_url)")
        self._level: Level = level or ("B-T" if self._timestamper is not None else "B-B")
        self._b_b = self._pdf_signer("B-B")

    @classmethod
    def from_key_store(
        cls,
        keys: KeyStore,
        *,
        timestamp_url: str | None = None,
        ltv_trust_roots: Sequence[x509.Certificate] = (),
        location: str | None = None,
        token_signer: signers.Signer | None = None,
        level: Level | None = None,
    ) -> PdfSigner:
        """The signer of a deployment: its PDF signer, root and root CRL from ``keys``.

        Args:
            token_signer: the signer of a key store whose PDF signer key lives in
                a PKCS#11 token (:func:`signing.pkcs11.token_signer`).

        Raises:
            ValueError: the key store's PDF signer is in a token and no
                ``token_signer`` was given.
        """
        signer: CertifiedKey | signers.Signer | None = token_signer or keys.pdf_signer
        if signer is None:
            raise ValueError("the PDF signer key lives in a PKCS#11 token: open it first")
        return cls(
            signer,
            keys.pdf_root,
            timestamp_url=timestamp_url,
            ltv_trust_roots=ltv_trust_roots,
            revocation_lists=[keys.pdf_crl],
            location=location,
            level=level,
        )

    def use_revocation_lists(
        self, revocation_lists: Sequence[x509.CertificateRevocationList]
    ) -> None:
        """Embed these CRLs of our own chain from now on (after a renewal: ``KeyStore.pdf_crl``)."""
        self._crls = [
            asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER))
            for c in revocation_lists
        ]

    @property
    def default_level(self) -> Level:
        """The level :meth:`sign` uses unless told otherwise (B-T or B-LT with a TSA, else B-B)."""
        return self._level

    def _ltv_context(self, backend: AIOHttpFetcherBackend | None) -> ValidationContext:
        """What collects validation data: our CRLs for our chain, the network for the TSA's."""
        network = (backend or AIOHttpFetcherBackend()).get_fetchers()
        fetchers = Fetchers(
            ocsp_fetcher=network.ocsp_fetcher,
            crl_fetcher=_OwnCrlsFirst(self._crls, network.crl_fetcher),
            cert_fetcher=network.cert_fetcher,
        )
        return ValidationContext(
            trust_roots=[self._root, *self._extra_ltv_roots],
            crls=self._crls,
            allow_fetching=True,
            fetchers=fetchers,
        )

    def _pdf_signer(
        self, level: Level, fetcher: AIOHttpFetcherBackend | None = None
    ) -> signers.PdfSigner:
        long_term = level in _LONG_TERM
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=self._reason,
            location=self._location,
            embed_validation_info=long_term,
            # B-LTA: a document timestamp after the validation data.
            use_pades_lta=level == "B-LTA",
            # Fetch revocation data for the chains (the TSA's has some) to embed it.
            validation_context=self._ltv_context(fetcher) if long_term else None,
        )
        timestamper = None if level == "B-B" else self._timestamper
        if level != "B-B" and timestamper is None:
            raise ValueError(f"PAdES {level} needs a timestamp authority (timestamp_url)")
        return signers.PdfSigner(meta, signer=self._signer, timestamper=timestamper)

    def sign(self, pdf: bytes, level: Level | None = None) -> bytes:
        """Sign ``pdf`` at ``level`` (default :attr:`default_level`); returns the signed PDF.

        Raises:
            ValueError: B-T or B-LT without a TSA.
            SigningServiceUnavailable: the TSA (or a revocation service of its
                chain, for B-LT) did not answer; nothing was signed.
        """
        return asyncio.run(self.async_sign(pdf, level))

    async def async_sign(self, pdf: bytes, level: Level | None = None) -> bytes:
        """:meth:`sign` for callers that already run an event loop."""
        level = level or self.default_level
        if level == "B-B":
            return await self._sign_with(self._b_b, pdf, RESERVED_B_B)
        # One HTTP session per signature for the revocation fetches, closed here
        # (left to itself, aiohttp warns of an unclosed session once the loop ends).
        fetcher = AIOHttpFetcherBackend() if level in _LONG_TERM else None
        try:
            return await self._sign_with(
                self._pdf_signer(level, fetcher), pdf, RESERVED_WITH_TIMESTAMP
            )
        except _SERVICE_FAILURES as error:
            raise _unavailable(level, error) from error
        except SigningError as error:
            # pyHanko wraps what went wrong while collecting B-LT validation data.
            if isinstance(error.__cause__, _SERVICE_FAILURES):
                raise _unavailable(level, error.__cause__) from error
            raise
        finally:
            if fetcher is not None:
                await fetcher.close()

    async def async_extend(self, pdf: bytes) -> bytes:
        """Add the next document timestamp to a signed PDF (B-LTA), with validation data.

        The validation data of the last timestamp (or, for a B-T PDF, of the
        signature itself) goes into the document security store first; the new
        timestamp then covers it. Run before the last timestamp's TSA
        certificate expires (:func:`last_timestamp_expiry`).

        A B-B signature cannot be extended: without a signature timestamp
        nothing proves it was made while the signer certificate was valid
        (pyHanko's ETSI validation judges such a PDF INVALID after the signer's
        expiry even with a document timestamp added), so it must be reissued.

        Raises:
            ValueError: no TSA configured, or a B-B signature.
            SigningServiceUnavailable: the TSA or a revocation service failed, or
                the last timestamp (or signature) no longer validates.
        """
        if self._timestamper is None:
            raise ValueError("extending a signature needs a timestamp authority (timestamp_url)")
        from pyhanko.sign.validation import dss

        if signature_level(pdf) == "B-B":
            raise ValueError("a B-B signature cannot be extended: reissue the certificate")
        backend = AIOHttpFetcherBackend()
        try:
            reader = PdfFileReader(io.BytesIO(pdf))
            if not reader.embedded_timestamp_signatures:
                (signature, *_rest) = reader.embedded_regular_signatures
                added = await dss.async_add_validation_info(
                    signature, self._ltv_context(backend), in_place=False, force_write=True
                )
                reader = PdfFileReader(io.BytesIO(added.getvalue()))
            output = io.BytesIO()
            await signers.PdfTimeStamper(self._timestamper).async_update_archival_timestamp_chain(
                reader, self._ltv_context(backend), in_place=False, output=output
            )
            return output.getvalue()
        except _SERVICE_FAILURES as error:
            raise _unavailable("B-LTA", error) from error
        except SigningError as error:
            if isinstance(error.__cause__, _SERVICE_FAILURES):
                raise _unavailable("B-LTA", error.__cause__) from error
            raise
        finally:
            await backend.close()

    @staticmethod
    async def _sign_with(pdf_signer: signers.PdfSigner, pdf: bytes, reserved: int) -> bytes:
        output = io.BytesIO()
        await pdf_signer.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=reserved, output=output
        )
        return output.getvalue()


def last_timestamp_expiry(pdf: bytes) -> dt.datetime | None:
    """When the PDF's last document timestamp stops proving anything: its TSA's expiry.

    ``None`` when the PDF has no document timestamp (B-B, B-T, B-LT): it has
    not been made archival yet, and :meth:`PdfSigner.async_extend` should run.
    """
    reader = PdfFileReader(io.BytesIO(pdf))
    timestamps = reader.embedded_timestamp_signatures
    if not timestamps:
        return None
    tsa = timestamps[-1].signer_cert
    expiry: dt.datetime = tsa["tbs_certificate"]["validity"]["not_after"].native
    return expiry


def signature_level(pdf: bytes) -> Level:
    """The PAdES baseline level a signed certificate PDF reached (from its structure)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    if reader.embedded_timestamp_signatures:
        return "B-LTA"
    (signature, *_rest) = reader.embedded_regular_signatures
    unsigned = signature.signer_info["unsigned_attrs"]
    types = {attr["type"].native for attr in unsigned} if unsigned.native else set()
    if "signature_time_stamp_token" not in types:
        return "B-B"
    return "B-LT" if "/DSS" in reader.root else "B-T"


def _public_roots() -> list[asn1_x509.Certificate]:
    import certifi
    from asn1crypto import pem

    with open(certifi.where(), "rb") as bundle:
        blocks = pem.unarmor(bundle.read(), multiple=True)
        return [asn1_x509.Certificate.load(der) for _name, _headers, der in blocks]


def _unavailable(level: Level, error: BaseException) -> SigningServiceUnavailable:
    if isinstance(error, TimestampRequestError):
        service = "timestamp"
    elif isinstance(error, PathBuildingError | PathValidationError):
        service = "trust"  # the TSA's chain does not lead to a trusted root
    else:
        service = "revocation"
    log.warning("PAdES %s signature impossible, %s service failed: %r", level, service, error)
    return SigningServiceUnavailable(service, f"{type(error).__name__}: {error}")
