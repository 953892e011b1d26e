"""Venue device credentials: issued by the admin, enrolled once, revocable, stored hashed."""

from __future__ import annotations

import datetime as dt
import re

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_venue,
    csrf_token,
    enrol_device,
    sign_in,
)
from web.access import DEVICE_COOKIE

CODE = re.compile(r'data-testid="enrolment-code">([0-9A-Z-]+)<')


async def issue(admin_client, venue_id, label="受付1") -> str:
    token = await csrf_token(admin_client, "/admin/devices")
    page = await admin_client.post(
        "/admin/devices", data={"label": label, "venue_id": str(venue_id), "_csrf_token": token}
    )
    assert page.status_code == 201, page.text
    return CODE.search(page.text).group(1)


async def enrol(tablet, code: str):
    token = await csrf_token(tablet, "/venue/enrol")
    return await tablet.post("/venue/enrol", data={"code": code, "_csrf_token": token})


async def venue_of(login: str):
    async with owner_transaction():
        return await current_connection().fetchval(
            "SELECT venue_id FROM account WHERE login = $1", login
        )


async def devices() -> list[dict]:
    async with owner_transaction():
        return [dict(r) for r in await current_connection().fetch("SELECT * FROM venue_device")]


async def setup(make_client):
    await create_municipality("131016")
    operator = await create_account("dev-op", Role.VENUE_OPERATOR)
    admin_client, tablet = await make_client(), await make_client()
    await sign_in(admin_client, await create_account("dev-admin", Role.MUNICIPAL_ADMIN))
    await sign_in(tablet, operator)
    return operator, admin_client, tablet


async def test_a_tablet_enrols_once_with_the_admins_code_and_is_stored_hashed(
    app, make_client
) -> None:
    operator, admin_client, tablet = await setup(make_client)
    assert (await tablet.get("/venue", follow_redirects=False)).headers[
        "location"
    ] == "/venue/enrol"
    code = await issue(admin_client, await venue_of(operator))
    enrolled = await enrol(tablet, code.lower())
    assert enrolled.status_code == 303 and enrolled.headers["location"] == "/venue"
    cookie = next(c for c in enrolled.headers.get_list("set-cookie") if c.startswith(DEVICE_COOKIE))
    assert "httponly" in cookie.lower() and "max-age=" in cookie.lower()
    credential = tablet.cookies.get(DEVICE_COOKIE)
    assert (await tablet.get("/venue")).status_code == 200
    # Used once: a second browser of the same venue cannot reuse it.
    other = await make_client()
    await sign_in(other, operator)
    again = await enrol(other, code)
    assert again.status_code == 422 and "既に使われた" in again.text
    # Only hashes are stored.
    (row,) = await devices()
    assert credential not in str(row) and code.replace("-", "") not in str(row)
    assert row["credential_hash"] and row["enrolled_at"] and row["enrolment_code_hash"] is None


async def test_a_code_for_another_venue_or_an_expired_code_is_refused(app, make_client) -> None:
    operator, admin_client, tablet = await setup(make_client)
    elsewhere = await create_venue("131016", "V999", "別会場")
    refused = await enrol(tablet, await issue(admin_client, elsewhere))
    assert refused.status_code == 422 and "別の接種会場" in refused.text
    code = await issue(admin_client, await venue_of(operator))
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE venue_device SET enrolment_expires_at = now() - interval '1 second'"
            " WHERE venue = $1", await venue_of(operator)
        )  # fmt: skip
    expired = await enrol(tablet, code)
    assert expired.status_code == 422 and "有効期限" in expired.text
    wrong = await enrol(tablet, "ABC")
    assert wrong.status_code == 422 and DEVICE_COOKIE not in tablet.cookies
    assert (await tablet.get("/venue", follow_redirects=False)).status_code == 303


async def test_revoking_takes_effect_on_the_next_request_and_keeps_the_history(
    app, make_client
) -> None:
    operator, admin_client, tablet = await setup(make_client)
    await create_resident("131016", ticket_number="0000000001", birth_date=dt.date(1960, 4, 1))
    await enrol(tablet, await issue(admin_client, await venue_of(operator)))
    dose = {"ticket": "111310160000000001", "dose_number": "1", "vaccinated_on": "2022-11-01",
            "product": "pfizer-comirnaty", "lot_number": "GE0123", "volume_ml": "0.3",
            "doctor_name": "医師", "birth_date": "19600401"}  # fmt: skip
    csrf = {"x-csrftoken": tablet.cookies.get("vrs_csrf"), "Idempotency-Key": "a" * 32}
    # The tablet's offline queue posts to the API with the session; the device cookie rides along.
    saved = await tablet.post("/api/v1/vaccinations", json=dose, headers=csrf)
    assert saved.status_code == 201, saved.text
    (device,) = await devices()
    token = await csrf_token(admin_client, "/admin/devices")
    revoked = await admin_client.post(
        f"/admin/devices/{device['id']}/revoke", data={"_csrf_token": token}
    )
    assert revoked.status_code == 303
    refused = await tablet.post(
        "/api/v1/vaccinations", json=dose, headers={**csrf, "Idempotency-Key": "b" * 32}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "device.required"
    assert (await tablet.get("/venue", follow_redirects=False)).headers[
        "location"
    ] == "/venue/enrol"
    (after,) = await devices()
    assert after["revoked_at"] is not None and after["enrolled_at"] is not None
    listing = await admin_client.get("/admin/devices")
    assert 'data-state="revoked"' in listing.text and "dev-admin" in listing.text
    async with owner_transaction():
        actions = [r["action"] for r in await current_connection().fetch(
            "SELECT action FROM audit_event WHERE object_type = 'venue_device' ORDER BY id")]  # fmt: skip
    assert actions == ["device.issue", "device.enrol", "device.revoke"]
    again = await admin_client.post(
        f"/admin/devices/{device['id']}/revoke", data={"_csrf_token": token}
    )
    assert again.status_code == 404


async def test_a_device_of_one_venue_does_not_serve_another_venues_account(
    app, make_client
) -> None:
    await create_municipality("131016")
    first = await create_account("dev-a", Role.VENUE_OPERATOR)
    second = await create_account(
        "dev-b", Role.VENUE_OPERATOR, venue_id=await create_venue("131016", "V002")
    )
    tablet = await make_client()
    await sign_in(tablet, second)
    tablet.cookies.set(DEVICE_COOKIE, await enrol_device(first))
    assert (await tablet.get("/venue", follow_redirects=False)).status_code == 303
    made_up = await make_client()
    await sign_in(made_up, first)
    made_up.cookies.set(DEVICE_COOKIE, "vrsdev_made-up")
    assert (await made_up.get("/venue", follow_redirects=False)).status_code == 303


async def test_the_admin_form_explains_bad_input(app, make_client) -> None:
    _, admin_client, _ = await setup(make_client)
    token = await csrf_token(admin_client, "/admin/devices")
    no_venue = await admin_client.post(
        "/admin/devices", data={"label": "x", "venue_id": "", "_csrf_token": token}
    )
    assert no_venue.status_code == 422 and "接種会場を選んでください" in no_venue.text
    venue = await create_venue("131016", "V777")
    no_label = await admin_client.post(
        "/admin/devices", data={"label": "", "venue_id": str(venue), "_csrf_token": token}
    )
    assert no_label.status_code == 422 and "端末名" in no_label.text
    assert await devices() == []


async def test_staff_sessions_do_not_open_the_kiosk_and_app_channels(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("dev-clerk", Role.CLERK))
    csrf = {"x-csrftoken": client.cookies.get("vrs_csrf")}
    for path in ("/api/v1/card-sessions", "/api/v1/card-sessions/x/proof",
                 "/api/v1/card-sessions/x/kiosk-preview", "/api/v1/card-sessions/x/kiosk-issue",
                 "/api/v1/kiosk/heartbeat", "/api/v1/kiosk/completions"):  # fmt: skip
        response = await client.post(path, json={}, headers=csrf)
        assert response.status_code == 401, path
        assert response.json()["code"] == "card_session.client_required", path
    # Nor a staff bearer token: those channels take only app/kiosk client credentials.
    from db.accounts.queries import create_api_token

    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = 'dev-clerk'"
        )
        token = await create_api_token(account, "probe")
    response = await client.post(
        "/api/v1/card-sessions", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403 and response.json()["code"] == "card_session.client_unknown"
