"""SMART Health Cards: issue → verify, the spec's vectors, and every way a card is refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import zlib
from pathlib import Path

import pytest

from signing import shc
from signing.b64 import b64url_decode, b64url_encode
from signing.errors import VerificationError, VerificationFailure
from signing.examples import example_content
from signing.keys import KeyStore
from signing.qr import SHC_MAX_VERSION, shc_symbol

from .fixtures import ISSUER_URL

SPEC_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"


@pytest.fixture
def trusted(key_store: KeyStore) -> dict:
    return shc.load_jwks(key_store.jwks())


def _issue(key_store: KeyStore, now: dt.datetime, kind: str = "domestic", n: int = 0) -> tuple:
    content = example_content(n, kind)  # type: ignore[arg-type]  # parametrized str for the Literal kind
    card = shc.issue_card(
        content, key_store.shc_signing_key, ISSUER_URL, now, rid=content.certificate_id
    )
    return content, card


def _reason(call) -> VerificationFailure:
    with pytest.raises(VerificationError) as info:
        call()
    return info.value.reason


def test_issued_card_verifies_and_carries_the_bundle(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    content, card = _issue(key_store, now)
    result = shc.verify_card(card, trusted, expected_issuer=ISSUER_URL)
    assert result.kid == key_store.shc_signing_key.kid
    assert result.issued_at == now
    assert result.rid == content.certificate_id
    assert result.claims["vc"]["type"] == [shc.HEALTH_CARD]
    patient, *immunizations = (entry["resource"] for entry in result.bundle["entry"])
    assert patient["name"] == [
        {"family": content.holder.family_name, "given": [content.holder.given_name]}
    ]
    assert patient["birthDate"] == content.holder.birth_date.isoformat()
    assert [i["occurrenceDateTime"] for i in immunizations] == [
        d.date.isoformat() for d in content.doses
    ]
    assert {i["vaccineCode"]["coding"][0]["code"] for i in immunizations} == {"208"}


def test_jws_header_and_payload_follow_the_spec(key_store: KeyStore, now: dt.datetime) -> None:
    _, card = _issue(key_store, now)
    header_part, payload_part, signature_part = card.split(".")
    assert json.loads(b64url_decode(header_part)) == {
        "zip": "DEF",
        "alg": "ES256",
        "kid": key_store.shc_signing_key.kid,
    }
    minified = zlib.decompress(b64url_decode(payload_part), -15)  # raw DEFLATE: no zlib header
    assert b'": ' not in minified and b', "' not in minified  # minified JSON
    assert len(b64url_decode(signature_part)) == 64  # raw r‖s


def test_overseas_card_names_the_holder_in_roman_letters(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    content, card = _issue(key_store, now, "overseas")
    patient = shc.verify_card(card, trusted).bundle["entry"][0]["resource"]
    assert patient["name"] == [
        {"family": content.holder.family_name_roman, "given": [content.holder.given_name_roman]}
    ]


def test_bundle_is_qr_sized(key_store: KeyStore, trusted: dict, now: dt.datetime) -> None:
    _, card = _issue(key_store, now)
    text = json.dumps(shc.verify_card(card, trusted).bundle)
    for forbidden in ('"id"', '"meta"', '"text"', '"display": "Pfizer'):
        assert forbidden not in text
    assert '"fullUrl": "resource:0"' in text


@pytest.mark.parametrize(
    "name", ["example-00-d-jws.txt", "example-00-f-qr-code-numeric-value-0.txt"]
)
def test_spec_example_verifies_with_the_spec_issuer_keys(vectors: Path, name: str) -> None:
    keys = shc.load_jwks(json.loads((vectors / "shc" / "issuer-jwks.json").read_text()))
    crl = shc.RevocationList.from_document(
        json.loads((vectors / "shc" / f"issuer-crl-{SPEC_KID}.json").read_text())
    )
    result = shc.verify_card(
        (vectors / "shc" / name).read_text(), keys, revocation_lists={SPEC_KID: crl}
    )
    expected = json.loads((vectors / "shc" / "example-00-c-jws-payload-minified.json").read_text())
    assert result.claims == expected
    assert result.rid == "MKyCxh7p6uQ"  # not on the example CRL


def test_our_numeric_encoding_matches_the_spec_example(vectors: Path) -> None:
    card = (vectors / "shc" / "example-00-d-jws.txt").read_text().strip()
    assert (
        shc.to_qr_text(card)
        == (vectors / "shc" / "example-00-f-qr-code-numeric-value-0.txt").read_text().strip()
    )
    assert shc.from_qr_text(shc.to_qr_text(card)) == card


def test_spec_example_file_lists_the_card(vectors: Path) -> None:
    card = (vectors / "shc" / "example-00-d-jws.txt").read_text().strip()
    document = json.loads((vectors / "shc" / "example-00-e-file.smart-health-card").read_text())
    assert json.loads(shc.file_body([card])) == document


def test_every_one_character_change_is_refused(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    _, card = _issue(key_store, now)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # every 7th position covers header, payload and signature, including their last characters
    positions = sorted(
        {*range(0, len(card), 7), len(card) - 1, card.index(".") - 1, card.rindex(".") - 1}
    )
    for position in positions:
        if card[position] == ".":
            continue
        changed = (
            card[:position]
            + alphabet[(alphabet.index(card[position]) + 1) % 64]
            + card[position + 1 :]
        )
        with pytest.raises(VerificationError):
            shc.verify_card(changed, trusted)


def test_a_changed_payload_is_a_bad_signature(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    _, card = _issue(key_store, now)
    header, payload, signature = card.split(".")
    claims = json.loads(zlib.decompress(b64url_decode(payload), -15))
    claims["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]["birthDate"] = (
        "1999-12-31"
    )
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    forged = b64url_encode(compressor.compress(json.dumps(claims).encode()) + compressor.flush())
    assert (
        _reason(lambda: shc.verify_card(f"{header}.{forged}.{signature}", trusted))
        is VerificationFailure.BAD_SIGNATURE
    )


def test_unknown_kid_is_refused(key_store: KeyStore, vectors: Path, now: dt.datetime) -> None:
    _, card = _issue(key_store, now)
    spec_keys = shc.load_jwks(json.loads((vectors / "shc" / "issuer-jwks.json").read_text()))
    assert _reason(lambda: shc.verify_card(card, spec_keys)) is VerificationFailure.UNKNOWN_KEY


def test_wrong_issuer_is_refused(key_store: KeyStore, trusted: dict, now: dt.datetime) -> None:
    _, card = _issue(key_store, now)
    assert (
        _reason(
            lambda: shc.verify_card(card, trusted, expected_issuer="https://other.example/issuer")
        )
        is VerificationFailure.WRONG_ISSUER
    )


def test_revoked_rid_is_refused(key_store: KeyStore, trusted: dict, now: dt.datetime) -> None:
    content, card = _issue(key_store, now)
    kid = key_store.shc_signing_key.kid
    crl = shc.RevocationList(kid=kid, ctr=1, rids={content.certificate_id: None})
    assert (
        _reason(lambda: shc.verify_card(card, trusted, revocation_lists={kid: crl}))
        is VerificationFailure.REVOKED
    )
    other = shc.RevocationList(kid=kid, ctr=1, rids={"SOMEOTHERID1": None})
    assert (
        shc.verify_card(card, trusted, revocation_lists={kid: other}).rid == content.certificate_id
    )


def test_timestamped_revocation_applies_only_to_cards_issued_before_it(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    content, card = _issue(key_store, now)
    kid = key_store.shc_signing_key.kid
    after = int(now.timestamp()) + 60
    document = {
        "kid": kid,
        "method": "rid",
        "ctr": 2,
        "rids": [f"{content.certificate_id}.{after}"],
    }
    crl = shc.RevocationList.from_document(document)
    assert crl.to_document() == document
    assert (
        _reason(lambda: shc.verify_card(card, trusted, revocation_lists={kid: crl}))
        is VerificationFailure.REVOKED
    )
    before = shc.RevocationList(
        kid=kid, ctr=2, rids={content.certificate_id: int(now.timestamp()) - 60}
    )
    assert (
        shc.verify_card(card, trusted, revocation_lists={kid: before}).rid == content.certificate_id
    )


def test_cards_of_a_retired_key_still_verify_after_rotation(
    tmp_path: Path, now: dt.datetime
) -> None:
    store = KeyStore.init(tmp_path / "keys", "pass")
    content = example_content(4)
    old_card = shc.issue_card(content, store.shc_signing_key, ISSUER_URL, now)
    rotated = KeyStore.rotate(tmp_path / "keys", "pass", "shc")
    new_card = shc.issue_card(content, rotated.shc_signing_key, ISSUER_URL, now)
    keys = shc.load_jwks(rotated.jwks())
    assert shc.verify_card(old_card, keys).kid == store.shc_signing_key.kid
    assert shc.verify_card(new_card, keys).kid == rotated.shc_signing_key.kid
    with pytest.raises(ValueError, match="retired"):
        shc.issue_card(content, rotated.shc_keys[0], ISSUER_URL, now)


def test_japans_deprecated_types_are_accepted(
    key_store: KeyStore, trusted: dict, now: dt.datetime
) -> None:
    claims = shc.card_claims(example_content(2), ISSUER_URL, now)
    claims["vc"]["type"] = [
        "https://smarthealth.cards#immunization",
        "https://smarthealth.cards#covid19",
    ]
    accepted = shc.verify_card(shc.sign_card(claims, key_store.shc_signing_key), trusted)
    assert accepted.claims["vc"]["type"] == claims["vc"]["type"]
    claims["vc"]["type"] = ["https://example.org#something-else"]
    card = shc.sign_card(claims, key_store.shc_signing_key)
    assert _reason(lambda: shc.verify_card(card, trusted)) is VerificationFailure.MALFORMED


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", VerificationFailure.MALFORMED),
        ("not a jws", VerificationFailure.MALFORMED),
        ("shc:/123", VerificationFailure.MALFORMED),
        ("shc:/99", VerificationFailure.MALFORMED),
        ("shc:/1/2/5676", VerificationFailure.UNSUPPORTED),
        ("a.b", VerificationFailure.MALFORMED),
        ("eyJhbGciOiJub25lIn0.e30.", VerificationFailure.MALFORMED),
    ],
)
def test_garbage_is_malformed_not_a_crash(
    trusted: dict, text: str, reason: VerificationFailure
) -> None:
    assert _reason(lambda: shc.verify_card(text, trusted)) is reason


def test_unsupported_algorithm_is_named(trusted: dict) -> None:
    header = b64url_encode(json.dumps({"alg": "HS256", "zip": "DEF", "kid": "x"}).encode())
    assert (
        _reason(lambda: shc.verify_card(f"{header}.AAAA.AAAA", trusted))
        is VerificationFailure.UNSUPPORTED
    )


def test_qr_code_of_issued_cards_fits_version_22(key_store: KeyStore, now: dt.datetime) -> None:
    for kind in ("domestic", "overseas"):
        _, card = _issue(key_store, now, kind)
        assert shc_symbol(shc.to_qr_text(card)).version <= SHC_MAX_VERSION


def test_a_card_too_large_for_one_qr_code_is_refused(key_store: KeyStore, now: dt.datetime) -> None:
    content = example_content(0)
    # random lots, so that DEFLATE cannot shrink them back under the limit
    doses = tuple(dataclasses.replace(d, lot=secrets.token_urlsafe(300)) for d in content.doses)
    big = dataclasses.replace(content, doses=doses)
    with pytest.raises(ValueError, match="more than one QR"):
        shc.to_qr_text(shc.issue_card(big, key_store.shc_signing_key, ISSUER_URL, now))
