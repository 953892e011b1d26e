"""The national admin edits the vaccine master; rules keep their periods; pages follow at once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from xml.etree.ElementTree import Element

import html5lib
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from db.vaccines.master import forget, master_data
from db.vaccines.rule_shapes import SHAPES
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    enrol_device,
    sign_in,
)
from web.i18n import translate

#: The master tables these tests edit: reference data, which the per-test clean-up keeps.
EDITED = ("vaccine_rule", "product_name", "vaccine_lot")


@pytest.fixture(autouse=True)
async def master_data_restored(db) -> AsyncIterator[None]:
    """Each test's edits of the master data are undone after it, so no later test sees them."""
    async with owner_transaction():
        kept = {
            t: await current_connection().fetchval(f"SELECT jsonb_agg(t) FROM {t} t")
            for t in EDITED
        }
    yield
    async with owner_transaction():
        for table, rows in kept.items():
            await current_connection().execute(f"DELETE FROM {table}")
            await current_connection().execute(
                f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb)",
                rows,
            )
    forget()


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
              "after_dose": "2", "min_days": "60", "valid_from": "2024-04-01", "note": "2か月"},
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


RULE = {"product": "pfizer-comirnaty", "kind": "interval", "after_dose": "2", "min_days": "90",
        "valid_from": "2024-04-01"}  # fmt: skip


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        ("rules", {**RULE, "min_days": "九十"}, "「最短の間隔（日）」は数字で入力してください"),
        ("rules", {**RULE, "min_days": "-5"}, "「最短の間隔（日）」に負の数は使えません"),
        ("rules", {**RULE, "min_days": ""}, "「最短の間隔（日）」を入力してください"),
        ("rules", {**RULE, "after_dose": "2.5"}, "「前回の接種回」は整数で入力してください"),
        (
            "rules",
            {**RULE, "min_days": "120", "max_days": "60"},
            "「最短の間隔（日）」は「通常の最長",
        ),
        ("rules", {**RULE, "kind": "booster"}, "規則の種類は 対象年齢、接種量、接種間隔"),
        ("rules", {**RULE, "product": "sputnik"}, "ワクチン「sputnik」はマスタにありません"),
        ("rules", {**RULE, "valid_from": "2020-01-01"}, "この製品は 2021-02-14 から使われています"),
        ("rules", {**RULE, "valid_from": "2022-01-01"}, "同じ規則が 2022-10-21 から有効です"),
        ("rules", {**RULE, "valid_from": "4月1日"}, "「適用開始日」を年-月-日"),
        (
            "rules",
            {
                "product": "pfizer-comirnaty",
                "kind": "volume",
                "ml": "0",
                "dose_from": "1",
                "valid_from": "2024-04-01",
            },
            "「接種量（mL）」は 0.01 から 2 まで",
        ),  # fmt: skip
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


def _form(html: str, testid: str) -> Element:
    document = html5lib.parse(html, namespaceHTMLElements=False)
    found = document.find(f".//form[@data-testid='{testid}']")
    assert found is not None, f"no form {testid}"
    return found


def _text(element: Element) -> str:
    return "".join(element.itertext())


async def test_each_rule_kind_has_labelled_fields_from_its_shape_and_no_json(
    client, national_admin
) -> None:
    await sign_in(client, national_admin)
    page = (await client.get("/national/vaccines")).text
    assert 'name="params"' not in page and '{"after_dose"' not in page
    for kind, params in SHAPES.items():
        form = _form(page, f"rule-{kind}-form")
        inputs = {i.get("name"): i for i in form.iter("input")}
        assert inputs["kind"].get("type") == "hidden" and inputs["kind"].get("value") == kind
        for param in params:
            field = inputs[param.field]
            assert field.get("type") == "number"
            assert (field.get("min"), field.get("max")) == (str(param.low), str(param.high))
            label = form.find(f".//label[@for='{field.get('id')}']")
            assert label is not None and _text(label) == translate(
                f"master.param.{param.field}", "ja"
            )
        assert inputs["valid_from"].get("type") == "date"
        options = [_text(o) for o in form.iter("option")]
        assert "コミナティ筋注" in options and "pfizer-comirnaty" not in options
    # Rules read as kind names and labelled values, not codes and JSON.
    assert "接種間隔" in page and "前回の接種回：2、最短の間隔（日）：90" in page
    assert "接種回の開始日" in page and "開始する接種回：3" in page


async def test_a_rule_added_through_its_fields_judges_the_next_save(
    client, make_client, national_admin
) -> None:
    operator = await create_account("md-op", Role.VENUE_OPERATOR)
    resident = await create_resident("131016", ticket_number="0000000042")
    for dose, day in ((1, dt.date(2025, 5, 1)), (2, dt.date(2025, 6, 1))):
        await create_vaccination(resident, dose_number=dose, vaccinated_on=day, lot_number="GE0123")
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    added = await client.post(
        "/national/vaccines/rules",
        data={"_csrf_token": csrf, **RULE, "min_days": "200", "max_days": "", "valid_from": "2025-01-01",
              "note": "追加接種 200日"},
    )  # fmt: skip
    assert added.status_code == 303
    async with owner_transaction():
        stored = await current_connection().fetchrow(
            "SELECT params, note FROM vaccine_rule WHERE product = 'pfizer-comirnaty'"
            " AND kind = 'interval' AND valid_from = '2025-01-01'"
        )
        audited = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'master.rules'"
        )
    assert json.loads(stored["params"]) == {"after_dose": 2, "min_days": 200}
    assert stored["note"] == "追加接種 200日" and audited == 1

    venue = await make_client()
    await sign_in(venue, operator)
    await enrol_device(operator, venue)
    token = await csrf_token(venue, "/venue")
    dose = {"ticket": "121310160000000042", "birth_date": "19600401", "dose_number": "3",
            "vaccinated_on": "2025-10-01", "product": "pfizer-comirnaty", "lot_number": "GE0123",
            "volume_ml": "0.3", "doctor_name": "医師"}  # fmt: skip
    refused = await venue.post(
        "/api/v1/vaccinations",
        json=dose,
        headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert refused.status_code == 422 and refused.json()["code"] == "rule.interval_too_short"
    assert "200" in refused.json()["detail"]  # 122 days: the old 90-day rule would have let it in
    saved = await venue.post(
        "/api/v1/vaccinations",
        json={**dose, "vaccinated_on": "2026-01-01"},
        headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert saved.status_code == 201


async def test_a_bad_number_is_shown_in_its_rule_form_with_the_input_kept(
    client, national_admin
) -> None:
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    response = await client.post(
        "/national/vaccines/rules",
        data={"_csrf_token": csrf, **RULE, "after_dose": "3", "min_days": "-5", "note": "5か月"},
    )
    assert response.status_code == 422
    document = html5lib.parse(response.text, namespaceHTMLElements=False)
    assert document.find(".//div[@role='alert']") is None  # not at the top of the page
    details = document.find(".//details[@id='rule-interval']")
    assert details is not None and details.get("open") is not None
    form = _form(response.text, "rule-interval-form")
    inputs = {i.get("name"): i for i in form.iter("input")}
    wrong = inputs["min_days"]
    assert wrong.get("value") == "-5" and wrong.get("aria-invalid") == "true"
    message = form.find(f".//*[@id='{wrong.get('aria-describedby')}']")
    assert message is not None and _text(message) == "「最短の間隔（日）」に負の数は使えません。"
    assert inputs["after_dose"].get("value") == "3" and inputs["note"].get("value") == "5か月"
    assert inputs["after_dose"].get("aria-invalid") is None
    selected = [o.get("value") for o in form.iter("option") if o.get("selected") is not None]
    assert selected == ["pfizer-comirnaty"]
    # The other forms start empty.
    assert _form(response.text, "rule-age-form").find(".//*[@aria-invalid]") is None

    english = await client.post(
        "/national/vaccines/rules?lang=en",
        data={"_csrf_token": csrf, **RULE, "min_days": "abc"},
    )
    assert "Enter “Minimum interval (days)” as a number (“abc” is not one)." in english.text


@pytest.mark.parametrize(
    ("action", "testid", "form", "field"),
    [
        ("lots", "lot-form", {"product": "pfizer-comirnaty", "lot_number": "AB 12", "expires_on": "2028-01-31"}, "lot_number"),
        ("lots", "lot-form", {"product": "pfizer-comirnaty", "lot_number": "AB12", "expires_on": "2028/13/01"}, "expires_on"),
        ("names", "name-form", {"product": "moderna-spikevax", "name": "新しい名前", "name_en": "", "valid_from": "2024-01-01"}, "name_en"),
    ],
)  # fmt: skip
async def test_lots_and_renames_keep_the_input_with_the_error_at_the_form(
    client, national_admin, action, testid, form, field
) -> None:
    await sign_in(client, national_admin)
    csrf = await csrf_token(client, "/national/vaccines")
    response = await client.post(f"/national/vaccines/{action}", data={"_csrf_token": csrf, **form})
    assert response.status_code == 422
    posted = _form(response.text, testid)
    inputs = {i.get("name"): i for i in posted.iter("input")}
    for name, value in form.items():
        if name != "product":
            assert inputs[name].get("value") == value
    assert inputs[field].get("aria-invalid") == "true"
    assert posted.find(f".//*[@id='{inputs[field].get('aria-describedby')}']") is not None
    selected = [o.get("value") for o in posted.iter("option") if o.get("selected") is not None]
    assert selected == [form["product"]]
