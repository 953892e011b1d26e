"""X.509 certificates of a deployment: the PDF-signing CA and signer, the VDS-NC CSCA and barcode signer.

Each deployment makes its own (``KeyStore.init``); nothing here is a public CA.
Choices the verifiers depend on:

- The PDF signer and the VDS-NC barcode signer name a CRL distribution point
  served by the system itself (``<VRS_BASE_URL>/pki/pdf-root.crl`` and
  ``/pki/csca.crl``, :mod:`web.controllers.issuer`), so a validator can learn
  their revocation status and ETSI validation (``pyhanko sign adesverify``)
  has revocation data to settle on; PAdES B-LT embeds the same CRL. Deploy
  with a ``VRS_BASE_URL`` validators can reach: poppler's ``pdfsig`` (NSS)
  reports "Unknown issue with Certificate" for revocation URLs it cannot reach.
  No OCSP: our CA does not run a responder.
- The VDS-NC barcode signer carries what ICAO 9303-13 / the VDS-NC report ask:
  extended key usage 2.23.136.1.1.14.2 and the document type list extension
  2.23.136.1.1.6.2 naming "NV" (the same bytes as Japan's signer certificate).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: id-icao-mrtd-security-extensions-... barcode signer EKU (VDS-NC report).
VDSNC_SIGNER_EKU = x509.ObjectIdentifier("2.23.136.1.1.14.2")
#: ICAO document type list extension.
DOCUMENT_TYPE_LIST = x509.ObjectIdentifier("2.23.136.1.1.6.2")
#: DocumentTypeListSyntax { version 0, docTypeList SET { PrintableString "NV" } }:
#: "NV" is the document type of a non-constrained visible digital seal.
DOCUMENT_TYPE_LIST_NV = bytes.fromhex("3009020100310413024e56")

ROOT_CA_YEARS = 20
#: A CSCA outlives every barcode signer it issues (ICAO 9303-12).
CSCA_YEARS = 15
_SIGNER_YEARS = 3
#: Lifetime of the PDF root's CRL; ``KeyStore.renew_crl`` issues the next one.
CRL_DAYS = 366
_BARCODE_SIGNER_YEARS = 10


def _name(common_name: str, organization: str, country: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    years: int,
) -> x509.CertificateBuilder:
    # Back-date by a minute so a certificate made now is valid on a verifier
    # whose clock is slightly behind.
    start = now - dt.timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * years))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(
    *, signing: bool = False, commitment: bool = False, ca: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _end_entity(
    key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
    ca: x509.Certificate,
    common_name: str,
    organization: str,
    country: str,
    now: dt.datetime,
    years: int,
    key_usage: x509.KeyUsage,
) -> x509.CertificateBuilder:
    """A builder for a certificate ``ca`` issues, with key ids, no CA rights and ``key_usage``."""
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public = key if isinstance(key, ec.EllipticCurvePublicKey) else key.public_key()
    return (
        _builder(_name(common_name, organization, country), ca.subject, public, now, years)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
    )


def make_self_signed_ca(
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    organization: str,
    country: str = "JP",
    now: dt.datetime | None = None,
    years: int = ROOT_CA_YEARS,
) -> x509.Certificate:
    """A self-signed CA certificate (the PDF root CA or the VDS-NC CSCA)."""
    now = now or dt.datetime.now(dt.UTC)
    name = _name(common_name, organization, country)
    builder = (
        _builder(name, name, key.public_key(), now, years)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
    )
    return builder.sign(key, _hash_for(key))


def _with_crl_url(builder: x509.CertificateBuilder, crl_url: str | None) -> x509.CertificateBuilder:
    """Name ``crl_url`` as the certificate's CRL distribution point (none without one)."""
    if not crl_url:
        return builder
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(crl_url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    return builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)


def make_pdf_signer(
    key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    organization: str,
    country: str = "JP",
    now: dt.datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """The document signer certificate used for PAdES signatures.

    ``key`` may be the public key alone (a key generated in a PKCS#11 token);
    ``crl_url`` is where the root's CRL is published (see the module docstring).
    """
    usage = _key_usage(signing=True, commitment=True)
    builder = _end_entity(
        key,
        ca,
        common_name,
        organization,
        country,
        now or dt.datetime.now(dt.UTC),
        _SIGNER_YEARS,
        usage,
    )
    return _with_crl_url(builder, crl_url).sign(ca_key, _hash_for(ca_key))


def make_barcode_signer(
    key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
    csca: x509.Certificate,
    csca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    organization: str,
    country: str = "JP",
    now: dt.datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """The VDS-NC barcode signer certificate, issued by the CSCA (CRL at ``crl_url``)."""
    builder = (
        _end_entity(
            key,
            csca,
            common_name,
            organization,
            country,
            now or dt.datetime.now(dt.UTC),
            _BARCODE_SIGNER_YEARS,
            _key_usage(signing=True),
        )
        .add_extension(x509.ExtendedKeyUsage([VDSNC_SIGNER_EKU]), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(DOCUMENT_TYPE_LIST, DOCUMENT_TYPE_LIST_NV), critical=False
        )
    )
    return _with_crl_url(builder, crl_url).sign(csca_key, _hash_for(csca_key))


def make_empty_crl(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime | None = None,
    days: int = CRL_DAYS,
) -> x509.CertificateRevocationList:
    """A full CRL of ``ca`` revoking nothing (the PDF root's or the CSCA's).

    Published at the signer certificates' distribution point and embedded in
    B-LT PDFs: ETSI validation (``pyhanko sign adesverify``) cannot fix a
    control time for a chain it has no revocation data for. Its number is the
    issue time in seconds, so each renewal's number is higher.
    """
    now = now or dt.datetime.now(dt.UTC)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
    )
    return builder.sign(ca_key, _hash_for(ca_key))


def _hash_for(key: ec.EllipticCurvePrivateKey) -> hashes.SHA256 | hashes.SHA384:
    # Match the hash to the curve strength, as ICAO and RFC 5480 recommend.
    return hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
