"""The app channel: card challenge, proof, one certificate per municipality, every refusal."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from common.card_proof import Basic4
from db.cards.queries import link_certificate
from db.engine import current_connection, owner_transaction
from kiosk.card.demo_cards import (
    DemoResident,
    issue_demo_card,
    load_test_ca,
)
from signing import shc
from tests.factories import valid_my_number, vault
from web.signing_context import card_trust_directory


async def _challenge(client, headers) -> tuple[str, bytes]:
    response = await client.post("/api/v1/card-sessions", headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    raw = body["challenge"]
    return body["session_id"], base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def _proof(card, challenge: bytes, **overrides) -> dict:
    signature = card.auth_key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
    proof = {
        "auth_certificate": base64.b64encode(card.auth_certificate_der).decode(),
        "signature": base64.b64encode(signature).decode(),
        "my_number": card.my_number,
        "basic4": card.resident.basic4.to_dict(),
    }
    return {**proof, **overrides}


async def _refusal(client, headers, card, code: str, **overrides) -> None:
    session, challenge = await _challenge(client, headers)
    response = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json=_proof(card, challenge, **overrides),
        headers=headers,
    )
    assert response.status_code in (403, 404, 422), response.text
    assert response.json()["code"] == code, response.text


async def test_a_proven_card_gets_one_certificate_per_municipality_and_changes_no_record(
    client, app_headers, signing_ready, settings
) -> None:
    card = signing_ready[0]  # registered in 千代田区 and 新宿区
    async with owner_transaction():
        before = [
            dict(r) for r in await current_connection().fetch("SELECT * FROM resident ORDER BY id")
        ]
    session, challenge = await _challenge(client, app_headers)
    # Another name and address than the record's (a marriage, a move); the same birth date.
    other_facts = Basic4(
        "別人 名前", "北海道札幌市中央区北1条西2丁目", card.resident.basic4.birth_date, "2"
    ).to_dict()
    response = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json=_proof(card, challenge, basic4=other_facts),
        headers=app_headers,
    )
    assert response.status_code == 200, response.text
    certificates = response.json()["certificates"]
    assert [c["municipality_code"] for c in certificates] == ["131016", "131041"]
    from web.signing_context import load_signing_context

    context = load_signing_context(settings)
    keys = context.our_jwks_keys()
    for certificate in certificates:
        verified = shc.verify_card(certificate["shc_jws"], keys)
        assert verified.rid == context.keys.shc_rid(certificate["certificate_id"])
        assert base64.b64decode(certificate["pdf_base64"]).startswith(b"%PDF")
    async with owner_transaction():
        after = [
            dict(r) for r in await current_connection().fetch("SELECT * FROM resident ORDER BY id")
        ]
        issuances = await current_connection().fetch(
            "SELECT municipality_code, channel FROM certificate_issuance ORDER BY municipality_code"
        )
        audits = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'certificate.issue'"
        )
    assert before == after  # 確認事項 第9条3: what the app sent updated nothing
    assert [(r["municipality_code"], r["channel"]) for r in issuances] == [
        ("131016", "app"),
        ("131041", "app"),
    ]
    assert audits == 2

    # The same challenge again is a replay.
    replay = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=_proof(card, challenge), headers=app_headers
    )
    assert replay.json()["code"] == "card_proof.challenge_replayed"


async def test_every_refusal_is_specific(
    client, app_headers, signing_ready, settings, tmp_path
) -> None:
    card = signing_ready[1]
    keys = settings.data_dir / "demo-cards"
    ca = load_test_ca(keys)

    other_ca = load_test_ca(keys, "other-ca")
    await _refusal(
        client, app_headers, issue_demo_card(other_ca, card.resident, keys), "card_proof.unknown_ca"
    )

    expired = issue_demo_card(
        ca, card.resident, keys,
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    await _refusal(client, app_headers, expired, "card_proof.expired")

    session, challenge = await _challenge(client, app_headers)
    forged = _proof(card, b"another challenge entirely, 32 b")
    response = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=forged, headers=app_headers
    )
    assert response.json()["code"] == "card_proof.bad_signature"

    session, challenge = await _challenge(client, app_headers)
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE card_session SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
            session,
        )
    late = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=_proof(card, challenge), headers=app_headers
    )
    assert late.json()["code"] == "card_proof.challenge_expired"
    unknown = await client.post(
        "/api/v1/card-sessions/00000000-0000-0000-0000-000000000000/proof",
        json=_proof(card, challenge),
        headers=app_headers,
    )
    assert unknown.json()["code"] == "card_proof.challenge_unknown"

    # A card of the same person that J-LIS has not linked; a card linked to another number.
    unlinked = issue_demo_card(ca, card.resident, keys, key_name="second-card")
    await _refusal(client, app_headers, unlinked, "card_proof.not_linked")
    await _refusal(
        client, app_headers, card, "card_proof.not_linked", my_number=signing_ready[2].my_number
    )

    # Linked, but nobody with this My Number has records.
    stranger = DemoResident(valid_my_number(4242), card.resident.basic4)
    stranger_card = issue_demo_card(ca, stranger, keys)
    async with owner_transaction():
        await link_certificate(
            stranger_card.certificate_fingerprint, vault().lookup_hash(stranger.my_number)
        )
    await _refusal(client, app_headers, stranger_card, "card_proof.no_records")

    # Overseas needs passport data in the issuance history first (or sent by the app).
    await _refusal(client, app_headers, card, "card_proof.no_passport_data_in", kind="overseas")

    # Revoked by J-LIS: the CRL lists the card's certificate.
    now = dt.datetime.now(dt.UTC)
    crl = ca.crl([card.auth_certificate], this_update=now - dt.timedelta(minutes=1))
    (card_trust_directory(settings) / "jlis-test-ca.crl").write_bytes(
        crl.public_bytes(serialization.Encoding.DER)
    )
    await _refusal(client, app_headers, card, "card_proof.revoked")
    (card_trust_directory(settings) / "jlis-test-ca.crl").unlink()
    await _refusal(client, app_headers, card, "card_proof.revocation_unknown")

    # Malformed bodies: specific 422s, never 500.
    session, challenge = await _challenge(client, app_headers)
    for body, code in (
        ({"signature": "x"}, "proof.missing_field"),
        ({**_proof(card, challenge), "my_number": "123"}, "id.wrong_length"),
        ({**_proof(card, challenge), "auth_certificate": "!!"}, "proof.bad_base64"),
    ):
        response = await client.post(
            f"/api/v1/card-sessions/{session}/proof", json=body, headers=app_headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"].startswith(code.split(".")[0]), response.text


async def test_only_registered_app_clients_may_ask(client, app_headers) -> None:
    assert (await client.post("/api/v1/card-sessions")).status_code in (401, 403)
    wrong = await client.post("/api/v1/card-sessions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "card_session.client_unknown"
