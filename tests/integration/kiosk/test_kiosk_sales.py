"""Kiosk sales on the server: the resident chooses municipalities, sees each name on record
and why others are not offered; a failed sale voids its certificates and is recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

from db.engine import current_connection, owner_transaction
from tests.integration.kiosk.test_kiosk_demo_and_maintenance import (  # noqa: F401  (fixture)
    kiosk_http,
)
from tests.integration.kiosk.test_kiosk_server_channel import (  # noqa: F401  (the fixture)
    _prove,
    kiosk_server_settings,
    register_card_holders,
    server_ready,
)

NOTICE = {"store_id": "store-1", "terminal_id": "3"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _issuances() -> list[dict[str, Any]]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT certificate_id, municipality_code, revoked_at, revocation_reason"
            " FROM certificate_issuance ORDER BY municipality_code"
        )
    return [dict(r) for r in rows]


async def test_the_preview_names_each_record_and_why_others_are_not_offered(
    client, settings
) -> None:
    from db.tenancy.queries import TermsAgreed, save_terms
    from tests.factories import vault

    cards = server_ready(settings)
    token = await register_card_holders(cards)
    card = cards[0]  # held by 千代田区 and 新宿区
    async with owner_transaction():
        await save_terms("131041", TermsAgreed(kiosk_issuance=False), None)
    answer = (await _prove(client, token, card, "kiosk-preview")).json()
    assert [(m["municipality_code"], m["record_name"]) for m in answer["municipalities"]] == [
        ("131016", card.resident.basic4.name)
    ]
    # Before: 新宿区 was dropped from the fee screen without a word.
    assert [(m["municipality_name"], m["reason"]) for m in answer["not_offered"]] == [
        ("新宿区", "not_taking_part")
    ]
    # A record with another birth date is not offered either; the resident is told whom to ask.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET birth_date = '1950-01-01' WHERE municipality_code = '131016'"
            " AND my_number_hmac = $1",
            vault().lookup_hash(card.my_number),
        )
    answer = (await _prove(client, token, card, "kiosk-preview")).json()
    assert answer["municipalities"] == []
    assert {(m["municipality_code"], m["reason"]) for m in answer["not_offered"]} == {
        ("131016", "identity_mismatch"),
        ("131041", "not_taking_part"),
    }
    refused = await _prove(client, token, card, "kiosk-issue", kind="domestic")
    assert refused.status_code == 403
    assert await _issuances() == []


async def test_the_resident_buys_only_the_municipalities_chosen(client, settings) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    issued = await _prove(
        client, token, cards[0], "kiosk-issue", kind="domestic", municipalities=["131041"]
    )
    assert issued.status_code == 200, issued.text
    assert [c["municipality_code"] for c in issued.json()["certificates"]] == ["131041"]
    assert [r["municipality_code"] for r in await _issuances()] == ["131041"]


async def test_a_failed_sale_voids_its_certificates_and_is_recorded(client, settings) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    issued = await _prove(client, token, cards[0], "kiosk-issue", kind="domestic")
    ids = [c["certificate_id"] for c in issued.json()["certificates"]]
    assert len(ids) == 2
    notice = {
        **NOTICE,
        "notice_id": "20261201120000-failed",
        "failed_at": dt.datetime.now(dt.UTC).isoformat(),
        "reason": "print_failed",
        "certificate_ids": ids,
    }
    answer = await client.post("/api/v1/kiosk/failures", json=notice, headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["recorded"]) == sorted(ids)
    # Before: a refunded sale left its certificates valid and no result recorded.
    rows = await _issuances()
    assert all(r["revoked_at"] is not None for r in rows)
    assert {r["revocation_reason"] for r in rows} == {"未交付（キオスク: print_failed）"}
    again = await client.post("/api/v1/kiosk/failures", json=notice, headers=_bearer(token))
    assert sorted(again.json()["already"]) == sorted(ids)
    async with owner_transaction():
        failures = await current_connection().fetch(
            "SELECT municipality_code, reason FROM kiosk_failure ORDER BY municipality_code"
        )
        audits = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'certificate.kiosk_failed'"
        )
    assert [tuple(r) for r in failures] == [("131016", "print_failed"), ("131041", "print_failed")]
    assert audits == 2
    # The revocation is public: the CRL lists them.
    crl_key = (await client.get("/issuer/.well-known/jwks.json")).json()["keys"][0]["kid"]
    crl = (await client.get(f"/issuer/.well-known/crl/{crl_key}.json")).json()
    assert len(crl["rids"]) == 2


async def test_a_printed_certificate_is_not_voided_and_others_kiosks_ids_are_refused(
    client, settings
) -> None:
    from db.cards.queries import create_app_client

    cards = server_ready(settings)
    token = await register_card_holders(cards)
    issued = await _prove(client, token, cards[1], "kiosk-issue", kind="domestic")
    (certificate_id,) = [c["certificate_id"] for c in issued.json()["certificates"]]
    now = dt.datetime.now(dt.UTC).isoformat()
    done = {**NOTICE, "notice_id": "n-printed", "completed_at": now,
            "certificate_ids": [certificate_id]}  # fmt: skip
    assert (
        await client.post("/api/v1/kiosk/completions", json=done, headers=_bearer(token))
    ).status_code == 200
    failure = {**NOTICE, "notice_id": "n-failed", "failed_at": now, "reason": "refunded",
               "certificate_ids": [certificate_id]}  # fmt: skip
    answer = await client.post("/api/v1/kiosk/failures", json=failure, headers=_bearer(token))
    assert answer.json()["completed"] == [certificate_id]
    assert (await _issuances())[0]["revoked_at"] is None
    async with owner_transaction():
        other = await create_app_client("kiosk-store-2", kind="kiosk")
    stranger = await client.post(
        "/api/v1/kiosk/failures",
        json={**failure, "notice_id": "n-other"},
        headers=_bearer(other),
    )
    assert stranger.status_code == 422
    assert stranger.json()["code"] == "kiosk_report.certificate_unknown"
    bad = await client.post(
        "/api/v1/kiosk/failures", json={**failure, "reason": "x"}, headers=_bearer(token)
    )
    assert bad.status_code == 422 and bad.json()["code"] == "kiosk_report.reason_invalid"


async def test_the_kiosk_screens_let_the_resident_choose_and_a_refund_voids(
    kiosk_http,  # noqa: F811  (the fixture)
) -> None:
    from db.tenancy.queries import TermsAgreed, save_terms
    from tests.integration.kiosk.test_kiosk_server_channel import screen_name

    browser, kiosk_app, _ = kiosk_http
    flow = kiosk_app.state.flow
    card = kiosk_app.state.demo_cards[0]  # held by 千代田区 and 新宿区
    async with owner_transaction():
        await save_terms("131041", TermsAgreed(kiosk_issuance=False), None)
    await browser.press("/start")
    page = await browser.press("/demo/place", card="0")
    assert screen_name(page) == "pin"
    page = await browser.press("/pin", pin=card.pin)
    page = await browser.press("/type", kind="domestic")
    assert screen_name(page) == "fee"
    # Before: 新宿区 vanished without a word and the name on record was never shown.
    assert page.count('data-testid="fee-line"') == 1
    assert f"記録上の氏名：{card.resident.basic4.name}" in page
    assert 'data-testid="not-offered-line" data-municipality="131041"' in page
    assert 'data-reason="not_taking_part"' in page and "新宿区：キオスク" in page
    page = await browser.press("/choose", municipality="131016")  # not buying after all
    assert 'data-yen="0"' in page
    page = await browser.press("/pay")
    assert 'data-reason="kiosk.none_chosen"' in page
    page = await browser.press("/choose", municipality="131016")
    assert 'data-yen="120"' in page
    flow.printer.fail_next = 2
    page = await browser.press("/pay")
    assert screen_name(page) == "print_failed"
    page = await browser.press("/refund")
    assert screen_name(page) == "refunded"
    rows = await _issuances()
    assert [(r["municipality_code"], r["revocation_reason"]) for r in rows] == [
        ("131016", "未交付（キオスク: print_failed）")
    ]
