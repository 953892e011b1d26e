"""ICAO VDS-NC: issue → verify, Japan's real seal, and refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing import icao_pki, vdsnc
from signing.errors import VerificationError, VerificationFailure
from signing.examples import example_content
from signing.keys import KeyStore

JAPAN_SIGNED_AT = dt.datetime(2022, 1, 15, tzinfo=dt.UTC)


@pytest.fixture
def our_cscas(key_store: KeyStore) -> list:
    return vdsnc.load_cscas([key_store.vdsnc_csca.public_bytes(serialization.Encoding.PEM)])


@pytest.fixture
def japan(vectors: Path) -> tuple[str, list]:
    seal = (vectors / "icao" / "jpn-triple-vaccine.json").read_text()
    return seal, vdsnc.load_cscas([(vectors / "icao" / "japan-csca" / "e3.der").read_bytes()])


def _reason(call) -> VerificationFailure:
    with pytest.raises(VerificationError) as info:
        call()
    return info.value.reason


def test_issued_seal_verifies_against_our_csca(key_store: KeyStore, our_cscas: list) -> None:
    content = example_content(3, "overseas")
    text = vdsnc.issue_seal(content, key_store.vdsnc_signer)
    assert text == json.dumps(
        json.loads(text), separators=(",", ":"), ensure_ascii=False
    )  # compact
    result = vdsnc.verify_seal(text, our_cscas)
    assert result.trusted and result.chain is vdsnc.ChainStatus.VERIFIED
    assert result.uvci == content.certificate_id
    pid = result.data["msg"]["pid"]
    assert pid == {
        "n": content.holder.name_roman,
        "dob": content.holder.birth_date.isoformat(),
        "i": content.holder.passport_number,
        "sex": content.holder.sex,
    }
    events = result.data["msg"]["ve"]
    assert [e["vd"][0]["seq"] for e in events] == [1, 2, 3]
    assert {(e["des"], e["dis"], e["nam"]) for e in events} == {("XM0GQ8", "RA01.0", "COMIRNATY")}


def test_signature_is_es256_raw_over_the_jcs_form(key_store: KeyStore) -> None:
    document = json.loads(vdsnc.issue_seal(example_content(1, "overseas"), key_store.vdsnc_signer))
    raw = vdsnc.b64url_decode(document["sig"]["sigvl"])
    assert len(raw) == 64 and document["sig"]["alg"] == "ES256"
    der = vdsnc.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public = key_store.vdsnc_signer.private_key.public_key()
    public.verify(der, rfc8785.dumps(document["data"]), ec.ECDSA(vdsnc.hashes.SHA256()))
    assert vdsnc.b64url_decode(document["sig"]["cer"]) == key_store.vdsnc_signer.certificate_der


def test_domestic_certificates_get_no_seal(key_store: KeyStore) -> None:
    with pytest.raises(ValueError, match="overseas"):
        vdsnc.seal_data(example_content(1, "domestic"))


def test_japans_real_seal_verifies_and_chains_to_japans_csca(japan: tuple[str, list]) -> None:
    seal, cscas = japan
    result = vdsnc.verify_seal(seal, cscas, at=JAPAN_SIGNED_AT)
    assert result.chain is vdsnc.ChainStatus.VERIFIED, result.chain_detail
    assert "e-passportCSCA" in result.chain_detail
    assert result.uvci == "6U5RSWMBASG2"
    assert result.data["msg"]["pid"]["n"] == "MIYAKE SHOTA"


def test_japans_seal_also_chains_through_the_link_certificate(
    vectors: Path, japan: tuple[str, list]
) -> None:
    link = vdsnc.load_cscas([(vectors / "icao" / "japan-csca" / "e5.der").read_bytes()])
    assert vdsnc.verify_seal(japan[0], link, at=JAPAN_SIGNED_AT).trusted


def test_japans_seal_without_a_csca_reports_the_chain_unchecked(japan: tuple[str, list]) -> None:
    result = vdsnc.verify_seal(japan[0], [], at=JAPAN_SIGNED_AT)
    assert result.chain is vdsnc.ChainStatus.NOT_CHECKED and not result.trusted


def test_japans_seal_is_refused_against_our_csca(japan: tuple[str, list], our_cscas: list) -> None:
    assert (
        _reason(lambda: vdsnc.verify_seal(japan[0], our_cscas, at=JAPAN_SIGNED_AT))
        is VerificationFailure.UNTRUSTED_SIGNER
    )


def test_our_seal_is_refused_against_japans_csca(
    key_store: KeyStore, japan: tuple[str, list]
) -> None:
    text = vdsnc.issue_seal(example_content(2, "overseas"), key_store.vdsnc_signer)
    assert (
        _reason(lambda: vdsnc.verify_seal(text, japan[1])) is VerificationFailure.UNTRUSTED_SIGNER
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["data"]["msg"]["pid"].__setitem__("n", "MIYAKE SHOTB"),
        lambda d: d["data"]["msg"]["ve"][0]["vd"][0].__setitem__("lot", "FC9881"),
        lambda d: d["data"]["msg"]["ve"].pop(),
        lambda d: d["data"]["msg"].__setitem__("uvci", "6U5RSWMBASG3"),
    ],
)
def test_tampered_japanese_data_is_a_bad_signature(japan: tuple[str, list], tamper) -> None:
    document = json.loads(japan[0])[0]
    tamper(document)
    assert (
        _reason(lambda: vdsnc.verify_seal(document, japan[1], at=JAPAN_SIGNED_AT))
        is VerificationFailure.BAD_SIGNATURE
    )


def test_reordered_keys_still_verify_because_the_signature_is_over_jcs(
    japan: tuple[str, list],
) -> None:
    document = json.loads(japan[0])[0]
    reordered = {
        "sig": document["sig"],
        "data": {"msg": document["data"]["msg"], "hdr": document["data"]["hdr"]},
    }
    assert vdsnc.verify_seal(json.dumps(reordered, indent=3), japan[1], at=JAPAN_SIGNED_AT).trusted


def test_signature_from_another_signer_is_refused(
    key_store: KeyStore, japan: tuple[str, list]
) -> None:
    ours = json.loads(vdsnc.issue_seal(example_content(2, "overseas"), key_store.vdsnc_signer))
    japanese = json.loads(japan[0])[0]
    ours["sig"]["cer"] = japanese["sig"]["cer"]
    assert (
        _reason(lambda: vdsnc.verify_seal(ours, japan[1], at=JAPAN_SIGNED_AT))
        is VerificationFailure.BAD_SIGNATURE
    )


def test_signer_outside_its_validity_is_refused(japan: tuple[str, list]) -> None:
    too_late = dt.datetime(2032, 1, 1, tzinfo=dt.UTC)
    assert (
        _reason(lambda: vdsnc.verify_seal(japan[0], japan[1], at=too_late))
        is VerificationFailure.SIGNER_NOT_VALID
    )


def test_revoked_uvci_is_refused(key_store: KeyStore, our_cscas: list) -> None:
    content = example_content(5, "overseas")
    text = vdsnc.issue_seal(content, key_store.vdsnc_signer)
    revoked = {content.certificate_id}
    assert (
        _reason(lambda: vdsnc.verify_seal(text, our_cscas, revoked_uvcis=revoked))
        is VerificationFailure.REVOKED
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", VerificationFailure.MALFORMED),
        ("[1, 2]", VerificationFailure.MALFORMED),
        ('{"data": {}}', VerificationFailure.MALFORMED),
        (
            '{"data": {"hdr": {"t": "icao.test", "v": 1}, "msg": {}}, "sig": {"alg": "ES256", "cer": "", "sigvl": ""}}',
            VerificationFailure.UNSUPPORTED,
        ),
        (
            '{"data": {"hdr": {"t": "icao.vacc", "v": 1}, "msg": {}}, "sig": {"alg": "ES256", "cer": "!!", "sigvl": ""}}',
            VerificationFailure.MALFORMED,
        ),
    ],
)
def test_garbage_is_malformed_not_a_crash(
    our_cscas: list, value: str, reason: VerificationFailure
) -> None:
    assert _reason(lambda: vdsnc.verify_seal(value, our_cscas)) is reason


def test_explicit_curve_parameters_map_to_the_named_curve(vectors: Path) -> None:
    csca = icao_pki.load_certificate((vectors / "icao" / "japan-csca" / "e3.der").read_bytes())
    assert csca.public_key.curve[0] == "specified"
    assert isinstance(icao_pki.public_key_of(csca).curve, ec.SECP384R1)


@pytest.mark.parametrize("name", sorted(icao_pki.NAMED_CURVE_PARAMETERS))
def test_known_curve_constants_are_consistent(name: str) -> None:
    p, a, b, gx, gy, _n, _h = icao_pki.NAMED_CURVE_PARAMETERS[name]
    assert (gy * gy - (gx**3 + a * gx + b)) % p == 0  # the base point lies on the curve
    curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[name]
    point = ec.generate_private_key(curve).public_key().public_numbers()
    assert (
        point.y**2 - (point.x**3 + a * point.x + b)
    ) % p == 0  # and so does a real key of that curve


def test_a_csca_whose_key_cannot_be_checked_makes_the_chain_unverifiable(
    japan: tuple[str, list],
) -> None:
    # Same name as Japan's CSCA, but an Ed25519 key: a CSCA we match yet cannot check.
    issuer_name = x509.Name.from_rfc4514_string(
        "CN=e-passportCSCA,OU=The Ministry of Foreign Affairs,O=Japanese Government,C=JP"
    )
    key = ed25519.Ed25519PrivateKey.generate()
    now = dt.datetime.now(dt.UTC)
    impostor = (
        x509.CertificateBuilder()
        .subject_name(issuer_name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, None)
    )
    cscas = vdsnc.load_cscas([impostor.public_bytes(serialization.Encoding.DER)])
    result = vdsnc.verify_seal(japan[0], cscas, at=JAPAN_SIGNED_AT)
    assert result.chain is vdsnc.ChainStatus.UNVERIFIABLE and not result.trusted
    assert "not supported" in result.chain_detail
