"""Bad input is a specific 4xx, never a 500 (issue 12): deeply nested JSON on the API,
a NUL byte in forms; and the clerk's cross-municipality write through the API."""

from __future__ import annotations

import uuid

from db.accounts.roles import Role
from db.cards.queries import create_app_client
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
)

NESTED = ("[" * 100_000 + "]" * 100_000).encode()


async def test_deeply_nested_json_is_a_4xx_on_the_api_routes(app, make_client, settings) -> None:
    from cli.commands.keys import ensure_keys

    ensure_keys(settings)  # so certificate routes get as far as reading the body
    await create_municipality("131016")
    resident = await create_resident("131016")
    clerk = await make_client()
    await sign_in(clerk, await create_account("nest-clerk", Role.CLERK))
    async with owner_transaction():
        app_token = await create_app_client("nest-app")
        kiosk_token = await create_app_client("nest-kiosk", "kiosk")
    opened = await clerk.post(
        "/api/v1/card-sessions", headers={"authorization": f"Bearer {app_token}"}
    )
    session = opened.json()["session_id"]
    routes = [
        ("/api/v1/vaccinations", None),
        ("/api/v1/inquiries", None),
        ("/api/v1/certificates", None),
        (f"/api/v1/residents/{resident['id']}/my-number", None),
        (f"/api/v1/card-sessions/{session}/proof", app_token),
        (f"/api/v1/card-sessions/{session}/kiosk-issue", kiosk_token),
        ("/api/v1/kiosk/heartbeat", kiosk_token),
    ]
    for path, token in routes:
        headers = {"content-type": "application/json", "x-csrftoken": clerk.cookies.get("vrs_csrf")}
        if token:
            headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        answer = await clerk.post(path, content=NESTED, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])


async def test_a_nul_byte_in_a_form_is_a_specific_4xx(app, client) -> None:
    await create_municipality("131016")
    resident = await create_resident("131016")
    vaccination = await create_vaccination(resident)
    await sign_in(client, await create_account("nul-admin", Role.MUNICIPAL_ADMIN))
    token = await csrf_token(client, "/admin/accounts")
    venue = uuid.uuid4()
    forms = [
        ("/admin/accounts", {"login": "nul-made", "display_name": "a\x00b",
                             "password": "nul free password", "role": "clerk"}),
        ("/admin/devices", {"label": "tab\x00let", "venue_id": str(venue)}),
        ("/residents/search", {"name": "山\x00田"}),
        (f"/records/{vaccination}/correct", {"reason": "fix\x00", "lot_number": "FA4597",
                                             "doctor_name": "医\x00師"}),
        (f"/records/{vaccination}/delete", {"reason": "del\x00ete"}),
    ]  # fmt: skip
    for path, form in forms:
        answer = await client.post(path, data={**form, "_csrf_token": token})
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])


async def test_a_clerk_cannot_write_into_another_municipality_with_a_made_up_venue(
    app, client
) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    elsewhere = await create_resident("131016", birth_date=__import__("datetime").date(1960, 4, 1))
    await sign_in(client, await create_account("sapporo-writer", Role.CLERK, "011002"))
    answer = await client.post(
        "/api/v1/vaccinations",
        json={"ticket": f"12131016{elsewhere['ticket_number']}", "dose_number": "2",
              "vaccinated_on": "2021-06-22", "product": "pfizer-comirnaty", "lot_number": "FA4597",
              "volume_ml": "0.3", "doctor_name": "医師", "venue_name": "架空の会場",
              "birth_date": "1960-04-01"},
        headers={"x-csrftoken": client.cookies.get("vrs_csrf"), "idempotency-key": "made-up-1"},
    )  # fmt: skip
    assert answer.status_code == 403
    async with owner_transaction():
        written = await current_connection().fetchval(
            "SELECT count(*) FROM vaccination WHERE municipality_code = '131016'"
        )
    assert written == 0
