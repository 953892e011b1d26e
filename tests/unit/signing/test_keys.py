"""The key store: generation, encryption at rest, reload, rotation, JWKS."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from signing import certs, cli
from signing.keys import KeyStore, KeyStoreError

PASSPHRASE = "another passphrase"  # noqa: S105 - a throwaway test key store


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    KeyStore.init(tmp_path / "keys", PASSPHRASE)
    return tmp_path / "keys"


def test_private_keys_are_encrypted_and_private(store_dir: Path) -> None:
    key_files = list(store_dir.rglob("*.key.pem"))
    assert len(key_files) == 5  # two CAs, PDF signer, barcode signer, SHC key
    for path in key_files:
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wrong_passphrase_is_refused(store_dir: Path) -> None:
    with pytest.raises(KeyStoreError, match="passphrase"):
        KeyStore.load(store_dir, "not it")


def test_init_never_overwrites_a_store(store_dir: Path) -> None:
    before = (store_dir / "pdf" / "root.key.pem").read_bytes()
    with pytest.raises(KeyStoreError, match="already"):
        KeyStore.init(store_dir, PASSPHRASE)
    assert (store_dir / "pdf" / "root.key.pem").read_bytes() == before


def test_load_of_an_empty_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="no key store"):
        KeyStore.load(tmp_path, PASSPHRASE)


def test_reload_gives_the_same_keys(store_dir: Path) -> None:
    first, second = KeyStore.load(store_dir, PASSPHRASE), KeyStore.load(store_dir, PASSPHRASE)
    assert first.shc_signing_key.public_jwk == second.shc_signing_key.public_jwk
    assert first.pdf_signer.certificate == second.pdf_signer.certificate


def test_kid_is_the_rfc7638_thumbprint(store_dir: Path) -> None:
    key = KeyStore.load(store_dir, PASSPHRASE).shc_signing_key
    assert (
        key.kid
        == ECKey.import_key({k: key.public_jwk[k] for k in ("kty", "crv", "x", "y")}).thumbprint()
    )
    assert key.public_jwk["alg"] == "ES256" and key.public_jwk["use"] == "sig"
    assert "d" not in key.public_jwk


def test_pdf_signer_has_no_revocation_urls_and_chains_to_the_root(store_dir: Path) -> None:
    store = KeyStore.load(store_dir, PASSPHRASE)
    signer = store.pdf_signer.certificate
    extension_oids = {ext.oid for ext in signer.extensions}
    assert x509.oid.ExtensionOID.CRL_DISTRIBUTION_POINTS not in extension_oids
    assert x509.oid.ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in extension_oids
    signer.verify_directly_issued_by(store.pdf_root)
    assert isinstance(store.pdf_signer.private_key.curve, ec.SECP256R1)


def test_barcode_signer_carries_the_icao_extensions(store_dir: Path) -> None:
    store = KeyStore.load(store_dir, PASSPHRASE)
    signer = store.vdsnc_signer.certificate
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [certs.VDSNC_SIGNER_EKU]
    doc_types = signer.extensions.get_extension_for_oid(certs.DOCUMENT_TYPE_LIST).value
    assert doc_types.value.endswith(b"\x13\x02NV")
    signer.verify_directly_issued_by(store.vdsnc_csca)


def test_shc_rotation_keeps_old_public_keys_and_signs_with_the_new(store_dir: Path) -> None:
    old = KeyStore.load(store_dir, PASSPHRASE).shc_signing_key
    rotated = KeyStore.rotate(store_dir, PASSPHRASE, "shc")
    assert rotated.shc_signing_key.kid != old.kid
    assert [k["kid"] for k in rotated.jwks()["keys"]] == [rotated.shc_signing_key.kid, old.kid]
    assert rotated.shc_keys[0].signing_key is None
    assert not (store_dir / "shc" / "0001.key.pem").exists()


def test_jwks_names_crl_version_for_every_key_from_the_start(store_dir: Path) -> None:
    store = KeyStore.rotate(store_dir, PASSPHRASE, "shc")
    old_kid = store.shc_keys[0].kid
    keys = {k["kid"]: k for k in store.jwks({old_kid: 3})["keys"]}
    assert keys[old_kid]["crlVersion"] == 3
    # Before its first revocation a key's CRL is at 1 (the SHC spec counts from 1).
    assert keys[store.shc_signing_key.kid]["crlVersion"] == 1
    assert all(k["crlVersion"] == 1 for k in store.jwks()["keys"])


@pytest.mark.parametrize("part", ["pdf", "vdsnc"])
def test_signer_rotation_issues_a_new_certificate_from_the_same_ca(
    store_dir: Path, part: str
) -> None:
    before = KeyStore.load(store_dir, PASSPHRASE)
    after = KeyStore.rotate(store_dir, PASSPHRASE, part)  # type: ignore[arg-type]  # parametrized str for the Literal part
    old, new = (
        (before.pdf_signer, after.pdf_signer)
        if part == "pdf"
        else (before.vdsnc_signer, after.vdsnc_signer)
    )
    assert new.certificate.serial_number != old.certificate.serial_number
    new.certificate.verify_directly_issued_by(after.pdf_root if part == "pdf" else after.vdsnc_csca)
    assert not (store_dir / part / "signer-0001.key.pem").exists()
    assert (store_dir / part / "signer-0001.crt.pem").exists()


def test_pdf_crl_is_signed_by_the_root_revokes_nothing_and_renews(store_dir: Path) -> None:
    store = KeyStore.load(store_dir, PASSPHRASE)
    assert store.pdf_crl.is_signature_valid(store.pdf_root.public_key())
    assert len(store.pdf_crl) == 0
    renewed = KeyStore.renew_crl(store_dir, PASSPHRASE)
    assert renewed.pdf_crl.next_update_utc >= store.pdf_crl.next_update_utc
    assert renewed.pdf_crl.is_signature_valid(store.pdf_root.public_key())


def test_setup_command_creates_shows_rotates_and_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.PASSPHRASE_VARIABLE, PASSPHRASE)
    directory = str(tmp_path / "deployment")
    assert cli.main(["init", directory, "--organization", "Chiyoda City VRS"]) == 0
    assert "O=Chiyoda City VRS" in capsys.readouterr().out
    assert cli.main(["rotate", directory, "shc"]) == 0
    assert "retired, still published" in capsys.readouterr().out
    assert cli.main(["jwks", directory]) == 0
    assert len(json.loads(capsys.readouterr().out)["keys"]) == 2
    assert cli.main(["init", directory]) == 1  # never overwrites
    monkeypatch.setenv(cli.PASSPHRASE_VARIABLE, "wrong")
    assert cli.main(["show", directory]) == 1
    assert "passphrase" in capsys.readouterr().err


def test_japans_published_issuer_keys_have_thumbprint_kids(vectors: Path) -> None:
    from signing.shc import load_jwks

    for path in (vectors / "shc" / "japan-issuer-keys").glob("*.jwk"):
        key = json.loads(path.read_text())
        assert list(load_jwks({"keys": [key]})) == [path.stem]
