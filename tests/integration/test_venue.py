"""The venue tablet and the vaccinations API: identify, judge, save once (F2, F8)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    enrol_device,
    sign_in,
)

TODAY = dt.date(2021, 7, 1)


@pytest.fixture
def today() -> dt.date:
    return TODAY


@pytest.fixture
async def chiyoda_venue(app):
    """Chiyoda with a venue operator and two residents, the first with dose 1."""
    await create_municipality("131016")
    operator = await create_account("venue-op", Role.VENUE_OPERATOR, "131016")
    first = await create_resident(
        "131016", name="山田 太郎", name_kana="ヤマダ タロウ", ticket_number="0000000001"
    )
    second = await create_resident(
        "131016", name="鈴木 花子", name_kana="スズキ ハナコ", ticket_number="0000000002", sex="2"
    )
    await create_vaccination(
        first, "131016", dose_number=1, vaccinated_on=dt.date(2021, 6, 1), lot_number="EY0779"
    )
    return operator, first, second


def ocr(dose: int, municipality: str, ticket: str) -> str:
    return f"1{dose}{municipality}{ticket}"


def dose_fields(ticket: str, **changes) -> dict[str, str]:
    fields = {"ticket": ticket, "dose_number": "2", "vaccinated_on": "2021-06-22",
              "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3",
              "doctor_name": "接種 医師", "birth_date": "1960-04-01"}  # fmt: skip
    return {**fields, **changes}


async def count_doses(municipality: str) -> int:
    async with owner_transaction():
        return await current_connection().fetchval(
            "SELECT count(*) FROM vaccination WHERE municipality_code = $1", municipality
        )


async def lookup(client, ticket: str, csrf: str, birth_date: str = "19600401"):
    return await client.post(
        "/venue/lookup",
        data={"ticket": ticket, "birth_date": birth_date, "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )


async def test_the_venue_page_is_a_valid_touch_page(client, chiyoda_venue) -> None:
    operator, _, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    page = await client.get("/venue")
    assert page.status_code == 200
    assert 'data-testid="ticket-input"' in page.text


async def test_scan_shows_the_person_with_previous_doses_and_defaults(
    client, chiyoda_venue
) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    panel = await lookup(client, ocr(2, "131016", first["ticket_number"]), csrf)
    assert panel.status_code == 200
    assert (
        "山田 太郎" in panel.text and "ヤマダ タロウ" in panel.text and "1960-04-01" in panel.text
    )
    assert "2021-06-01" in panel.text  # the previous dose
    async with owner_transaction():
        viewed = await current_connection().fetchval(
            "SELECT object_id FROM audit_event WHERE action = 'resident.view'"
        )
    assert viewed == str(first["id"])  # every view of a person is audited
    assert 'name="dose_number" value="2"' in panel.text  # next expected
    assert 'name="vaccinated_on" value="2021-07-01"' in panel.text  # today


async def test_two_tickets_in_a_row_never_show_the_previous_person(client, chiyoda_venue) -> None:
    operator, first, second = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    one = await lookup(client, ocr(2, "131016", first["ticket_number"]), csrf)
    two = await lookup(client, ocr(1, "131016", second["ticket_number"]), csrf)
    assert "山田 太郎" in one.text and "鈴木 花子" not in one.text
    assert "鈴木 花子" in two.text and "山田 太郎" not in two.text and "2021-06-01" not in two.text
    keys = [re.search(r'name="idempotency_key" value="(\w+)"', r.text).group(1) for r in (one, two)]
    assert keys[0] != keys[1]  # each panel is its own save


async def test_a_misread_municipality_digit_is_refused_at_the_scan(client, chiyoda_venue) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    panel = await lookup(client, ocr(2, "134016", first["ticket_number"]), csrf)  # 1 read as 4
    assert 'data-testid="panel-error"' in panel.text and "検査数字" in panel.text


async def test_an_unknown_ticket_is_refused_at_the_scan(client, chiyoda_venue) -> None:
    operator, _, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    panel = await lookup(client, ocr(1, "131016", "9999999999"), csrf)
    assert "登録されていません" in panel.text


async def test_saving_from_the_panel_records_once_and_retries_are_harmless(
    client, chiyoda_venue
) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    key = uuid.uuid4().hex
    form = {
        **dose_fields(ocr(2, "131016", first["ticket_number"])),
        "idempotency_key": key,
        "_csrf_token": csrf,
    }
    saved = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    again = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "登録しました" in saved.text and "山田 太郎" in saved.text
    assert "既に登録済み" in again.text
    assert await count_doses("131016") == 2
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT dose_number, venue_name, quality, source FROM vaccination WHERE idempotency_key = $1",
            key,
        )
        audited = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'vaccination.create'"
        )
        logged = await current_connection().fetchval("SELECT count(*) FROM venue_log")
    assert dict(row) == {
        "dose_number": 2,
        "venue_name": "会場V001",
        "quality": "ok",
        "source": "tablet",
    }
    assert audited == 1 and logged == 1


async def test_the_next_scan_starts_from_the_sessions_lot_and_doctor(client, chiyoda_venue) -> None:
    operator, first, second = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    form = {
        **dose_fields(ocr(2, "131016", first["ticket_number"]), doctor_name="会場 医師"),
        "idempotency_key": uuid.uuid4().hex,
        "_csrf_token": csrf,
    }
    await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    panel = await lookup(client, ocr(1, "131016", second["ticket_number"]), csrf)
    assert 'value="EY0779"' in panel.text and 'value="会場 医師"' in panel.text
    assert 'name="dose_number" value="1"' in panel.text


async def test_a_refused_dose_shows_why_and_saves_nothing(client, chiyoda_venue) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    form = {**dose_fields(ocr(2, "131016", first["ticket_number"]), vaccinated_on="2021-06-10"),
            "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf}  # fmt: skip
    refused = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert 'data-testid="findings"' in refused.text and "間隔が必要" in refused.text
    assert 'data-testid="field-override"' in refused.text  # the interval may be overridden
    assert await count_doses("131016") == 1
    overridden = await client.post(
        "/venue/doses",
        data={**form, "override_reason": "医師の判断"},
        headers={"HX-Request": "true"},
    )
    assert "要修正として登録" in overridden.text  # names the stored flag
    async with owner_transaction():
        quality = await current_connection().fetchval(
            "SELECT quality FROM vaccination WHERE dose_number = 2"
        )
    assert quality == "must_fix"


async def test_bad_fields_get_specific_messages_on_the_panel(client, chiyoda_venue) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    form = {**dose_fields(ocr(2, "131016", first["ticket_number"]), volume_ml="abc"),
            "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf}  # fmt: skip
    response = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "接種量はmLの数字" in response.text
    assert await count_doses("131016") == 1


async def test_api_records_with_the_same_rules_and_messages(client, chiyoda_venue) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    headers = {"x-csrftoken": csrf, "Idempotency-Key": uuid.uuid4().hex}
    refused = await client.post(
        "/api/v1/vaccinations?lang=en",
        json=dose_fields(ocr(2, "131016", first["ticket_number"]), lot_number="3002330"),
        headers=headers,
    )
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "rule.lot_unknown" and body["findings"][0]["rule"] == "lot_valid"
    assert "not in the master data" in body["detail"]
    created = await client.post(
        "/api/v1/vaccinations",
        json=dose_fields(ocr(2, "131016", first["ticket_number"])),
        headers=headers,
    )
    assert created.status_code == 201 and created.json()["created"] is True
    repeat = await client.post(
        "/api/v1/vaccinations",
        json=dose_fields(ocr(2, "131016", first["ticket_number"])),
        headers=headers,
    )
    assert (
        repeat.status_code == 200
        and repeat.json()["vaccination_id"] == created.json()["vaccination_id"]
    )
    missing_key = await client.post(
        "/api/v1/vaccinations",
        json=dose_fields(ocr(2, "131016", first["ticket_number"])),
        headers={"x-csrftoken": csrf},
    )
    assert missing_key.status_code == 422 and missing_key.json()["field"] == "idempotency_key"
    unknown = await client.post(
        "/api/v1/vaccinations",
        json=dose_fields(ocr(1, "131016", "9999999999")),
        headers={"x-csrftoken": csrf, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "venue.ticket_unknown"


async def test_one_key_sent_50_times_concurrently_makes_exactly_one_record(
    client, chiyoda_venue
) -> None:
    operator, first, _ = chiyoda_venue
    await sign_in(client, operator)
    await enrol_device(operator, client)
    csrf = await csrf_token(client, "/venue")
    headers = {"x-csrftoken": csrf, "Idempotency-Key": "storm-" + uuid.uuid4().hex}
    body = dose_fields(ocr(2, "131016", first["ticket_number"]))
    responses = await asyncio.gather(
        *(client.post("/api/v1/vaccinations", json=body, headers=headers) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == 49
    assert len({r.json()["vaccination_id"] for r in responses}) == 1
    assert await count_doses("131016") == 2


async def test_two_tablets_saving_the_same_dose_with_different_keys_make_one_record(
    make_client, chiyoda_venue
) -> None:
    operator, first, _ = chiyoda_venue
    tablets = [await make_client(), await make_client()]
    tokens = []
    for tablet in tablets:
        await sign_in(tablet, operator)
        await enrol_device(operator, tablet)
        tokens.append(await csrf_token(tablet, "/venue"))
    body = dose_fields(ocr(2, "131016", first["ticket_number"]))
    responses = await asyncio.gather(*(
        tablet.post("/api/v1/vaccinations", json=body, headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex})
        for tablet, token in zip(tablets, tokens, strict=True)
    ))  # fmt: skip
    assert sorted(r.status_code for r in responses) == [201, 422]
    refused = next(r for r in responses if r.status_code == 422)
    assert refused.json()["code"] == "rule.same_day"  # the second tablet sees the first one's dose
    assert await count_doses("131016") == 2


async def test_a_clerk_account_records_too_but_stats_viewers_cannot(
    make_client, chiyoda_venue
) -> None:
    viewer = await create_account("viewer-v", Role.PREFECTURE_VIEWER, None)
    browser = await make_client()
    await sign_in(browser, viewer)
    assert (await browser.get("/venue")).status_code == 403


async def test_a_venue_of_another_municipality_vaccinates_and_the_record_lands_home(
    make_client, chiyoda_venue
) -> None:
    _, first, _ = chiyoda_venue
    await create_municipality("011002")
    sapporo_operator = await create_account("sapporo-op", Role.VENUE_OPERATOR, "011002")
    chiyoda_clerk = await create_account("chiyoda-clerk-v", Role.CLERK, "131016")
    tablet = await make_client()
    await sign_in(tablet, sapporo_operator)
    await enrol_device(sapporo_operator, tablet)
    csrf = await csrf_token(tablet, "/venue")
    panel = await lookup(tablet, ocr(2, "131016", first["ticket_number"]), csrf)
    assert (
        "山田 太郎" in panel.text and "ヤマダ タロウ" in panel.text and "1960-04-01" in panel.text
    )
    assert 'data-testid="elsewhere"' in panel.text
    assert (
        'data-testid="person-sex"' not in panel.text
        and 'data-testid="previous-doses"' not in panel.text
    )
    key = uuid.uuid4().hex
    saved = await tablet.post(
        "/venue/doses",
        data={
            **dose_fields(ocr(2, "131016", first["ticket_number"])),
            "idempotency_key": key,
            "_csrf_token": csrf,
        },
        headers={"HX-Request": "true"},
    )
    assert "登録しました" in saved.text
    again = await tablet.post(
        "/venue/doses",
        data={
            **dose_fields(ocr(2, "131016", first["ticket_number"])),
            "idempotency_key": key,
            "_csrf_token": csrf,
        },
        headers={"HX-Request": "true"},
    )
    assert "既に登録済み" in again.text
    assert await count_doses("131016") == 2 and await count_doses("011002") == 0
    # Sapporo's venue log has the ticket, time and dose, never the person's details.
    async with owner_transaction():
        log = await current_connection().fetch(
            "SELECT * FROM venue_log WHERE municipality_code = '011002'"
        )
    assert len(log) == 1 and log[0]["ticket_number"] == first["ticket_number"]
    assert "name" not in log[0].keys() and "birth_date" not in log[0].keys()
    # Chiyoda's clerk sees the record at once, with who vaccinated.
    office = await make_client()
    await sign_in(office, chiyoda_clerk)
    records = (await office.get(f"/api/v1/residents/{first['id']}/vaccinations")).json()
    assert [(r["dose_number"], r["vaccinated_by_municipality_code"]) for r in records] == [
        (1, "131016"),
        (2, "011002"),
    ]
    # The operator cannot read the record back through the resident API.
    assert (await tablet.get(f"/api/v1/residents/{first['id']}/vaccinations")).status_code == 403


async def test_a_municipality_refusing_outside_records_is_unknown_to_other_venues(
    make_client, app
) -> None:
    await create_municipality("131016", accepts_records_from_other_venues=False)
    await create_municipality("011002")
    resident = await create_resident("131016")
    operator = await create_account("sapporo-op2", Role.VENUE_OPERATOR, "011002")
    tablet = await make_client()
    await sign_in(tablet, operator)
    await enrol_device(operator, tablet)
    csrf = await csrf_token(tablet, "/venue")
    panel = await lookup(tablet, ocr(1, "131016", resident["ticket_number"]), csrf)
    assert "確認できませんでした" in panel.text and resident["name"] not in panel.text
