"""The municipal admin's settings page and a new municipality's to-do list (issue 14)."""

from __future__ import annotations

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from db.tenancy.queries import TermsAgreed, current_terms
from tests.factories import create_account, create_municipality, csrf_token, sign_in

GOOD = {
    "certificate_contact": "千代田区 保健所 接種証明書係 電話 03-0000-0000",
    "kiosk_issuance": "1",
    "kiosk_hours_start": "07:00",
    "kiosk_hours_end": "22:00",
    "provides_records_to_inquiries": "1",
    "accepts_records_from_other_venues": "1",
    "provides_statistics": "1",
    "reason": "コンビニ交付の申込み",
}


async def save(client, **changes: str):
    csrf = await csrf_token(client, "/admin/settings")
    data = {**GOOD, **changes, "_csrf_token": csrf}
    return await client.post("/admin/settings", data={k: v for k, v in data.items() if v != "-"})


async def test_a_new_municipality_starts_from_the_terms_defaults(app) -> None:
    await create_municipality("132012")
    async with owner_transaction():
        terms = await current_terms("132012")
    assert terms == TermsAgreed()  # records to inquiries, other venues, statistics on
    assert terms is not None and not terms.kiosk_issuance  # off until the municipality applies


async def test_saving_settings_makes_a_revision_with_who_when_and_why(client, admin) -> None:
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    assert (await save(client)).status_code == 303
    shown = await client.get("/admin/settings?done=saved")
    assert "設定を保存しました" in shown.text and "コンビニ交付の申込み" in shown.text
    assert 'data-testid="revision-2"' in shown.text and "admin-a" in shown.text
    async with owner_transaction():
        terms = await current_terms("131016")
        connection = current_connection()
        row = await connection.fetchrow(
            "SELECT reason, changed_by FROM municipality_setting"
            " WHERE municipality_code = '131016' AND revision = 2"
        )
        audited = await connection.fetchval(
            "SELECT details->>'reason' FROM audit_event WHERE action = 'settings.change'"
        )
        contact = await connection.fetchval("SELECT vrs_certificate_contact('131016')")
    assert terms is not None and terms.kiosk_issuance
    assert (terms.kiosk_hours_start.isoformat(), terms.kiosk_hours_end.isoformat()) == (
        "07:00:00", "22:00:00")  # fmt: skip
    assert row["reason"] == "コンビニ交付の申込み" and row["changed_by"] is not None
    assert audited == "コンビニ交付の申込み"
    assert contact == GOOD["certificate_contact"]  # what certificates print from now on

    # Turning kiosk issuance off (stopping, 第10条) is another revision; unticked is off.
    assert (await save(client, kiosk_issuance="-", reason="参加を停止")).status_code == 303
    async with owner_transaction():
        stopped = await current_terms("131016")
    assert stopped is not None and not stopped.kiosk_issuance
    # Saving the same values again makes no revision.
    again = await save(client, kiosk_issuance="-", reason="同じ")
    assert again.headers["location"].endswith("done=unchanged")


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"reason": "   "}, "変更の理由を入力してください", "reason"),
        ({"kiosk_hours_start": "06:00"}, "06:30〜23:00 の範囲", "kiosk_hours_start"),
        ({"kiosk_hours_end": "23:30"}, "06:30〜23:00 の範囲", "kiosk_hours_start"),
        ({"kiosk_hours_start": "21:00", "kiosk_hours_end": "08:00"}, "開始時刻より後", "kiosk_hours_end"),
        ({"kiosk_hours_start": "7時"}, "時:分", "kiosk_hours_start"),
        ({"certificate_contact": "あ" * 201}, "200文字以内", "certificate_contact"),
    ],
)  # fmt: skip
async def test_bad_settings_are_refused_next_to_the_form_keeping_what_was_typed(
    client, admin, changes, message, field
) -> None:
    refused = await save(client, **changes)
    assert refused.status_code == 422
    assert message in refused.text
    assert f'data-testid="error-{field}"' in refused.text
    assert "千代田区 保健所 接種証明書係" in refused.text or field == "certificate_contact"
    async with owner_transaction():
        revisions = await current_connection().fetchval(
            "SELECT count(*) FROM municipality_setting WHERE municipality_code = '131016'"
        )
    assert revisions == 1


async def test_a_new_municipalitys_home_lists_what_is_still_unset(client, admin) -> None:
    home = await client.get("/")
    for task in ("setup.venues", "setup.contact", "setup.kiosk_decision", "setup.second_admin",
                 "setup.clerks"):  # fmt: skip
        assert f'data-testid="{task}"' in home.text, task
    assert "接種会場が登録されていません" in home.text
    csrf = await csrf_token(client, "/admin/venues")
    await client.post("/admin/venues", data={"code": "V001", "name": "本庁舎", "kind": "venue",
                                              "_csrf_token": csrf})  # fmt: skip
    assert (await save(client, kiosk_issuance="-", reason="当面は参加しない")).status_code == 303
    await create_account("admin-s2", Role.MUNICIPAL_ADMIN, "131016")
    await create_account("clerk-s", Role.CLERK, "131016")
    done = await client.get("/")
    assert 'data-testid="setup-tasks"' not in done.text


async def test_national_suspensions_are_shown_to_municipal_users(
    client, make_client, admin
) -> None:
    from db.operations.suspensions import suspend

    async with owner_transaction():
        await suspend("kiosk_issuance", "システム障害のため停止中です。", "", None, "national")
    home = await client.get("/")
    assert 'data-testid="suspension-banner-kiosk_issuance"' in home.text
    assert "システム障害のため停止中です。" in home.text and "停止開始" in home.text
    settings_page = await client.get("/admin/settings")
    assert 'data-testid="suspension-banner-kiosk_issuance"' in settings_page.text
    clerk = await create_account("clerk-ban", Role.CLERK, "131016")
    office = await make_client()
    await sign_in(office, clerk)
    assert "システム障害のため停止中です。" in (await office.get("/")).text
