"""Identity confirmed at entry, and the silent paths closed (issue 13, F8 of issue 12).

Each test is named after the mistake it catches; each failed on the code before
(a wrong birth date or none was ignored, a reused key echoed the new body, ...).
"""

from __future__ import annotations

import datetime as dt
import json
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
TARO = "0000000001"
HANAKO = "0000000004"  # 1 misread as 4: another registered person


@pytest.fixture
def today() -> dt.date:
    return TODAY


@pytest.fixture
async def venue(app):
    """Chiyoda: 山田 太郎 (1960-04-01, dose 1 on 2021-06-01) and 鈴木 花子 (1975-08-15)."""
    await create_municipality("131016")
    operator = await create_account("identity-op", Role.VENUE_OPERATOR, "131016")
    taro = await create_resident("131016", name="山田 太郎", name_kana="ヤマダ タロウ",
                                 ticket_number=TARO, birth_date=dt.date(1960, 4, 1))  # fmt: skip
    hanako = await create_resident("131016", name="鈴木 花子", name_kana="スズキ ハナコ",
                                   ticket_number=HANAKO, birth_date=dt.date(1975, 8, 15), sex="2")  # fmt: skip
    await create_vaccination(taro, "131016", dose_number=1, vaccinated_on=dt.date(2021, 6, 1),
                             lot_number="EY0779")  # fmt: skip
    return operator, taro, hanako


async def tablet(client, operator: str) -> str:
    await sign_in(client, operator)
    await enrol_device(operator, client)
    return await csrf_token(client, "/venue")


def fields(ticket: str = TARO, **changes: str) -> dict[str, str]:
    base = {"ticket": f"12131016{ticket}", "dose_number": "2", "vaccinated_on": "2021-06-22",
            "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3",
            "doctor_name": "接種 医師", "birth_date": "19600401"}  # fmt: skip
    return {**base, **changes}


async def doses(where: str = "true", *args) -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            f"SELECT resident, ticket_number, dose_number, quality, quality_reasons, lot_number"
            f" FROM vaccination WHERE {where} ORDER BY recorded_at",
            *args,
        )
    return [dict(r) for r in rows]


async def lookup(client, csrf: str, ticket: str, birth: str | None, **extra: str):
    data = {"ticket": f"12131016{ticket}", "_csrf_token": csrf, **extra}
    if birth is not None:
        data["birth_date"] = birth
    return await client.post("/venue/lookup", data=data, headers={"HX-Request": "true"})


# --- the tablet -----------------------------------------------------------------


async def test_a_misread_ticket_of_another_person_is_refused_and_shows_nothing_of_them(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    # 山田 太郎 states 1960-04-01; the scanner read 花子's ticket (1↔4).
    panel = await lookup(client, csrf, HANAKO, "19600401")
    assert "接種券の方と生年月日が一致しません。券番号を読み直してください。" in panel.text
    assert "鈴木" not in panel.text and "スズキ" not in panel.text and "1975" not in panel.text
    assert 'data-testid="save"' not in panel.text
    assert await doses("resident IS NOT NULL AND dose_number = 2") == []


async def test_the_birth_date_is_never_shown_before_it_was_typed(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    page = await client.get("/venue")
    panel = await lookup(client, csrf, TARO, None)
    assert "生年月日を入力" in panel.text and 'data-focus="birth"' in panel.text
    assert "1960" not in panel.text and "山田" not in panel.text
    assert "1960" not in page.text


async def test_a_matching_birth_date_shows_the_person_and_the_name_stays_the_second_look(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    for typed in ("19600401", "S350401", "3350401", "1960-04-01"):
        panel = await lookup(client, csrf, TARO, typed)
        assert "山田 太郎" in panel.text and 'data-testid="save"' in panel.text, typed
        assert "双子" in panel.text  # twins share birth dates: the name is read aloud


async def test_a_mismatch_changes_nothing_and_is_counted_in_the_venue_log(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    await lookup(client, csrf, HANAKO, "19600401")
    await lookup(client, csrf, TARO, "19600402")
    page = await client.get("/venue")
    assert "本日の生年月日不一致：2件" in page.text
    async with owner_transaction():
        viewed = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'resident.view'"
        )
    assert viewed == 0  # nobody's record was shown


async def test_a_tablet_save_with_a_wrong_birth_date_is_refused_not_stored_on_the_holder(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    form = {
        **fields(HANAKO, dose_number="1"),
        "idempotency_key": uuid.uuid4().hex,
        "_csrf_token": csrf,
    }
    saved = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "一致しません" in saved.text
    assert await doses("ticket_number = $1", HANAKO) == []


async def test_a_wrong_registry_birth_date_is_saved_with_a_reason_as_must_fix(
    client, venue
) -> None:
    operator, taro, _ = venue
    csrf = await tablet(client, operator)
    refused = await lookup(client, csrf, TARO, "19600410")
    assert 'data-testid="identity-override"' in refused.text and "山田" not in refused.text
    panel = await lookup(
        client, csrf, TARO, "19600410", identity_reason="住民票の誤記（本人確認書類で確認）"
    )
    assert "山田 太郎" in panel.text and 'data-testid="identity-unconfirmed"' in panel.text
    form = {**fields(TARO, birth_date="19600410", identity_reason="住民票の誤記（本人確認書類で確認）"),
            "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf}  # fmt: skip
    saved = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "要修正として登録しました" in saved.text
    (row,) = await doses("dose_number = 2")
    assert row["resident"] == taro["id"] and row["quality"] == "must_fix"
    assert json.loads(row["quality_reasons"])[-1]["key"] == "quality.birth_date_unconfirmed"


async def test_after_an_interval_override_the_message_names_the_stored_flag(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    form = {**fields(vaccinated_on="2021-06-10"), "override_reason": "医師の判断",
            "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf}  # fmt: skip
    saved = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "要修正として登録しました" in saved.text and "要確認として" not in saved.text
    assert (await doses("dose_number = 2"))[0]["quality"] == "must_fix"


async def test_a_refusal_redraws_the_form_only_and_looks_nobody_up_again(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    form = {
        **fields(vaccinated_on="2021-06-10"),
        "idempotency_key": uuid.uuid4().hex,
        "_csrf_token": csrf,
    }
    refused = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert refused.headers["HX-Retarget"] == "#dose-form" and 'id="dose-form"' in refused.text
    assert (
        'data-testid="person"' not in refused.text
    )  # the person on screen stays; no second look-up
    assert 'name="birth_date" value="19600401"' in refused.text


async def test_after_a_save_the_recent_records_are_reloaded_by_an_htmx_event(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    form = {**fields(), "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf}
    saved = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert saved.headers["HX-Trigger"] == "vrs:saved"
    page = await client.get("/venue")
    assert 'hx-trigger="vrs:saved from:body"' in page.text
    recent = await client.get("/venue/recent")
    assert (
        TARO in recent.text
        and "コミナティ" in recent.text
        and "pfizer-comirnaty" not in recent.text
    )


async def test_the_volume_defaults_from_product_dose_and_age(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    panel = await lookup(client, csrf, TARO, "19600401")
    assert 'value="pfizer-comirnaty" data-volume="0.3"' in panel.text


# --- the API --------------------------------------------------------------------


async def api(client, csrf: str, body: dict, key: str | None = None):
    headers = {"x-csrftoken": csrf, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/api/v1/vaccinations", json=body, headers=headers)


async def test_api_without_birth_date_is_refused(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    body = fields()
    del body["birth_date"]
    response = await api(client, csrf, body)
    assert response.status_code == 422 and response.json()["field"] == "birth_date"
    assert await doses("dose_number = 2") == []


async def test_api_with_a_wrong_birth_date_is_an_identity_mismatch_and_stores_nothing(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    response = await api(client, csrf, fields(HANAKO, dose_number="1"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "identity_mismatch"
    assert await doses("ticket_number = $1", HANAKO) == []


async def test_a_reused_idempotency_key_with_another_body_is_a_422_naming_the_key(
    client, venue
) -> None:
    operator, _, hanako = venue
    csrf = await tablet(client, operator)
    key = "reused-" + uuid.uuid4().hex
    first = await api(client, csrf, fields(), key)
    other = await api(client, csrf, fields(HANAKO, dose_number="1", birth_date="19750815"), key)
    assert first.status_code == 201
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert key in other.json()["detail"] and other.json()["idempotency_key"] == key
    assert await doses("ticket_number = $1", HANAKO) == []
    # A second dose of the same person under the used key is refused too, never "already recorded".
    changed = await api(client, csrf, fields(lot_number="FA5765"), key)
    assert changed.status_code == 422


async def test_the_replay_answers_with_the_stored_record_never_the_request(client, venue) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    key = "replay-" + uuid.uuid4().hex
    first = await api(client, csrf, fields(), key)
    again = await api(client, csrf, fields(), key)
    assert again.status_code == 200
    assert {k: again.json()[k] for k in ("vaccination_id", "dose_number", "vaccinated_on")} == {
        k: first.json()[k] for k in ("vaccination_id", "dose_number", "vaccinated_on")
    }


async def test_an_offline_queued_save_with_a_wrong_birth_date_is_kept_unmatched(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    response = await api(client, csrf, {**fields(HANAKO, dose_number="1"), "queued": True})
    assert response.status_code == 201 and response.json()["unmatched"] is True
    (row,) = await doses("ticket_number = $1", HANAKO)
    assert row["resident"] is None and row["quality"] == "must_fix"
    assert json.loads(row["quality_reasons"])[0]["key"] == "quality.identity_mismatch"


# --- CSV -----------------------------------------------------------------------

HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


async def upload(client, csrf: str, *lines: str):
    content = "\r\n".join([HEADER, *lines]).encode()
    return await client.post(
        "/venue/upload", data={"_csrf_token": csrf}, files={"file": ("d.csv", content, "text/csv")}
    )


async def test_a_csv_row_with_a_wrong_birth_date_is_kept_unmatched_and_reported_by_line(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    report = await upload(
        client, csrf, f"{HANAKO},131016,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,医師"
    )
    assert "2行目" in report.text and "生年月日が接種券の方と一致しない" in report.text
    (row,) = await doses("ticket_number = $1", HANAKO)
    assert row["resident"] is None and row["quality"] == "must_fix"


async def test_a_csv_row_differing_from_the_stored_one_is_an_error_showing_both_values(
    client, venue
) -> None:
    operator, _, _ = venue
    csrf = await tablet(client, operator)
    row = f"{TARO},131016,1960-04-01,2,2021-06-22,pfizer-comirnaty,EY0779,0.3,医師"
    await upload(client, csrf, row)
    same = await upload(client, csrf, row)
    assert "0件を登録、1件は登録済み" in same.text
    other = await upload(client, csrf, row.replace("EY0779", "FA5765"))
    assert "異なる内容" in other.text and "EY0779" in other.text and "FA5765" in other.text
    assert [r["lot_number"] for r in await doses("dose_number = 2")] == ["EY0779"]


# --- F8: another municipality's resident ------------------------------------------


@pytest.fixture
async def sapporo(make_client, venue):
    """A Sapporo venue tablet, about to vaccinate Chiyoda's 山田 太郎."""
    await create_municipality("011002")
    operator = await create_account("sapporo-identity", Role.VENUE_OPERATOR, "011002")
    client = await make_client()
    return client, await tablet(client, operator)


async def test_f8_shows_nothing_before_the_stated_birth_date_matched(sapporo) -> None:
    client, csrf = sapporo
    wrong = await lookup(client, csrf, TARO, "19600402")
    assert "山田" not in wrong.text and "ヤマダ" not in wrong.text
    right = await lookup(client, csrf, TARO, "19600401")
    assert "山田 太郎" in right.text and "千代田区" in right.text and "131016 の" not in right.text
    async with owner_transaction():
        answered = await current_connection().fetch(
            "SELECT details FROM audit_event WHERE municipality_code = '131016'"
            " AND action = 'ticket.identify_from_elsewhere' ORDER BY occurred_at"
        )
    assert [json.loads(r["details"])["confirmed"] for r in answered] == [False, True]


async def test_f8_answers_venue_accounts_only(make_client, venue) -> None:
    await create_municipality("011002")
    clerk = await create_account("sapporo-clerk-f8", Role.CLERK, "011002")
    client = await make_client()
    await sign_in(client, clerk)
    csrf = await csrf_token(client, "/venue")
    panel = await lookup(client, csrf, TARO, "19600401")
    assert "山田" not in panel.text and "接種会場のアカウントでのみ" in panel.text
    response = await api(client, csrf, fields())
    assert response.status_code == 403 and await doses("dose_number = 2") == []


async def test_f8_dose_number_comes_from_the_ticket_not_the_home_history(sapporo) -> None:
    client, csrf = sapporo
    panel = await client.post(
        "/venue/lookup",
        data={"ticket": TARO, "municipality_code": "131016", "birth_date": "19600401", "_csrf_token": csrf},
    )  # fmt: skip
    assert "山田 太郎" in panel.text and 'name="dose_number" value=""' in panel.text


async def test_f8_refusal_does_not_reveal_the_home_areas_dose_dates(sapporo) -> None:
    client, csrf = sapporo
    form = {
        **fields(vaccinated_on="2021-06-10"),
        "idempotency_key": uuid.uuid4().hex,
        "_csrf_token": csrf,
    }
    refused = await client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
    assert "住所地の接種記録と合いません" in refused.text
    assert "2021-06-01" not in refused.text and "9日" not in refused.text
    api_refused = await api(client, csrf, fields(dose_number="1", vaccinated_on="2021-06-05"))
    assert api_refused.status_code == 422 and "2021-06-01" not in api_refused.text


async def test_f8_a_deceased_resident_is_flagged_in_the_home_queue_without_telling_the_venue(
    sapporo,
) -> None:
    client, csrf = sapporo
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET deceased_on = '2021-06-15' WHERE municipality_code = '131016'"
            " AND name = '山田 太郎'"
        )
    response = await api(client, csrf, fields())
    assert response.status_code == 201 and "2021-06-15" not in response.text
    (row,) = await doses("dose_number = 2")
    assert row["quality"] == "must_check"
    assert json.loads(row["quality_reasons"])[-1]["key"] == "rule.after_death"
