"""The national admin edits the vaccine master; rules keep their periods; pages follow at once."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from db.vaccines.master import master_data
from tests.factories import create_account, create_municipality, csrf_token, sign_in


@pytest.fixture
async def national_admin(app) -> str:
    await create_municipality("131016")
    return await create_account("nat-admin", Role.NATIONAL_ADMIN, None)


async def test_the_master_page_lists_products_with_periods(client, national_admin) -> None:
    await sign_in(client, national_admin)
    page = await client.get("/national/vaccines")
    assert page.status_code == 200
    assert "スパイクバックス筋注" in page.text and "COVID-19ワクチンモデルナ筋注" in page.text
    # The rename is dated as the app change of the seed briefing (2022-01-21), not 2022-04-01.
    assert "2022-01-20" in page.text and "2022-01-21" in page.text and "2022-03-31" not in page.text


async def test_a_new_lot_is_accepted_by_the_rules_at_once(client, national_admin) -> None:
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    response = await client.post(
        "/national/vaccines/lots",
        data={
            "_csrf_token": csrf,
            "product": "pfizer-comirnaty",
            "lot_number": "hz9999",
            "expires_on": "2028-01-31",
        },
        follow_redirects=True,
    )
    assert "マスタを更新しました" in response.text
    async with tenant_transaction(None):
        lots = (await master_data()).products["pfizer-comirnaty"].lots
    assert lots["HZ9999"] == dt.date(2028, 1, 31)


async def test_a_new_interval_rule_ends_the_old_one_the_day_before(client, national_admin) -> None:
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    await client.post(
        "/national/vaccines/rules",
        data={"_csrf_token": csrf, "product": "pfizer-comirnaty", "kind": "interval",
              "params": json.dumps({"after_dose": 2, "min_days": 60}), "valid_from": "2024-04-01", "note": "2か月"},
    )  # fmt: skip
    async with owner_transaction():
        rules = await current_connection().fetch(
            "SELECT params, valid_from, valid_to FROM vaccine_rule WHERE product = 'pfizer-comirnaty'"
            " AND kind = 'interval' AND params->>'after_dose' = '2' ORDER BY valid_from"
        )
        changes = await current_connection().fetchval(
            "SELECT count(*) FROM master_data_change WHERE summary LIKE 'interval%'"
        )
    assert [(r["valid_from"], r["valid_to"]) for r in rules][-2:] == [
        (dt.date(2022, 10, 21), dt.date(2024, 3, 31)),
        (dt.date(2024, 4, 1), None),
    ]
    assert changes == 1


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        (
            "rules",
            {
                "product": "pfizer-comirnaty",
                "kind": "interval",
                "params": "{not json",
                "valid_from": "2024-04-01",
            },
            "JSON",
        ),
        (
            "rules",
            {
                "product": "pfizer-comirnaty",
                "kind": "interval",
                "params": '{"days": 3}',
                "valid_from": "2024-04-01",
            },
            "after_dose",
        ),
        (
            "rules",
            {
                "product": "pfizer-comirnaty",
                "kind": "interval",
                "params": '{"after_dose": 2, "min_days": 9}',
                "valid_from": "2020-01-01",
            },
            "から有効です",
        ),
        (
            "lots",
            {"product": "sputnik", "lot_number": "A1", "expires_on": "2028-01-01"},
            "マスタにありません",
        ),
        (
            "lots",
            {"product": "pfizer-comirnaty", "lot_number": "A1", "expires_on": "someday"},
            "年-月-日",
        ),
        (
            "names",
            {"product": "pfizer-comirnaty", "name": "", "name_en": "", "valid_from": "2024-01-01"},
            "名称と英語名",
        ),
    ],
)
async def test_bad_edits_say_what_is_wrong_and_change_nothing(
    client, national_admin, action, form, message
) -> None:
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    async with owner_transaction():
        before = await current_connection().fetchval("SELECT count(*) FROM master_data_change")
    response = await client.post(f"/national/vaccines/{action}", data={"_csrf_token": csrf, **form})
    assert response.status_code == 422 and message in response.text
    async with owner_transaction():
        assert (
            await current_connection().fetchval("SELECT count(*) FROM master_data_change") == before
        )


async def test_only_the_national_admin_edits_master_data(client, national_admin) -> None:
    clerk = await create_account("clerk-m", Role.CLERK)
    await sign_in(client, clerk)
    assert (await client.get("/national/vaccines")).status_code == 403
