"""Venues managed by the municipal admin and by ``vrs venue`` (接種会場の管理, issue 14)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_resident,
    csrf_token,
    enrol_device,
    sign_in,
)
from tests.integration.test_cli import fresh_database, vrs  # noqa: F401 (fixture)


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 7, 1)


async def add(client, **fields: str):
    csrf = await csrf_token(client, "/admin/venues")
    data = {"code": "V010", "name": "区民会館", "kind": "venue", "address": "", **fields}
    return await client.post("/admin/venues", data={**data, "_csrf_token": csrf})


async def venue_row(code: str) -> asyncpg.Record:
    async with owner_transaction():
        return await current_connection().fetchrow(
            "SELECT id, name, kind, address, active FROM venue WHERE code = $1", code
        )


async def test_the_admin_adds_a_venue_that_account_and_tablet_forms_then_offer(
    client, admin
) -> None:
    empty = await client.get("/admin/venues")
    assert empty.status_code == 200 and 'data-testid="venue-none"' in empty.text
    added = await add(client, code="V010", name="区民会館", kind="clinic", address="千代田1-1")
    assert added.status_code == 303
    page = await client.get("/admin/venues?done=added")
    assert "区民会館" in page.text and "個別接種医療機関" in page.text and "開設中" in page.text
    row = await venue_row("V010")
    assert (row["name"], row["kind"], row["address"], row["active"]) == (
        "区民会館", "clinic", "千代田1-1", True)  # fmt: skip
    option = f'<option value="{row["id"]}">区民会館</option>'
    assert option in (await client.get("/admin/accounts")).text
    assert option in (await client.get("/admin/devices")).text
    async with owner_transaction():
        event = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'venue.create' AND object_id = $1",
            str(row["id"]),
        )
    assert event == 1


async def test_bad_venue_input_is_refused_in_japanese_with_the_form_as_typed(client, admin) -> None:
    bad_code = await add(client, code="会場 1", name="区民会館")
    assert bad_code.status_code == 422 and "会場コードは英数字" in bad_code.text
    assert 'value="区民会館"' in bad_code.text
    no_name = await add(client, code="V011", name="  ")
    assert no_name.status_code == 422 and "会場名を入力してください" in no_name.text
    bad_kind = await add(client, code="V012", kind="hospital")
    assert bad_kind.status_code == 422 and "種別を選んでください" in bad_kind.text
    assert (await add(client, code="V013")).status_code == 303
    taken = await add(client, code="V013", name="別の会場")
    assert taken.status_code == 422 and "V013 はこの自治体ですでに使われています" in taken.text


async def test_closing_a_venue_keeps_its_records_and_refuses_new_accounts_tablets_and_doses(
    client, make_client, admin
) -> None:
    assert (await add(client, code="V020", name="旧会場")).status_code == 303
    venue = await venue_row("V020")
    operator = await create_account("op-v20", Role.VENUE_OPERATOR, "131016", venue_id=venue["id"])
    tablet = await make_client()
    await enrol_device(operator, tablet)
    assert (await sign_in(tablet, operator)).status_code == 303
    assert (await tablet.get("/venue")).status_code == 200

    csrf = await csrf_token(client, "/admin/venues")
    closed = await client.post(f"/admin/venues/{venue['id']}/close", data={"_csrf_token": csrf})
    assert closed.status_code == 303
    page = await client.get("/admin/venues?done=closed")
    assert "旧会場" in page.text and "閉鎖" in page.text and 'data-state="closed"' in page.text
    assert not (await venue_row("V020"))["active"]
    async with owner_transaction():
        connection = current_connection()
        open_devices = await connection.fetchval(
            "SELECT count(*) FROM venue_device WHERE venue = $1 AND revoked_at IS NULL",
            venue["id"],
        )
        closes = await connection.fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'venue.close'"
        )
    assert open_devices == 0 and closes == 1

    # Neither form offers it, and a forged id is refused.
    option = f'<option value="{venue["id"]}"'
    assert option not in (await client.get("/admin/accounts")).text
    devices = (await client.get("/admin/devices")).text
    assert option not in devices and "旧会場" in devices  # the revoked tablet's history stays
    csrf = await csrf_token(client, "/admin/devices")
    device = await client.post("/admin/devices", data={"label": "t", "venue_id": str(venue["id"]),
                                                         "_csrf_token": csrf})  # fmt: skip
    assert device.status_code == 422
    csrf = await csrf_token(client, "/admin/accounts")
    account = await client.post("/admin/accounts", data={
        "login": "op-v20b", "display_name": "x", "password": "long enough password 1",
        "role": "venue_operator", "venue_id": str(venue["id"]), "_csrf_token": csrf})  # fmt: skip
    assert account.status_code == 422
    # Closing twice is a 404 naming why, not a 500.
    again = await client.post(f"/admin/venues/{venue['id']}/close", data={"_csrf_token": csrf})
    assert again.status_code == 404


async def test_an_operator_of_a_closed_venue_cannot_record(client, make_client, admin) -> None:
    assert (await add(client, code="V030", name="閉鎖予定会場")).status_code == 303
    venue = await venue_row("V030")
    operator = await create_account("op-v30", Role.VENUE_OPERATOR, "131016", venue_id=venue["id"])
    await create_resident("131016", ticket_number="0000000030", birth_date=dt.date(1960, 4, 1))
    tablet = await make_client()
    await enrol_device(operator, tablet)
    # Closing revokes the venue's tablets; a tablet the close did not reach (the venue
    # flag alone changed) is refused by the recording pages too.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE venue SET active = false WHERE id = $1", venue["id"]
        )
    assert (await sign_in(tablet, operator)).status_code == 303
    csrf = await csrf_token(tablet, "/sign-in")
    refused = await tablet.post("/venue/lookup", data={
        "ticket": "121310160000000030", "birth_date": "19600401", "_csrf_token": csrf})  # fmt: skip
    assert refused.status_code == 403 and "閉鎖されている" in refused.text


async def test_a_new_municipality_registers_a_venue_with_vrs_venue(fresh_database: str) -> None:  # noqa: F811
    env = {"DATABASE_URL": fresh_database}
    vrs("migrate", env=env)
    vrs("create-municipality", "132012", "八王子市", "Hachioji City", env=env)
    before = vrs("create-user", "--login", "op1", "--role", "venue_operator",
                 "--municipality", "132012", "--venue", "V001", "--generate-password",
                 env=env, check=False)  # fmt: skip
    assert before.returncode != 0 and "vrs venue add 132012 V001" in before.stderr
    unknown = vrs("venue", "add", "999990", "V001", "x", env=env, check=False)
    assert unknown.returncode != 0 and "no municipality 999990" in unknown.stderr
    vrs("venue", "add", "132012", "V001", "八王子市 集団接種会場", "--kind", "venue",
        "--address", "元本郷町3-24-1", env=env)  # fmt: skip
    vrs("create-user", "--login", "op1", "--role", "venue_operator", "--municipality",
        "132012", "--venue", "V001", "--generate-password", env=env)  # fmt: skip
    listed = vrs("venue", "list", "132012", env=env).stdout
    assert "V001\topen\tvenue\t八王子市 集団接種会場\t元本郷町3-24-1" in listed
    assert "closed" in vrs("venue", "close", "132012", "V001", env=env).stdout
    assert "V001\tclosed" in vrs("venue", "list", "132012", env=env).stdout
    after = vrs("create-user", "--login", "op2", "--role", "venue_operator",
                "--municipality", "132012", "--venue", "V001", "--generate-password",
                env=env, check=False)  # fmt: skip
    assert after.returncode != 0 and "venue V001 is closed" in after.stderr
    twice = vrs("venue", "close", "132012", "V001", env=env, check=False)
    assert twice.returncode != 0 and "venue_admin.not_found" in twice.stderr
