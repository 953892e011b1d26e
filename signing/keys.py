"""The deployment's signing keys and certificates, kept in a directory.

One :class:`KeyStore` holds everything that signs certificates:

- ``pdf/``: a PDF-signing root CA, its CRL, and the PAdES signer certificate (ECDSA P-256);
- ``shc/``: SMART Health Card issuer keys (P-256), ``kid`` = RFC 7638 thumbprint,
  and ``rid.secret``, the HMAC key that makes a card's revocation id (``rid``)
  a one-way value of its certificate id (:meth:`KeyStore.shc_rid`);
- ``vdsnc/``: an ICAO CSCA (P-384), its CRL, and the VDS-NC barcode signer (P-256).

Signer certificates name where their CA's CRL is published when the store is
made with ``crl_base_url`` (``<VRS_BASE_URL>/pki``): ``pdf-root.crl`` and
``csca.crl`` there (:data:`PUBLISHED_CRLS`); the manifest keeps the base so
rotated signers name it too. :meth:`KeyStore.renew_crl` re-issues both CRLs;
:meth:`KeyStore.renew_crl_if_due` does so only once they are
:data:`CRL_RENEW_AFTER` old (the running server calls it every hour), under a
lock on the store (``crl.lock``) so that of several processes only one signs.

Private keys are PKCS#8 PEM encrypted with the deployment's passphrase
(``BestAvailableEncryption``), files mode 0600. :meth:`KeyStore.load` decrypts
only the keys that sign (not the CA keys) and keeps them parsed: FORMATS.md
measured re-parsing a key on every signature as a large share of its cost.

The PDF signer key may instead live in a PKCS#11 token (:mod:`signing.hsm`):
:meth:`KeyStore.init` is then given its public key and keeps only the
certificate (``pdf/signer-0001.crt.pem``); the manifest names the key's label
and :attr:`KeyStore.pdf_signer` is ``None``.

Rotation adds a numbered generation (``0002``...) and deletes the private key
of the one it replaces, so a retired key can no longer sign, while its public
part stays: the JWKS keeps listing retired SHC keys (cards signed with them
still verify) and the newest key signs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from signing import certs
from signing.b64 import b64url_encode

RotatablePart = Literal["shc", "pdf", "vdsnc"]

_MANIFEST = "store.json"
_FORMAT = 1
_RID_SECRET = Path("shc") / "rid.secret"
#: A rid is this many bytes of HMAC-SHA256 (64 bits: 11 base64url characters).
RID_BYTES = 8
#: ``crlVersion`` of a key whose CRL has never changed: the SHC spec counts from 1.
FIRST_CRL_VERSION = 1
#: Published CRL name (under ``crl_base_url``) → the file in the store.
PUBLISHED_CRLS = {"pdf-root.crl": Path("pdf") / "root.crl", "csca.crl": Path("vdsnc") / "csca.crl"}
#: A published CRL is renewed once it is this old, long before its next update
#: (``certs.CRL_DAYS``): validators prefer a recent list, and a server that was down
#: for a while still has eleven months to catch up.
CRL_RENEW_AFTER = dt.timedelta(days=30)
#: The lock file that serialises CRL renewals of one store (server workers, the command).
_CRL_LOCK = "crl.lock"


class KeyStoreError(Exception):
    """The key directory is missing, incomplete, already initialised, or the passphrase is wrong."""


@dataclass(frozen=True)
class CertifiedKey:
    """A parsed private key with its certificate."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def certificate_der(self) -> bytes:
        """The certificate in DER."""
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class TokenKey:
    """A signer whose private key lives in a PKCS#11 token, found there by ``key_label``."""

    certificate: x509.Certificate
    key_label: str


@dataclass(frozen=True)
class ShcIssuerKey:
    """One SMART Health Card issuer key; ``signing_key`` is ``None`` once retired."""

    kid: str
    public_jwk: dict[str, str]
    signing_key: ECKey | None


@dataclass(frozen=True)
class KeyStore:
    """Everything that signs certificates, loaded and parsed once."""

    directory: Path
    pdf_root: x509.Certificate
    pdf_signer: CertifiedKey | None
    """The PDF signer key, or ``None`` when it lives in a token (:attr:`pdf_signer_in_token`)."""
    shc_keys: tuple[ShcIssuerKey, ...]
    """Oldest first; the last one signs."""
    vdsnc_csca: x509.Certificate
    vdsnc_signer: CertifiedKey
    pdf_crl: x509.CertificateRevocationList
    """The PDF root's current CRL (revokes nothing), embedded in B-LT signatures."""
    vdsnc_crl: x509.CertificateRevocationList | None = None
    """The CSCA's current CRL; ``None`` in a store made before CSCA CRLs (``renew_crl`` makes it)."""
    crl_base_url: str | None = None
    """Where ``PUBLISHED_CRLS`` are served, as the signer certificates name it."""
    pdf_signer_in_token: TokenKey | None = None
    """The PDF signer's certificate and key label when its key lives in a PKCS#11 token."""
    rid_secret: bytes = b""
    """The HMAC key of :meth:`shc_rid` (``shc/rid.secret``)."""

    def published_crl(self, name: str) -> bytes | None:
        """The DER of a published CRL (``pdf-root.crl``, ``csca.crl``), read now; else ``None``.

        Read from the directory on each call, so a CRL renewed by another
        process (``vrs keys renew-crl``) is served without a restart.
        """
        path = PUBLISHED_CRLS.get(name)
        if path is None or not (self.directory / path).is_file():
            return None
        return (self.directory / path).read_bytes()

    def shc_rid(self, certificate_id: str) -> str:
        """A card's revocation id: base64url of HMAC-SHA256(secret, certificate id), 64 bits.

        The SHC spec recommends a one-way value, so that a CRL lists no printed
        certificate ids. Deterministic: the CRL route recomputes it from the id.
        """
        if not self.rid_secret:
            raise KeyStoreError("the key store has no rid secret")
        digest = hmac.new(self.rid_secret, certificate_id.encode("utf-8"), hashlib.sha256)
        return b64url_encode(digest.digest()[:RID_BYTES])

    @property
    def pdf_signer_certificate(self) -> x509.Certificate:
        """The PDF signer's certificate, wherever its key lives."""
        if self.pdf_signer is not None:
            return self.pdf_signer.certificate
        assert self.pdf_signer_in_token is not None
        return self.pdf_signer_in_token.certificate

    @property
    def shc_signing_key(self) -> ShcIssuerKey:
        """The newest SHC key: the one new cards are signed with."""
        return self.shc_keys[-1]

    def jwks(self, crl_versions: Mapping[str, int] | None = None) -> dict[str, Any]:
        """The issuer's ``/.well-known/jwks.json`` body: every SHC public key, newest first.

        Every key has ``crlVersion`` from the start (its CRL exists, empty, at
        version 1), so verifiers know to check revocation before the first one.

        Args:
            crl_versions: ``kid`` → the counter (``ctr``) of that key's CRL; a key
                not named is at :data:`FIRST_CRL_VERSION`.
        """
        versions = crl_versions or {}
        keys = []
        for key in reversed(self.shc_keys):
            jwk: dict[str, Any] = dict(key.public_jwk)
            jwk["crlVersion"] = versions.get(key.kid, FIRST_CRL_VERSION)
            keys.append(jwk)
        return {"keys": keys}

    # --- creating and reading the directory -----------------------------------

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        organization: str = "Vaccination Record System",
        country: str = "JP",
        now: dt.datetime | None = None,
        pdf_signer_in_token: tuple[str, ec.EllipticCurvePublicKey] | None = None,
        crl_base_url: str | None = None,
    ) -> KeyStore:
        """Generate a deployment's keys and certificates into an empty ``directory``.

        Args:
            crl_base_url: the public URL under which :data:`PUBLISHED_CRLS` are
                served (``<VRS_BASE_URL>/pki``), named in the signer certificates.
            pdf_signer_in_token: ``(key label, public key)`` of a PDF signer key
                generated in a PKCS#11 token (:func:`signing.hsm.generate_signer_key`):
                it is certified by the new root instead of a key generated here.

        Raises:
            KeyStoreError: the directory already holds a key store (never overwritten).
        """
        root = Path(directory)
        if (root / _MANIFEST).exists():
            raise KeyStoreError(f"{root} already holds a key store; refusing to overwrite it")
        for part in ("pdf", "shc", "vdsnc"):
            (root / part).mkdir(parents=True, exist_ok=True)
        secret = _secret(passphrase)
        now = now or dt.datetime.now(dt.UTC)

        pdf_root_key = ec.generate_private_key(ec.SECP256R1())
        pdf_root = certs.make_self_signed_ca(
            pdf_root_key, f"{organization} Certificate Root CA", organization, country, now
        )
        _write_cert(root / "pdf" / "root.crt.pem", pdf_root)
        _write_key(root / "pdf" / "root.key.pem", pdf_root_key, secret)

        csca_key = ec.generate_private_key(ec.SECP384R1())
        csca = certs.make_self_signed_ca(
            csca_key, f"{organization} CSCA", organization, country, now, years=certs.CSCA_YEARS
        )
        _write_cert(root / "vdsnc" / "csca.crt.pem", csca)
        _write_key(root / "vdsnc" / "csca.key.pem", csca_key, secret)

        manifest: dict[str, Any] = {
            "format": _FORMAT,
            "organization": organization,
            "country": country,
        }
        if crl_base_url:
            manifest["crl_base_url"] = crl_base_url.rstrip("/")
        _new_crls(root, secret, now)
        if pdf_signer_in_token is None:
            _new_signer(root, "pdf", secret, manifest, 1, now)
        else:
            label, public_key = pdf_signer_in_token
            manifest["pdf_signer_pkcs11_key"] = label
            _new_signer(root, "pdf", secret, manifest, 1, now, public_key=public_key)
        _new_signer(root, "vdsnc", secret, manifest, 1, now)
        _new_shc_key(root, secret, 1)
        _new_rid_secret(root)
        (root / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return cls.load(root, passphrase)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], passphrase: str | bytes) -> KeyStore:
        """Read and decrypt a key store made by :meth:`init`.

        Raises:
            KeyStoreError: files are missing or the passphrase does not decrypt them.
        """
        root = Path(directory)
        if not (root / _MANIFEST).exists():
            raise KeyStoreError(f"{root} holds no key store (run the key setup first)")
        secret = _secret(passphrase)
        manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
        token_label = manifest.get("pdf_signer_pkcs11_key")
        shc_keys = []
        for jwk_path in sorted((root / "shc").glob("*.jwk.json")):
            public_jwk = json.loads(jwk_path.read_text(encoding="utf-8"))
            key_path = jwk_path.with_name(jwk_path.name.replace(".jwk.json", ".key.pem"))
            signing = ECKey.import_key(_read_key(key_path, secret)) if key_path.exists() else None
            shc_keys.append(ShcIssuerKey(public_jwk["kid"], public_jwk, signing))
        if not shc_keys or shc_keys[-1].signing_key is None:
            raise KeyStoreError(f"{root / 'shc'} has no current SHC signing key")
        return cls(
            directory=root,
            pdf_root=_read_cert(root / "pdf" / "root.crt.pem"),
            pdf_signer=None if token_label else _current_signer(root / "pdf", secret),
            shc_keys=tuple(shc_keys),
            vdsnc_csca=_read_cert(root / "vdsnc" / "csca.crt.pem"),
            vdsnc_signer=_current_signer(root / "vdsnc", secret),
            pdf_crl=_read_crl(root / "pdf" / "root.crl"),
            vdsnc_crl=_read_crl(root / "vdsnc" / "csca.crl")
            if (root / "vdsnc" / "csca.crl").exists()
            else None,
            crl_base_url=manifest.get("crl_base_url"),
            pdf_signer_in_token=TokenKey(_current_certificate(root / "pdf"), token_label)
            if token_label
            else None,
            rid_secret=_rid_secret(root),
        )

    @classmethod
    def renew_crl(
        cls,
        directory: str | os.PathLike[str],
        passphrase: str | bytes,
        now: dt.datetime | None = None,
    ) -> KeyStore:
        """Issue the next CRLs of the PDF root and the CSCA (before their next update)."""
        store = cls.load(directory, passphrase)
        with _crl_lock(store.directory):
            _new_crls(store.directory, _secret(passphrase), now or dt.datetime.now(dt.UTC))
        return cls.load(directory, passphrase)

    @classmethod
    def renew_crl_if_due(
        cls,
        directory: str | os.PathLike[str],
        passphrase: str | bytes,
        now: dt.datetime | None = None,
        renew_after: dt.timedelta = CRL_RENEW_AFTER,
    ) -> bool:
        """Renew both CRLs if either is ``renew_after`` old, missing, or expires within that.

        Under an exclusive lock on the store, and judged again once it is held:
        of several processes calling at once, one signs and the others find
        fresh lists. Returns whether this call renewed them.

        Raises:
            KeyStoreError: the passphrase does not open the CA keys.
        """
        root = Path(directory)
        when = now or dt.datetime.now(dt.UTC)
        with _crl_lock(root):
            if not crl_renewal_due(root, when, renew_after):
                return False
            _new_crls(root, _secret(passphrase), when)
            return True

    def with_current_crls(self) -> KeyStore:
        """This store with the CRLs on disk now (renewed since it was loaded, maybe by another process)."""
        csca = self.directory / PUBLISHED_CRLS["csca.crl"]
        return dataclasses.replace(
            self,
            pdf_crl=_read_crl(self.directory / PUBLISHED_CRLS["pdf-root.crl"]),
            vdsnc_crl=_read_crl(csca) if csca.exists() else None,
        )

    @classmethod
    def rotate(
        cls,
        directory: str | os.PathLike[str],
        passphrase: str | bytes,
        part: RotatablePart,
        now: dt.datetime | None = None,
        crl_base_url: str | None = None,
    ) -> KeyStore:
        """Replace the signing key of ``part`` and retire the previous one.

        ``shc``: a new issuer key signs; the old public key stays in the JWKS.
        ``pdf`` / ``vdsnc``: a new signer certificate from the same CA / CSCA,
        naming ``crl_base_url`` (kept in the manifest from then on) or the
        store's current one.
        """
        store = cls.load(directory, passphrase)
        root = store.directory
        secret = _secret(passphrase)
        manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
        if crl_base_url and crl_base_url.rstrip("/") != manifest.get("crl_base_url"):
            manifest["crl_base_url"] = crl_base_url.rstrip("/")
            text = json.dumps(manifest, indent=2) + "\n"
            (root / _MANIFEST).write_text(text, encoding="utf-8")
        now = now or dt.datetime.now(dt.UTC)
        if part == "pdf" and store.pdf_signer_in_token is not None:
            raise KeyStoreError(
                "the PDF signer key lives in a PKCS#11 token: rotating it is not supported yet"
            )
        if part == "shc":
            sequence = len(store.shc_keys) + 1
            _new_shc_key(root, secret, sequence)
            retired = root / "shc" / f"{sequence - 1:04d}.key.pem"
        elif part in ("pdf", "vdsnc"):
            sequence = _last_sequence(root / part) + 1
            _new_signer(root, part, secret, manifest, sequence, now)
            retired = root / part / f"signer-{sequence - 1:04d}.key.pem"
        else:
            raise ValueError(f"unknown key store part {part!r}")
        retired.unlink()
        return cls.load(root, passphrase)


# --- generations -------------------------------------------------------------


#: part → (CA file stem, how to make a signer certificate, its common name after the
#: organisation, the published name of its CA's CRL)
_SIGNER_KINDS = {
    "pdf": ("root", certs.make_pdf_signer, "Document Signer", "pdf-root.crl"),
    "vdsnc": ("csca", certs.make_barcode_signer, "VDS-NC Signer", "csca.crl"),
}


def _new_signer(
    root: Path,
    part: str,
    secret: bytes,
    manifest: Mapping[str, Any],
    sequence: int,
    now: dt.datetime,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> None:
    """A new signer generation; with ``public_key`` (a token's key) only its certificate."""
    ca_stem, make, role, crl_name = _SIGNER_KINDS[part]
    ca = _read_cert(root / part / f"{ca_stem}.crt.pem")
    ca_key = _read_key(root / part / f"{ca_stem}.key.pem", secret)
    key = ec.generate_private_key(ec.SECP256R1()) if public_key is None else None
    organization = manifest["organization"]
    common_name = f"{organization} {role} {sequence}"
    certified = public_key or key
    assert certified is not None  # one of the two is always set
    base = manifest.get("crl_base_url")
    crl_url = f"{base}/{crl_name}" if base else None
    cert = make(certified, ca, ca_key, common_name, organization, manifest["country"], now, crl_url)
    _write_cert(root / part / f"signer-{sequence:04d}.crt.pem", cert)
    if key is not None:
        _write_key(root / part / f"signer-{sequence:04d}.key.pem", key, secret)


def crl_renewal_due(
    directory: str | os.PathLike[str],
    now: dt.datetime,
    renew_after: dt.timedelta = CRL_RENEW_AFTER,
) -> bool:
    """Whether a published CRL of the store is missing, ``renew_after`` old, or expires within that."""
    for path in PUBLISHED_CRLS.values():
        file = Path(directory) / path
        if not file.is_file():
            return True
        crl = x509.load_der_x509_crl(file.read_bytes())
        expires = crl.next_update_utc
        if (
            now - crl.last_update_utc >= renew_after
            or expires is None
            or expires - now <= renew_after
        ):
            return True
    return False


@contextmanager
def _crl_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the store's CRLs, held until the block ends (blocks while another holds it)."""
    with (root / _CRL_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_crls(root: Path, secret: bytes, now: dt.datetime) -> None:
    """Issue the PDF root's and the CSCA's next CRLs (written whole, then renamed)."""
    for part, stem in (("pdf", "root"), ("vdsnc", "csca")):
        ca = _read_cert(root / part / f"{stem}.crt.pem")
        crl = certs.make_empty_crl(ca, _read_key(root / part / f"{stem}.key.pem", secret), now)
        # A server reads these while serving /pki: never let it see half a file.
        partial = root / part / f"{stem}.crl.partial"
        partial.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        partial.replace(root / part / f"{stem}.crl")


def _new_shc_key(root: Path, secret: bytes, sequence: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECKey.import_key(key.public_key())
    public_jwk = {
        **jwk.as_dict(private=False),
        "kid": jwk.thumbprint(),
        "use": "sig",
        "alg": "ES256",
    }
    (root / "shc" / f"{sequence:04d}.jwk.json").write_text(
        json.dumps(public_jwk) + "\n", encoding="utf-8"
    )
    _write_key(root / "shc" / f"{sequence:04d}.key.pem", key, secret)


def _new_rid_secret(root: Path) -> None:
    fd = os.open(root / _RID_SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))


def _rid_secret(root: Path) -> bytes:
    # A store made before rids were one-way has none: make it now (its earlier
    # cards carried their certificate id as rid and are not in the new CRLs).
    if not (root / _RID_SECRET).exists():
        try:
            _new_rid_secret(root)
        except FileExistsError:
            pass  # another process made it first
    return (root / _RID_SECRET).read_bytes()


def _last_sequence(directory: Path) -> int:
    return max(int(path.name[7:11]) for path in directory.glob("signer-*.crt.pem"))


def _current_certificate(directory: Path) -> x509.Certificate:
    return _read_cert(directory / f"signer-{_last_sequence(directory):04d}.crt.pem")


def _current_signer(directory: Path, secret: bytes) -> CertifiedKey:
    sequence = _last_sequence(directory)
    cert = _read_cert(directory / f"signer-{sequence:04d}.crt.pem")
    key = _read_key(directory / f"signer-{sequence:04d}.key.pem", secret)
    return CertifiedKey(cert, key)


# --- files -------------------------------------------------------------------


def _secret(passphrase: str | bytes) -> bytes:
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not secret:
        raise KeyStoreError("the key store passphrase must not be empty")
    return secret


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, secret: bytes) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    # Create with 0600 from the start rather than chmod after writing.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as error:
        raise KeyStoreError(f"missing certificate {path}") from error


def _read_crl(path: Path) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(path.read_bytes())
    except FileNotFoundError as error:
        raise KeyStoreError(f"missing CRL {path} (run KeyStore.renew_crl)") from error


def _read_key(path: Path, secret: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=secret)
    except FileNotFoundError as error:
        raise KeyStoreError(f"missing private key {path}") from error
    except (ValueError, TypeError) as error:
        raise KeyStoreError(f"cannot decrypt {path}: wrong passphrase?") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError(f"{path} is not an EC private key")
    return key
