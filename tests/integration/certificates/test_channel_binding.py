"""Channel binding (issue 12): a kiosk credential obeys kiosk rules, a challenge its opener."""

from __future__ import annotations

from db.cards.queries import create_app_client
from db.engine import current_connection, owner_transaction
from tests.integration.certificates.test_card_sessions import _challenge, _proof


async def certificates_issued() -> int:
    async with owner_transaction():
        count: int = await current_connection().fetchval(
            "SELECT count(*) FROM certificate_issuance"
        )
    return count


async def test_a_kiosk_credential_cannot_use_the_app_proof_endpoint(
    client,
    app_headers,  # noqa: F811 - the imported fixture
    signing_ready,
) -> None:
    async with owner_transaction():
        kiosk = {"Authorization": f"Bearer {await create_app_client('kiosk-1', 'kiosk')}"}
    card = signing_ready[0]
    session, challenge = await _challenge(client, kiosk)
    response = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=_proof(card, challenge), headers=kiosk
    )
    assert response.status_code == 403
    assert response.json()["code"] == "card_session.wrong_channel"
    assert await certificates_issued() == 0


async def test_a_challenge_is_answered_only_by_the_client_that_opened_it(
    client,
    app_headers,  # noqa: F811 - the imported fixture
    signing_ready,
) -> None:
    async with owner_transaction():
        other = {"Authorization": f"Bearer {await create_app_client('other-app')}"}
    card = signing_ready[0]
    session, challenge = await _challenge(client, app_headers)
    stolen = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=_proof(card, challenge), headers=other
    )
    assert stolen.status_code in (403, 404)
    assert stolen.json()["code"] == "card_proof.challenge_unknown"
    assert await certificates_issued() == 0
    # The opener's challenge was not used up by the other client's attempt.
    own = await client.post(
        f"/api/v1/card-sessions/{session}/proof", json=_proof(card, challenge), headers=app_headers
    )
    assert own.status_code == 200, own.text
