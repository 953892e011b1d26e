"""One issuance service for counter, API, app and kiosk: sign outside any transaction,
idempotent on one key (never answering a revoked certificate), clock injected, the
card holder's identity compared per municipality, the overseas rule per municipality."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

import asyncpg
import pytest

import web.certificate_issuing
from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, create_municipality, create_resident, create_vaccination
from tests.integration.certificates.test_card_sessions import _challenge, _proof

OVERSEAS = {
    "passport_number": "TK7654321",
    "nationality": "JPN",
    "family_name_roman": "SATO",
    "given_name_roman": "HANAKO",
}


@pytest.fixture
def transactions_seen_while_signing(monkeypatch, database) -> list[int]:
    """Wrap the signer: while it signs, count this database's connections left in a
    transaction (the request's own pooled connection would be one of them)."""
    seen: list[int] = []
    real = web.certificate_issuing.issue_certificate

    async def open_transactions() -> int:
        connection = await asyncpg.connect(database)
        try:
            return await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()

    def observing(*args: Any, **kwargs: Any) -> Any:
        seen.append(asyncio.run(open_transactions()))
        return real(*args, **kwargs)

    monkeypatch.setattr(web.certificate_issuing, "issue_certificate", observing)
    return seen


async def _app(client, headers, card, **body) -> Any:
    session, challenge = await _challenge(client, headers)
    return await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json={**_proof(card, challenge), **body},
        headers=headers,
    )


async def test_the_app_channel_signs_outside_any_transaction(
    client, app_headers, signing_ready, transactions_seen_while_signing
) -> None:
    response = await _app(client, app_headers, signing_ready[0])
    assert response.status_code == 200, response.text
    assert len(response.json()["certificates"]) == 2
    # Before: the app and kiosk signed inside an open tenant transaction ([1, 1]).
    assert transactions_seen_while_signing == [0, 0]


async def test_the_counter_api_signs_outside_any_transaction(
    client, signing_ready, transactions_seen_while_signing
) -> None:
    headers = await _bearer()
    person = await create_resident("131016")
    await create_vaccination(person)
    response = await client.post(
        "/api/v1/certificates",
        json={"resident_id": str(person["id"]), "kind": "domestic"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert transactions_seen_while_signing == [0]


async def _bearer() -> dict[str, str]:
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "batch")
    return {"Authorization": f"Bearer {token}"}


async def test_an_idempotent_retry_after_revocation_is_410_never_the_revoked_pdf(
    client, signing_ready
) -> None:
    from db.certificates.queries import revoke_certificates_for_vaccination
    from db.engine import tenant_transaction

    headers = {**await _bearer(), "Idempotency-Key": "batch-revoked-1"}
    person = await create_resident("131016")
    dose = await create_vaccination(person)
    body = {"resident_id": str(person["id"]), "kind": "domestic"}
    first = await client.post("/api/v1/certificates", json=body, headers=headers)
    assert first.status_code == 201, first.text
    certificate_id = first.headers["x-certificate-id"]
    state = (await client.get(f"/api/v1/certificates/{certificate_id}", headers=headers)).json()
    assert state["revoked"] is False and state["revoked_at"] is None

    async with tenant_transaction("131016"):
        await revoke_certificates_for_vaccination(dose, "ロット番号の訂正")
    again = await client.post("/api/v1/certificates", json=body, headers=headers)
    assert again.status_code == 410, again.text
    assert again.json()["code"] == "certificate.idempotency_key_revoked"
    assert certificate_id in again.json()["detail"] and "ロット番号の訂正" in again.json()["detail"]
    assert not again.content.startswith(b"%PDF")
    state = (await client.get(f"/api/v1/certificates/{certificate_id}", headers=headers)).json()
    assert state["revoked"] is True and state["revocation_reason"] == "ロット番号の訂正"
    assert state["revoked_at"]


async def test_the_clock_is_injected(signing_ready, settings) -> None:
    from db.accounts.principal import Principal
    from db.certificates import issuance
    from db.engine import tenant_transaction
    from web.signing_context import load_signing_context

    await create_municipality("131016")
    person = await create_resident("131016")
    await create_vaccination(person)
    login = await create_account(role=Role.CLERK)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
    principal = Principal(account, login, "clerk", Role.CLERK, "131016", "13", None)
    moment = dt.datetime(2031, 2, 3, 16, 0, tzinfo=dt.UTC)  # 2031-02-04 01:00 in Japan
    issued = await issuance.issue_for_resident(
        issuance.ResidentRequest(principal, person["id"], "domestic", None, "api", "ja"),
        web.certificate_issuing.signer(load_signing_context(settings)),
        now=lambda: moment,
    )
    async with tenant_transaction("131016"):
        stated = await current_connection().fetchval(
            "SELECT source_data -> 'content' ->> 'issued_on' FROM certificate_issuance"
            " WHERE certificate_id = $1",
            issued.certificate_id,
        )
    assert stated == "2031-02-04"


async def _set_birth_date(code: str, card, born: dt.date) -> None:
    from tests.factories import vault

    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET birth_date = $3 WHERE municipality_code = $1"
            " AND my_number_hmac = $2",
            code,
            vault().lookup_hash(card.my_number),
            born,
        )


async def test_a_record_with_another_birth_date_is_not_offered_and_names_whom_to_contact(
    client, app_headers, signing_ready
) -> None:
    card = signing_ready[0]  # held by 千代田区 and 新宿区
    await _set_birth_date("131041", card, dt.date(1950, 1, 1))
    response = await _app(client, app_headers, card)
    assert response.status_code == 200, response.text
    answer = response.json()
    # Before: 新宿区's record with another birth date was certified too.
    assert [c["municipality_code"] for c in answer["certificates"]] == ["131016"]
    assert [(m["municipality_name"], m["reason"]) for m in answer["not_issued"]] == [
        ("新宿区", "identity_mismatch")
    ]
    await _set_birth_date("131016", card, dt.date(1950, 1, 1))
    refused = await _app(client, app_headers, card)
    assert refused.status_code == 403
    assert refused.json()["code"] == "card_proof.identity_mismatch"
    assert "千代田区" in refused.json()["detail"] and "新宿区" in refused.json()["detail"]


async def test_the_overseas_rule_is_decided_per_municipality(
    client, app_headers, signing_ready
) -> None:
    card = signing_ready[0]
    # The counter of 千代田区 registered passport data; 新宿区 holds none.
    async with owner_transaction():
        await current_connection().execute(
            "INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id,"
            " kind, channel, passport_number, nationality, roman_name, source_data, issued_at)"
            " SELECT gen_random_uuid(), municipality_code, id, 'COUNTER-0001', 'overseas',"
            " 'counter', 'TK1234567', 'JPN', 'YAMADA TARO', '{}'::jsonb, now() FROM resident"
            " WHERE municipality_code = '131016' AND my_number_hmac = $1",
            __import__("tests.factories", fromlist=["vault"]).vault().lookup_hash(card.my_number),
        )
    response = await _app(client, app_headers, card, kind="overseas")
    assert response.status_code == 200, response.text
    answer = response.json()
    # Before: refused outright because 新宿区 lacks passport data.
    assert [c["municipality_code"] for c in answer["certificates"]] == ["131016"]
    assert [(m["municipality_name"], m["reason"]) for m in answer["not_issued"]] == [
        ("新宿区", "no_passport_data")
    ]
    # Choosing 新宿区 explicitly is refused naming it.
    refused = await _app(client, app_headers, card, kind="overseas", municipalities=["131041"])
    assert refused.status_code == 403
    assert refused.json()["code"] == "card_proof.no_passport_data_in"
    assert "新宿区" in refused.json()["detail"] and "千代田区" not in refused.json()["detail"]


async def test_the_app_registers_passport_data_into_the_issuance_history(
    client, app_headers, signing_ready
) -> None:
    card = signing_ready[0]
    response = await _app(client, app_headers, card, kind="overseas", passport=OVERSEAS)
    assert response.status_code == 200, response.text
    certificates = response.json()["certificates"]
    assert [c["municipality_code"] for c in certificates] == ["131016", "131041"]
    assert all(c["vdsnc"]["data"]["msg"]["pid"]["i"] == "TK7654321" for c in certificates)
    # Each municipality's history now holds it: the next overseas request needs none.
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, passport_number, channel FROM certificate_issuance"
            " ORDER BY municipality_code"
        )
    assert [tuple(r) for r in rows] == [
        ("131016", "TK7654321", "app"),
        ("131041", "TK7654321", "app"),
    ]
    again = await _app(client, app_headers, card, kind="overseas")
    assert len(again.json()["certificates"]) == 2
    bad = await _app(client, app_headers, card, kind="overseas", passport={"nationality": "J"})
    assert bad.status_code == 422 and bad.json()["code"] == "certificate.nationality_invalid"


async def test_the_resident_chooses_which_municipalities(client, app_headers, signing_ready):
    response = await _app(client, app_headers, signing_ready[0], municipalities=["131041"])
    assert response.status_code == 200, response.text
    assert [c["municipality_code"] for c in response.json()["certificates"]] == ["131041"]
    assert (
        response.json()["certificates"][0]["record_name"] == signing_ready[0].resident.basic4.name
    )
    assert base64.b64decode(response.json()["certificates"][0]["pdf_base64"]).startswith(b"%PDF")
    wrong = await _app(client, app_headers, signing_ready[0], municipalities=["999999"])
    assert wrong.status_code == 422 and wrong.json()["code"] == "card_proof.municipality_not_held"
    bad = await _app(client, app_headers, signing_ready[0], municipalities="131016")
    assert bad.status_code == 422 and bad.json()["code"] == "card_proof.municipalities_invalid"
