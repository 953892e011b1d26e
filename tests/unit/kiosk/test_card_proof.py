"""The card-authentication proof: its JSON, and the server's verification of it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from common.card_proof import (
    Basic4,
    CardChallenge,
    CardProof,
    CardProofFormatError,
    ProofRefused,
    verify_proof,
)
from kiosk.card.demo_cards import DemoCard, JlisTestCa
from kiosk.card.mynumber import MyNumberCard
from kiosk.card.reader import InProcessReader

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
CHALLENGE = bytes(range(32))


def card_proof(demo_card: DemoCard, challenge: bytes = CHALLENGE) -> CardProof:
    """The proof as the kiosk makes it: the routine over the emulated card."""
    with MyNumberCard(InProcessReader(demo_card.emulator())) as card:
        return card.prove(demo_card.pin, challenge)


def signed_by_hand(
    demo_card: DemoCard, certificate_der: bytes, challenge: bytes = CHALLENGE
) -> CardProof:
    signature = demo_card.auth_key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
    return CardProof(certificate_der, signature, demo_card.my_number, demo_card.resident.basic4)


@pytest.fixture
def current_crl(jlis_ca: JlisTestCa) -> x509.CertificateRevocationList:
    return jlis_ca.crl(this_update=NOW - timedelta(hours=1))


# --- verification ---------------------------------------------------------------------


def refusal(
    proof: CardProof,
    ca: JlisTestCa,
    crl: x509.CertificateRevocationList | list[x509.CertificateRevocationList],
    now: datetime = NOW,
) -> str:
    """The reason verify_proof gives for refusing ``proof`` (it must refuse)."""
    with pytest.raises(ProofRefused) as refused:
        verify_proof(proof, CHALLENGE, [ca.certificate], crl, now)
    return refused.value.reason


def test_a_valid_proof_yields_the_certificate_fingerprint(
    demo_card: DemoCard, jlis_ca: JlisTestCa, current_crl: x509.CertificateRevocationList
) -> None:
    fingerprint = verify_proof(
        card_proof(demo_card), CHALLENGE, [jlis_ca.certificate], current_crl, NOW
    )
    assert fingerprint == demo_card.certificate_fingerprint


def test_a_signature_over_another_challenge_is_refused(
    demo_card: DemoCard, jlis_ca: JlisTestCa, current_crl: x509.CertificateRevocationList
) -> None:
    replayed = card_proof(demo_card, challenge=b"an older challenge, replayed....")
    assert refusal(replayed, jlis_ca, current_crl) == "bad_signature"


def test_a_forged_signature_is_refused(
    demo_card: DemoCard,
    second_demo_card: DemoCard,
    jlis_ca: JlisTestCa,
    current_crl: x509.CertificateRevocationList,
) -> None:
    # Someone else's card signs, but the proof shows this card's certificate.
    forged = signed_by_hand(second_demo_card, demo_card.auth_certificate_der)
    assert refusal(forged, jlis_ca, current_crl) == "bad_signature"
    flipped = bytearray(card_proof(demo_card).signature)
    flipped[100] ^= 0x01
    tampered = CardProof(
        demo_card.auth_certificate_der,
        bytes(flipped),
        demo_card.my_number,
        demo_card.resident.basic4,
    )
    assert refusal(tampered, jlis_ca, current_crl) == "bad_signature"


def test_a_certificate_from_an_untrusted_ca_is_refused(
    demo_card: DemoCard,
    jlis_ca: JlisTestCa,
    other_ca: JlisTestCa,
    current_crl: x509.CertificateRevocationList,
) -> None:
    foreign = other_ca.issue_auth_certificate(demo_card.auth_key.public_key())
    proof = signed_by_hand(demo_card, foreign.public_bytes(Encoding.DER))
    assert refusal(proof, jlis_ca, current_crl) == "unknown_ca"


def test_a_ca_with_the_trusted_name_but_another_key_is_refused(
    demo_card: DemoCard,
    jlis_ca: JlisTestCa,
    other_ca: JlisTestCa,
    current_crl: x509.CertificateRevocationList,
) -> None:
    impostor = JlisTestCa(other_ca.key, jlis_ca.certificate)  # signs under J-LIS's name
    certificate = impostor.issue_auth_certificate(demo_card.auth_key.public_key())
    proof = signed_by_hand(demo_card, certificate.public_bytes(Encoding.DER))
    assert refusal(proof, jlis_ca, current_crl) == "unknown_ca"


def test_a_revoked_certificate_is_refused(
    demo_card: DemoCard, second_demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    crl = jlis_ca.crl([second_demo_card.auth_certificate], this_update=NOW - timedelta(hours=1))
    assert refusal(card_proof(second_demo_card), jlis_ca, crl) == "revoked"
    # The same list leaves other cards alone.
    assert verify_proof(card_proof(demo_card), CHALLENGE, [jlis_ca.certificate], crl, NOW)


def test_an_expired_certificate_is_refused(
    expired_demo_card: DemoCard, jlis_ca: JlisTestCa, current_crl: x509.CertificateRevocationList
) -> None:
    assert refusal(card_proof(expired_demo_card), jlis_ca, current_crl) == "expired"


def test_a_certificate_before_its_validity_is_refused(
    demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    early = datetime(2024, 3, 1, tzinfo=UTC)  # the demo cards are valid from April 2024
    crl = jlis_ca.crl(this_update=early - timedelta(hours=1))
    assert refusal(card_proof(demo_card), jlis_ca, crl, now=early) == "not_yet_valid"


@pytest.mark.parametrize("problem", ["stale", "wrong issuer", "none"])
def test_without_a_current_crl_from_the_ca_the_proof_is_refused(
    demo_card: DemoCard, jlis_ca: JlisTestCa, other_ca: JlisTestCa, problem: str
) -> None:
    crls = {
        "stale": [jlis_ca.crl(this_update=NOW - timedelta(days=3))],  # next update was 2 days ago
        "wrong issuer": [other_ca.crl(this_update=NOW - timedelta(hours=1))],
        "none": [],
    }[problem]
    assert refusal(card_proof(demo_card), jlis_ca, crls) == "revocation_unknown"


def test_a_ca_certificate_as_auth_certificate_is_refused(
    demo_card: DemoCard, jlis_ca: JlisTestCa, current_crl: x509.CertificateRevocationList
) -> None:
    proof = CardProof(
        jlis_ca.certificate_der, b"\x00" * 256, demo_card.my_number, demo_card.resident.basic4
    )
    assert refusal(proof, jlis_ca, current_crl) == "not_auth_certificate"


def test_a_certificate_that_does_not_parse_is_malformed(
    demo_card: DemoCard, jlis_ca: JlisTestCa, current_crl: x509.CertificateRevocationList
) -> None:
    proof = CardProof(
        b"\x30\x82\x00\x01\x00", b"\x01", demo_card.my_number, demo_card.resident.basic4
    )
    assert refusal(proof, jlis_ca, current_crl) == "malformed"


# --- JSON -------------------------------------------------------------------------------


def test_proof_json_round_trips(demo_card: DemoCard) -> None:
    proof = card_proof(demo_card)
    text = proof.to_json()
    assert CardProof.from_json(text) == proof
    body = json.loads(text)
    assert base64.b64decode(body["auth_certificate"]) == demo_card.auth_certificate_der
    assert body["basic4"]["birth_date"] == demo_card.resident.basic4.birth_date.isoformat()
    assert demo_card.my_number not in repr(proof)


def _proof_body(demo_card: DemoCard) -> dict[str, Any]:
    return card_proof(demo_card).to_dict()


@pytest.mark.parametrize(
    ("change", "key", "field"),
    [
        (lambda body: body.pop("signature"), "proof.missing_field", "signature"),
        (lambda body: body.pop("basic4"), "proof.missing_field", "basic4"),
        (lambda body: body["basic4"].pop("address"), "proof.missing_field", "basic4.address"),
        (
            lambda body: body.update(auth_certificate="not base64!"),
            "proof.bad_base64",
            "auth_certificate",
        ),
        (lambda body: body.update(signature="QUJD="), "proof.bad_base64", "signature"),
        (
            lambda body: body.update(my_number="123456789010"),
            "id.my_number_check_digit",
            "my_number",
        ),
        (lambda body: body.update(my_number="12345"), "id.wrong_length", "my_number"),
        (lambda body: body.update(my_number=123456789018), "proof.wrong_type", "my_number"),
        (
            lambda body: body["basic4"].update(birth_date="1985/04/01"),
            "proof.bad_date",
            "basic4.birth_date",
        ),
        (lambda body: body["basic4"].update(sex="M"), "proof.bad_sex", "basic4.sex"),
        (lambda body: body.update(basic4="name"), "proof.wrong_type", "basic4"),
    ],
)
def test_malformed_proof_json_names_the_problem(
    demo_card: DemoCard, change: Callable[[dict[str, Any]], object], key: str, field: str
) -> None:
    body = _proof_body(demo_card)
    change(body)
    with pytest.raises(CardProofFormatError) as refused:
        CardProof.from_json(json.dumps(body))
    assert (refused.value.key, refused.value.field) == (key, field)


@pytest.mark.parametrize("text", ["{", "[]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_refused(text: str | bytes) -> None:
    with pytest.raises(CardProofFormatError) as refused:
        CardProof.from_json(text)
    assert refused.value.key in {"proof.not_json", "proof.wrong_type"}


def test_challenge_json_round_trips() -> None:
    challenge = CardChallenge.new("session-1", NOW, timedelta(minutes=5))
    parsed = CardChallenge.from_json(challenge.to_json())
    assert parsed == challenge
    assert "=" not in challenge.to_dict()["challenge"]  # base64url, unpadded
    assert not parsed.is_expired(NOW) and parsed.is_expired(NOW + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        ({"challenge": "AAAA", "expires_at": NOW.isoformat()}, "proof.missing_field", "session_id"),
        (
            {"session_id": "s", "challenge": "AA+A" * 8, "expires_at": NOW.isoformat()},
            "proof.bad_base64",
            "challenge",
        ),
        (
            {"session_id": "s", "challenge": "AAAA", "expires_at": NOW.isoformat()},
            "proof.challenge_length",
            "challenge",
        ),
        (
            {"session_id": "s", "challenge": "A" * 43, "expires_at": "2026-06-01T09:30"},
            "proof.bad_date",
            "expires_at",
        ),
        (
            {"session_id": "s", "challenge": "A" * 43, "expires_at": "tomorrow"},
            "proof.bad_date",
            "expires_at",
        ),
    ],
)
def test_malformed_challenge_names_the_problem(body: dict[str, str], key: str, field: str) -> None:
    with pytest.raises(CardProofFormatError) as refused:
        CardChallenge.from_dict(body)
    assert (refused.value.key, refused.value.field) == (key, field)


def test_basic4_refuses_an_unknown_sex_code() -> None:
    with pytest.raises(CardProofFormatError):
        Basic4("接種 太郎", "東京都", date(1985, 4, 1), "0")
