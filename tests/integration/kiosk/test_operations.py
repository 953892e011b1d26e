"""Kiosk operations on the server: heartbeats and faults, completion notices, the kiosk
list, and the national emergency stop of kiosk issuance, app issuance and inquiry."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, create_municipality, create_resident, sign_in
from tests.integration.kiosk.test_kiosk_server_channel import (
    _prove,
    kiosk_server_settings,  # noqa: F401  (fixture "settings": this worker's data dir)
    register_card_holders,
    server_ready,
)

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _beat(**extra: Any) -> dict[str, Any]:
    return {
        "store_id": "S-0001",
        "terminal_id": "T-2",
        "interval_seconds": 30,
        "devices": {"reader": "ok", "printer": "ok", "payment": "ok"},
        "in_service": True,
        "pending_notices": 0,
        "faults": [],
        **extra,
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _csrf(client: Any, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
async def national(make_client, app) -> Any:
    """A browser signed in as the national admin."""
    browser = await make_client()
    await sign_in(browser, await create_account("nat-ops", Role.NATIONAL_ADMIN, None))
    return browser


# --- heartbeats, faults, the kiosk list ---------------------------------------------------


async def test_heartbeats_and_faults_show_on_the_national_kiosk_page(
    client, kiosk_token, national
) -> None:
    fault = {
        "id": "f1",
        "device": "printer",
        "message": "paper jam",
        "occurred_at": NOW.isoformat(),
    }
    beat = _beat(devices={"reader": "ok", "printer": "fault", "payment": "ok"}, faults=[fault])
    first = await client.post("/api/v1/kiosk/heartbeat", json=beat, headers=_bearer(kiosk_token))
    assert first.status_code == 200, first.text
    assert first.json() == {"faults_recorded": 1, "suspension": None}
    again = await client.post("/api/v1/kiosk/heartbeat", json=beat, headers=_bearer(kiosk_token))
    assert again.json()["faults_recorded"] == 0  # a retried report records the fault once
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM kiosk_fault") == 1

    page = await national.get("/national/kiosks")
    assert page.status_code == 200
    assert 'data-state="online"' in page.text and "S-0001" in page.text and "T-2" in page.text
    assert "paper jam" in page.text and 'data-device-state="fault"' in page.text
    home = await national.get("/")
    assert "/national/kiosks" in home.text and "/national/suspensions" in home.text

    # Not heard from for longer than three intervals: offline.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE kiosk_status SET last_seen = now() - interval '91 seconds'"
        )
    page = await national.get("/national/kiosks")
    assert 'data-state="offline"' in page.text and "未接続" in page.text


async def test_a_malformed_heartbeat_is_refused_with_what_is_wrong(client, kiosk_token) -> None:
    bad_device = await client.post(
        "/api/v1/kiosk/heartbeat",
        json=_beat(devices={"toaster": "ok"}),
        headers=_bearer(kiosk_token),
    )
    assert bad_device.status_code == 422
    assert bad_device.json()["code"] == "kiosk_report.devices_invalid"
    assert "reader" in bad_device.json()["detail"]
    bad_time = await client.post(
        "/api/v1/kiosk/heartbeat",
        json=_beat(faults=[{"id": "x", "device": "reader", "occurred_at": "yesterday"}]),
        headers={**_bearer(kiosk_token), "Accept-Language": "en"},
    )
    assert bad_time.status_code == 422 and bad_time.json()["code"] == "kiosk_report.time_invalid"
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM kiosk_status") == 0


async def test_only_kiosk_clients_report(client, app) -> None:
    from db.cards.queries import create_app_client

    async with owner_transaction():
        app_token = await create_app_client("phone", kind="app")
    refused = await client.post("/api/v1/kiosk/heartbeat", json=_beat(), headers=_bearer(app_token))
    assert refused.status_code == 403 and refused.json()["code"] == "card_session.kiosk_only"
    unknown = await client.post("/api/v1/kiosk/completions", json={}, headers=_bearer("vrsapp_x"))
    assert unknown.status_code == 403 and unknown.json()["code"] == "card_session.client_unknown"


# --- completion notices ---------------------------------------------------------------------


async def test_a_completion_notice_is_recorded_once_and_shows_on_the_person_page(
    client, make_client, settings
) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    issued = await _prove(client, token, cards[1], "kiosk-issue", kind="domestic")
    assert issued.status_code == 200, issued.text
    (certificate,) = issued.json()["certificates"]
    notice = {
        "notice_id": "20261201120000-abc",
        "store_id": "S-0001",
        "terminal_id": "T-2",
        "completed_at": "2026-12-01T21:00:05+09:00",
        "certificate_ids": [certificate["certificate_id"]],
    }
    first = await client.post("/api/v1/kiosk/completions", json=notice, headers=_bearer(token))
    assert first.status_code == 200, first.text
    assert first.json() == {"recorded": [certificate["certificate_id"]], "already": []}
    second = await client.post("/api/v1/kiosk/completions", json=notice, headers=_bearer(token))
    assert second.json() == {"recorded": [], "already": [certificate["certificate_id"]]}
    async with owner_transaction():
        connection = current_connection()
        assert await connection.fetchval("SELECT count(*) FROM kiosk_completion") == 1
        resident = await connection.fetchval(
            "SELECT resident FROM certificate_issuance WHERE certificate_id = $1",
            certificate["certificate_id"],
        )
        audited = await connection.fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'certificate.kiosk_completed'"
        )
    assert audited == 1

    clerk = await make_client()
    await sign_in(clerk, await create_account("kiosk-clerk", Role.CLERK, "131016"))
    page = await clerk.get(f"/residents/{resident}")
    assert page.status_code == 200, page.text
    assert 'data-testid="kiosk-completion"' in page.text
    assert "2026-12-01 21:00" in page.text and "S-0001" in page.text and "T-2" in page.text

    # Another municipality's clerk sees nothing of it (RLS on kiosk_completion).
    await create_municipality("011002")
    await create_resident("011002")
    other = await make_client()
    await sign_in(other, await create_account("other-clerk", Role.CLERK, "011002"))
    assert (await other.get(f"/residents/{resident}")).status_code == 404


async def test_a_notice_naming_an_unknown_issuance_records_nothing(client, kiosk_token) -> None:
    response = await client.post(
        "/api/v1/kiosk/completions",
        json={
            "notice_id": "n1",
            "store_id": "S",
            "terminal_id": "T",
            "completed_at": NOW.isoformat(),
            "certificate_ids": ["NO-SUCH-CERTIFICATE"],
        },
        headers=_bearer(kiosk_token),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "kiosk_report.certificate_unknown"
    assert "NO-SUCH-CERTIFICATE" in response.json()["detail"]
    empty = await client.post(
        "/api/v1/kiosk/completions",
        json={"notice_id": "n1", "store_id": "S", "terminal_id": "T",
              "completed_at": NOW.isoformat(), "certificate_ids": []},
        headers=_bearer(kiosk_token),
    )  # fmt: skip
    assert empty.status_code == 422 and empty.json()["code"] == "kiosk_report.certificates_invalid"
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM kiosk_completion") == 0


async def test_only_the_kiosk_that_issued_a_certificate_may_confirm_its_printing(
    client, settings
) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    issued = await _prove(client, token, cards[1], "kiosk-issue", kind="domestic")
    assert issued.status_code == 200, issued.text
    (certificate,) = issued.json()["certificates"]
    notice = {
        "notice_id": "other-kiosk-1",
        "store_id": "S-9999",
        "terminal_id": "T-9",
        "completed_at": NOW.isoformat(),
        "certificate_ids": [certificate["certificate_id"]],
    }
    other = await client.post(
        "/api/v1/kiosk/completions", json=notice, headers=_bearer(await _kiosk_token())
    )
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "kiosk_report.certificate_unknown"
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM kiosk_completion") == 0
    own = await client.post("/api/v1/kiosk/completions", json=notice, headers=_bearer(token))
    assert own.status_code == 200 and own.json()["recorded"] == [certificate["certificate_id"]]


# --- the emergency stop ------------------------------------------------------------------


async def _change(national: Any, **form: str) -> Any:
    csrf = await _csrf(national, "/national/suspensions")
    return await national.post(
        "/national/suspensions", data={"_csrf_token": csrf, **form}, follow_redirects=True
    )


async def test_suspending_kiosk_issuance_refuses_the_kiosk_until_lifted(
    client, settings, national
) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    page = await _change(
        national, function="kiosk_issuance", action="suspend",
        notice_ja="システム点検のため停止中です。", notice_en="Stopped for a system check.",
    )  # fmt: skip
    assert page.status_code == 200 and 'data-testid="function-kiosk_issuance"' in page.text
    assert 'data-state="suspended"' in page.text

    refused = await _prove(client, token, cards[1], "kiosk-preview")
    assert refused.status_code == 503
    assert refused.json()["code"] == "suspension.kiosk_issuance"
    assert "システム点検のため停止中です。" in refused.json()["detail"]
    beat = await client.post("/api/v1/kiosk/heartbeat", json=_beat(), headers=_bearer(token))
    assert beat.json()["suspension"]["notice_ja"] == "システム点検のため停止中です。"
    assert beat.json()["suspension"]["notice_en"] == "Stopped for a system check."
    issue = await _prove(client, token, cards[1], "kiosk-issue", kind="domestic")
    assert issue.status_code == 503
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM certificate_issuance") == 0

    page = await _change(national, function="kiosk_issuance", action="lift")
    assert "停止を解除しました" in page.text
    assert (await _prove(client, token, cards[1], "kiosk-preview")).status_code == 200
    beat = await client.post("/api/v1/kiosk/heartbeat", json=_beat(), headers=_bearer(token))
    assert beat.json()["suspension"] is None
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT action, actor_login FROM suspension_event ORDER BY occurred_at"
        )
    assert [(r["action"], r["actor_login"]) for r in rows] == [
        ("suspend", "nat-ops"),
        ("lift", "nat-ops"),
    ]
    history = await national.get("/national/suspensions")
    assert history.text.count('data-testid="suspension-change"') == 2


async def test_suspending_app_issuance_refuses_the_app_with_the_notice(
    client, settings, national
) -> None:
    from db.cards.queries import create_app_client

    cards = server_ready(settings)
    await register_card_holders(cards)
    async with owner_transaction():
        app_token = await create_app_client("phone-app", kind="app")
    await _change(national, function="app_issuance", action="suspend", notice_ja="アプリ停止中")
    refused = await _prove(client, app_token, cards[1], "proof", kind="domestic")
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "suspension.app_issuance"
    assert "アプリ停止中" in refused.json()["detail"]
    # The kiosk is not affected by the app's suspension.
    kiosk_token = await _kiosk_token()
    assert (await _prove(client, kiosk_token, cards[1], "kiosk-preview")).status_code == 200
    await _change(national, function="app_issuance", action="lift")
    issued = await _prove(client, app_token, cards[1], "proof", kind="domestic")
    assert issued.status_code == 200, issued.text


async def _kiosk_token() -> str:
    from db.cards.queries import create_app_client

    async with owner_transaction():
        return await create_app_client("kiosk-other", kind="kiosk")


async def test_suspending_inquiry_shows_the_notice_and_refuses_single_bulk_and_api(
    make_client, national
) -> None:
    await create_municipality("131016")
    clerk = await make_client()
    await sign_in(clerk, await create_account("inq-ops", Role.CLERK, "131016"))
    await _change(
        national, function="inquiry", action="suspend",
        notice_ja="照会は12時まで停止します。", notice_en="Inquiries stop until noon.",
    )  # fmt: skip
    page = await clerk.get("/inquiries")
    assert (
        'data-testid="suspension-notice"' in page.text and "照会は12時まで停止します。" in page.text
    )
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    single = await clerk.post(
        "/inquiries/single",
        data={"_csrf_token": csrf, "my_number": "123456789018", "consent": "1",
              "consent_basis": "同意書"},
    )  # fmt: skip
    assert single.status_code == 503 and "照会は12時まで停止します。" in single.text
    bulk = await clerk.post(
        "/inquiries/bulk",
        data={"_csrf_token": csrf},
        files={"file": ("bulk.csv", "my_number,consent\n123456789018,1\n", "text/csv")},
    )
    assert bulk.status_code == 503
    api = await clerk.post(
        "/api/v1/inquiries",
        json={"my_number": "123456789018", "consent": True, "consent_basis": "x"},
        headers={"x-csrftoken": csrf, "Accept-Language": "en"},
    )
    assert api.status_code == 503 and api.json()["code"] == "suspension.inquiry"
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM inquiry") == 0

    await _change(national, function="inquiry", action="lift")
    page = await clerk.get("/inquiries")
    assert 'data-testid="suspension-notice"' not in page.text
    # Lifted: the inquiry is judged by its own rules again (the number must be one of the
    # asking municipality's residents, consent from the list with a reference).
    await create_resident("131016", my_number="123456789018")
    single = await clerk.post(
        "/inquiries/single",
        data={"_csrf_token": csrf, "my_number": "123456789018", "consent": "1",
              "consent_basis": "written", "consent_reference": "同意書 2026-01"},
    )  # fmt: skip
    assert single.status_code == 200


async def test_a_suspension_needs_a_notice_and_history_cannot_be_rewritten(national) -> None:
    page = await _change(national, function="inquiry", action="suspend", notice_ja="  ")
    assert page.status_code == 422 and "お知らせ（日本語）を入力してください" in page.text
    page = await _change(national, function="inquiry", action="lift")
    assert page.status_code == 422 and "停止されていません" in page.text
    page = await _change(national, function="payroll", action="suspend", notice_ja="x")
    assert page.status_code == 422
    await _change(national, function="inquiry", action="suspend", notice_ja="停止")
    import asyncpg

    async with owner_transaction():
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await current_connection().execute("DELETE FROM suspension_event")


async def test_only_the_national_admin_may_suspend(make_client, app) -> None:
    await create_municipality("131016")
    clerk = await make_client()
    await sign_in(clerk, await create_account("not-nat", Role.MUNICIPAL_ADMIN, "131016"))
    assert (await clerk.get("/national/suspensions")).status_code == 403
    assert (await clerk.get("/national/kiosks")).status_code == 403
