"""A value longer than its column is a specific 422 in the user's language, never a 500.

Found by the outside probe (a field of each form at its column's length plus one):
an account's display name (the municipal admin's and the national admin's forms,
``account.display_name`` holds 128), and a record correction's doctor (64), venue (128),
lot (32) and dose number (a PostgreSQL integer) reached the database and answered 500.
An unmatched record (no person yet) was corrected with no check at all: a product or lot
outside the master data was stored. A kiosk heartbeat's ``pending_notices`` beyond a
PostgreSQL integer was a 500 too. Each refusal changes nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
)


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 8, 1)


async def fetchval(sql: str, *args):
    async with owner_transaction():
        return await current_connection().fetchval(sql, *args)


async def signed_in(make_client, role: Role, code: str | None):
    browser = await make_client()
    login = await create_account(f"long-{role}", role, code)
    assert (await sign_in(browser, login)).status_code == 303
    return browser


async def test_a_display_name_longer_than_its_column_is_refused_by_name(make_client) -> None:
    await create_municipality("131016")
    admin = await signed_in(make_client, Role.MUNICIPAL_ADMIN, "131016")
    token = await csrf_token(admin, "/admin/accounts")
    made = await admin.post("/admin/accounts", data={
        "login": "long-name-clerk", "display_name": "長" * 129, "role": "clerk",
        "password": "a long enough passphrase", "venue_id": "", "_csrf_token": token})  # fmt: skip
    assert made.status_code == 422
    assert "表示名は128文字以内にしてください。" in made.text
    national = await signed_in(make_client, Role.NATIONAL_ADMIN, None)
    token = await csrf_token(national, "/national/municipalities/131016")
    made = await national.post(
        "/national/municipalities/131016/admins",
        data={"login": "long-name-admin", "display_name": "長" * 129, "_csrf_token": token},
        params={"lang": "en"},
    )
    assert made.status_code == 422
    assert "A display name is at most 128 characters." in made.text
    assert await fetchval("SELECT count(*) FROM account WHERE login LIKE 'long-name-%'") == 0
    # 128 characters are a name like any other.
    made = await national.post(
        "/national/municipalities/131016/admins",
        data={"login": "long-name-admin", "display_name": "長" * 128, "_csrf_token": token},
    )
    assert made.status_code == 200


FORM = {"dose_number": "1", "vaccinated_on": "2021-06-01", "product": "pfizer-comirnaty",
        "lot_number": "FA4597", "volume_ml": "0.30", "doctor_name": "医師 一郎", "venue_name": "",
        "reason": "記入誤り", "override_reason": ""}  # fmt: skip


async def _correct(browser, record, **over: str):
    token = await csrf_token(browser, f"/records/{record}")
    return await browser.post(
        f"/records/{record}/correct", data={**FORM, **over, "_csrf_token": token}
    )


async def _unchanged(record) -> bool:
    version = await fetchval("SELECT version FROM vaccination WHERE id = $1", record)
    kept = await fetchval("SELECT count(*) FROM vaccination_version WHERE vaccination = $1", record)
    return version == 1 and kept == 0


async def test_a_correction_longer_than_the_records_columns_is_refused_and_changes_nothing(
    make_client,
) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=dt.date(1960, 1, 1))
    record = await create_vaccination(person, dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    clerk = await signed_in(make_client, Role.CLERK, "131016")
    refusals = {
        "doctor_name": ("医" * 65, "接種医師名を入力してください（64文字以内）。"),
        "venue_name": ("会" * 129, "会場名は128文字以内で入力してください。"),
        "lot_number": ("L" * 33, "ロット番号は英数字2～32文字です。"),
        "dose_number": ("99999999999", "接種回数は1～9の数字で入力してください。"),
    }
    for field, (value, message) in refusals.items():
        refused = await _correct(clerk, record, **{field: value})
        assert refused.status_code == 422, field
        assert message in refused.text, field
        if field != "venue_name":  # the page's form has no venue field (the API's body has)
            assert value in refused.text, field  # the clerk's edit is kept in the form
    assert await _unchanged(record)
    corrected = await _correct(clerk, record, venue_name="会" * 128, doctor_name="医" * 64)
    assert corrected.status_code == 303


async def test_an_unmatched_record_is_corrected_only_to_a_dose_the_master_data_knows(
    make_client,
) -> None:
    await create_municipality("131016")
    async with owner_transaction():
        record = await current_connection().fetchval(
            "INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number,"
            " vaccinated_on, vaccinated_by_municipality_code, venue_name, doctor_name, product,"
            " lot_number, volume_ml, quality, quality_reasons) VALUES ('131016', NULL, '5555555555',"
            " 1, '2021-06-01', '131016', 'v', 'd', 'pfizer-comirnaty', 'FA4597', 0.3, 'must_fix',"
            " '[]'::jsonb) RETURNING id"
        )
    clerk = await signed_in(make_client, Role.CLERK, "131016")
    for field, value, message in (
        ("product", "no-such-vaccine", "ワクチン「no-such-vaccine」はマスタにありません。"),
        ("lot_number", "ZZ9999", "ロット番号 ZZ9999 はこのワクチンのマスタにありません。"),
        ("vaccinated_on", "2031-06-01", "未来の日付です"),
    ):
        refused = await _correct(clerk, record, **{field: value})
        assert refused.status_code == 422, field
        assert message in refused.text, field
    assert await _unchanged(record)
    assert (await _correct(clerk, record, doctor_name="医師 二郎")).status_code == 303


async def test_a_heartbeat_counting_more_notices_than_a_kiosk_holds_is_refused(client) -> None:
    """``pending_notices`` beyond a PostgreSQL integer was a 500; now a 422 naming the field."""
    from db.cards.queries import create_app_client

    async with owner_transaction():
        kiosk = await create_app_client("store-overflow", "kiosk")
    beat = {"store_id": "0001", "terminal_id": "01", "devices": {"reader": "ok"}}
    for pending in (2**31, 2**40):
        refused = await client.post(
            "/api/v1/kiosk/heartbeat",
            json={**beat, "pending_notices": pending},
            headers={"authorization": f"Bearer {kiosk}"},
        )
        assert refused.status_code == 422, pending
        assert refused.json()["field"] == "pending_notices"
        assert "pending_notices" in refused.json()["detail"]
    assert await fetchval("SELECT count(*) FROM kiosk_status") == 0
    counted = await client.post(
        "/api/v1/kiosk/heartbeat",
        json={**beat, "pending_notices": 3},
        headers={"authorization": f"Bearer {kiosk}"},
    )
    assert counted.status_code == 200, counted.text
    assert await fetchval("SELECT pending_notices FROM kiosk_status") == 3
