"""The issuers and CSCAs the verify page trusts, each key bound to its own issuer.

Like the VCI directory, a SMART Health Card issuer is its ``iss`` URL with its
JWKS and, for keys that carry ``crlVersion``, its revocation list per key. A
card is checked only against the keys of the issuer its own ``iss`` names: a
card signed with another trusted issuer's key and claiming our ``iss`` fails
(before, keys were merged by ``kid`` across issuers).

On disk, under ``<data dir>/trust/``:

- ``issuers/<slug>.json``: ``{"iss", "name", "jwks_source", "jwks", "crls": {kid: CRL},
  "updated_at"}``; ``jwks_source`` is the file or URL it was read from (default
  ``<iss>/.well-known/jwks.json``); CRLs come from ``<iss>/.well-known/crl/<kid>.json``
  or a file the operator gives.
- ``csca/<name>.der|.pem`` a CSCA for VDS-NC seals (e.g. Japan's published
  CSCA), with ``csca/<name>.crl`` its CRL when the operator gave one: a seal
  whose signer certificate the CRL lists is revoked.

``vrs trust add-issuer|add-csca|refresh|list`` (:mod:`cli.commands.trust`) keep
them up to date from files or URLs the operator gives; the server reads the
directory at start (restart, or send the running server a new one by restart,
after a refresh).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from joserfc.jwk import ECKey

from signing import shc, vdsnc

log = logging.getLogger("vrs.trust")

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class TrustedIssuer:
    """One SMART Health Card issuer: its keys and its revocation lists."""

    iss: str
    name: str
    keys: Mapping[str, ECKey]
    crl_versions: Mapping[str, int] = field(default_factory=dict)
    """kid → ``crlVersion`` for keys that have one (the verifier SHALL check their CRL)."""
    crls: Mapping[str, shc.RevocationList] = field(default_factory=dict)


@dataclass(frozen=True)
class TrustedCsca:
    """A CSCA for VDS-NC seals and the signer certificates its CRL revokes."""

    name: str
    certificate: asn1_x509.Certificate
    revoked_serials: frozenset[int] = frozenset()
    has_crl: bool = False


@dataclass(frozen=True)
class IssuerDirectory:
    """Every trusted issuer by ``iss`` and every trusted CSCA."""

    issuers: Mapping[str, TrustedIssuer] = field(default_factory=dict)
    cscas: tuple[TrustedCsca, ...] = ()


def trust_root(data_dir: Path) -> Path:
    """``<data dir>/trust``."""
    return data_dir / "trust"


def slug(iss: str) -> str:
    """A file name for an issuer URL."""
    return hashlib.sha256(iss.encode()).hexdigest()[:16]


def crl_versions(jwks: Mapping[str, Any]) -> dict[str, int]:
    """kid → crlVersion of the keys that declare one."""
    versions = {}
    for key in jwks.get("keys", []):
        if isinstance(key, dict) and isinstance(key.get("crlVersion"), int):
            versions[str(key.get("kid"))] = int(key["crlVersion"])
    return versions


def issuer_from_document(document: Mapping[str, Any]) -> TrustedIssuer:
    """A :class:`TrustedIssuer` from its stored JSON.

    Raises:
        ValueError: the document is not a usable issuer entry.
    """
    iss = document.get("iss")
    if not isinstance(iss, str) or not iss.startswith(("https://", "http://")):
        raise ValueError("iss must be an http(s) URL")
    jwks = document.get("jwks") or {}
    keys = shc.load_jwks(jwks)
    crls = {
        kid: shc.RevocationList.from_document(crl)
        for kid, crl in (document.get("crls") or {}).items()
        if isinstance(crl, dict)
    }
    return TrustedIssuer(iss, str(document.get("name") or iss), keys, crl_versions(jwks), crls)


def _load_crl(data: bytes) -> asn1_crl.CertificateList:
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_crl.CertificateList.load(data)


def revoked_serials(crl: asn1_crl.CertificateList, csca: asn1_x509.Certificate) -> frozenset[int]:
    """The serial numbers a CSCA's CRL revokes (the CRL must be signed by that CSCA).

    Raises:
        ValueError: the CRL is not issued by this CSCA, or its signature fails.
    """
    if crl.issuer != csca.subject:
        raise ValueError("the CRL is not issued by this CSCA")
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    parsed = x509.load_der_x509_crl(crl.dump())
    certificate = x509.load_der_x509_certificate(csca.dump())
    try:
        if not parsed.is_signature_valid(certificate.public_key()):  # type: ignore[arg-type]  # a CSCA key is EC or RSA; a wrong kind fails the check
            raise ValueError("the CRL's signature does not verify with the CSCA")
    except (InvalidSignature, TypeError) as error:
        raise ValueError(f"the CRL cannot be verified: {error}") from error
    return frozenset(entry.serial_number for entry in parsed)


def load_directory(data_dir: Path) -> IssuerDirectory:
    """Read ``<data dir>/trust``; unreadable entries are logged and skipped."""
    root = trust_root(data_dir)
    issuers: dict[str, TrustedIssuer] = {}
    for path in sorted((root / "issuers").glob("*.json")):
        try:
            issuer = issuer_from_document(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("trust directory: cannot read %s: %s", path.name, error)
            continue
        issuers[issuer.iss] = issuer
    if (root / "jwks").is_dir() and any((root / "jwks").glob("*.json")):
        log.warning(
            "trust directory: trust/jwks/*.json are no longer used (a key must be bound to its"
            " issuer): add them with `vrs trust add-issuer ISS --jwks FILE`"
        )
    cscas = []
    for path in sorted((root / "csca").glob("*")):
        if path.suffix not in (".der", ".pem", ".crt", ".cer") or not path.is_file():
            continue
        try:
            (certificate,) = vdsnc.load_cscas([path.read_bytes()])
        except ValueError as error:
            log.warning("trust directory: cannot read CSCA %s: %s", path.name, error)
            continue
        crl_path = path.with_suffix(".crl")
        serials: frozenset[int] = frozenset()
        if crl_path.is_file():
            try:
                serials = revoked_serials(_load_crl(crl_path.read_bytes()), certificate)
            except ValueError as error:
                log.warning("trust directory: CRL %s refused: %s", crl_path.name, error)
                continue  # a CSCA whose CRL cannot be trusted is not trusted either
        cscas.append(TrustedCsca(path.stem, certificate, serials, crl_path.is_file()))
    return IssuerDirectory(issuers, tuple(cscas))


# --- keeping it up to date (the ``vrs trust`` command) ---------------------------------


def read_source(source: str) -> bytes:
    """The bytes of a file path or an http(s) URL (size-limited).

    Raises:
        ValueError: unreadable, too large, or the server refused.
    """
    if source.startswith(("https://", "http://")):
        import httpx

        try:
            response = httpx.get(source, timeout=20, follow_redirects=True)
        except httpx.HTTPError as error:
            raise ValueError(f"{source}: {type(error).__name__}") from error
        if response.status_code != 200:
            raise ValueError(f"{source}: HTTP {response.status_code}")
        data = response.content
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise ValueError(f"{source}: {error.strerror}") from error
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes")
    return data


def _json(source: str) -> dict[str, Any]:
    try:
        document = json.loads(read_source(source))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: not JSON") from error
    if not isinstance(document, dict):
        raise ValueError(f"{source}: not a JSON object")
    return document


def add_issuer(
    data_dir: Path,
    iss: str,
    *,
    name: str = "",
    jwks_source: str = "",
    crl_sources: Mapping[str, str] | None = None,
) -> TrustedIssuer:
    """Fetch an issuer's JWKS (and the CRL of each key with ``crlVersion``) and store it.

    ``crl_sources`` (kid → file or URL) overrides ``<iss>/.well-known/crl/<kid>.json``.

    Raises:
        ValueError: what could not be read, and why.
    """
    iss = iss.rstrip("/")
    if not iss.startswith(("https://", "http://")):
        raise ValueError("iss must be an http(s) URL")
    path = trust_root(data_dir) / "issuers" / f"{slug(iss)}.json"
    earlier: dict[str, Any] = {}
    if path.is_file():
        earlier = json.loads(path.read_text(encoding="utf-8"))
    jwks_source = jwks_source or earlier.get("jwks_source") or f"{iss}/.well-known/jwks.json"
    sources = {**(earlier.get("crl_sources") or {}), **(crl_sources or {})}
    jwks = _json(jwks_source)
    shc.load_jwks(jwks)  # refuses a JWKS without usable keys
    crls = {}
    for kid, _version in crl_versions(jwks).items():
        source = sources.get(kid) or f"{iss}/.well-known/crl/{kid}.json"
        crl = _json(source)
        if crl.get("kid") != kid:
            raise ValueError(f"{source}: the CRL is for kid {crl.get('kid')!r}, not {kid!r}")
        crls[kid] = crl
    document = {
        "iss": iss,
        "name": name or earlier.get("name") or iss,
        "jwks_source": jwks_source,
        "crl_sources": sources,
        "jwks": jwks,
        "crls": crls,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    issuer = issuer_from_document(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return issuer


def add_csca(data_dir: Path, name: str, certificate_source: str, crl_source: str = "") -> None:
    """Store a CSCA certificate (and its CRL) under ``trust/csca/<name>``.

    Raises:
        ValueError: unreadable certificate, or a CRL not signed by it.
    """
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("the name may hold letters, digits, - and _ only")
    data = read_source(certificate_source)
    (certificate,) = vdsnc.load_cscas([data])
    folder = trust_root(data_dir) / "csca"
    folder.mkdir(parents=True, exist_ok=True)
    sources = {"certificate": certificate_source, "crl": crl_source}
    if crl_source:
        crl = read_source(crl_source)
        revoked_serials(_load_crl(crl), certificate)
        (folder / f"{name}.crl").write_bytes(crl)
    (folder / f"{name}.der").write_bytes(certificate.dump())
    (folder / f"{name}.source.json").write_text(json.dumps(sources), encoding="utf-8")


def refresh(data_dir: Path) -> list[str]:
    """Fetch every issuer's JWKS and CRLs and every CSCA's CRL again; what was done."""
    done = []
    root = trust_root(data_dir)
    for path in sorted((root / "issuers").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        try:
            issuer = add_issuer(data_dir, document["iss"])
            done.append(f"{issuer.iss}: {len(issuer.keys)} keys, {len(issuer.crls)} CRLs")
        except ValueError as error:
            done.append(f"{document.get('iss')}: kept the earlier copy ({error})")
    for path in sorted((root / "csca").glob("*.source.json")):
        sources = json.loads(path.read_text(encoding="utf-8"))
        name = path.name.removesuffix(".source.json")
        if not sources.get("crl"):
            continue
        try:
            add_csca(data_dir, name, sources["certificate"], sources["crl"])
            done.append(f"CSCA {name}: CRL updated")
        except ValueError as error:
            done.append(f"CSCA {name}: kept the earlier copy ({error})")
    return done
