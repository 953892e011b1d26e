"""Corrections keep history, deletion is a state, the queue resolves, erasure is audited (F4, F5)."""

from __future__ import annotations

import datetime as dt
import json

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


@pytest.fixture
async def dose_record(app):
    await create_municipality("131016")
    clerk = await create_account("records-clerk", Role.CLERK)
    admin = await create_account("records-admin", Role.MUNICIPAL_ADMIN)
    resident = await create_resident("131016", name="訂正 太郎")
    first = await create_vaccination(
        resident, dose_number=1, vaccinated_on=dt.date(2021, 6, 1), lot_number="EY0779"
    )
    return clerk, admin, resident, first


async def row(vaccination_id):
    async with owner_transaction():
        return await current_connection().fetchrow(
            "SELECT * FROM vaccination WHERE id = $1", vaccination_id
        )


async def history(vaccination_id):
    async with owner_transaction():
        return await current_connection().fetch(
            "SELECT version, snapshot, reason, changed_by FROM vaccination_version WHERE vaccination = $1 ORDER BY version",
            vaccination_id,
        )


async def test_a_correction_keeps_the_previous_version_with_who_and_why(
    client, dose_record
) -> None:
    clerk, _, _, first = dose_record
    await sign_in(client, clerk)
    csrf = await csrf_token(client, f"/records/{first}")
    response = await client.post(
        f"/records/{first}/correct",
        data={
            "_csrf_token": csrf,
            "lot_number": "ER7449",
            "reason": "ロット番号の入力誤り（予診票で確認）",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200  # back on the record page
    assert "ロット番号の入力誤り" in response.text and 'data-testid="history-row"' in response.text
    current = await row(first)
    assert (current["lot_number"], current["version"]) == ("ER7449", 2)
    kept = await history(first)
    assert len(kept) == 1 and kept[0]["version"] == 1
    assert json.loads(kept[0]["snapshot"])["lot_number"] == "EY0779"
    assert (
        kept[0]["reason"] == "ロット番号の入力誤り（予診票で確認）"
        and kept[0]["changed_by"] is not None
    )
    async with owner_transaction():
        audited = await current_connection().fetchval(
            "SELECT details FROM audit_event WHERE action = 'vaccination.correct'"
        )
    assert json.loads(audited)["fields"] == ["lot_number"]


async def test_a_correction_that_breaks_a_rule_is_refused_and_changes_nothing(
    client, dose_record
) -> None:
    clerk, _, _, first = dose_record
    await sign_in(client, clerk)
    csrf = await csrf_token(client, f"/records/{first}")
    response = await client.post(
        f"/records/{first}/correct",
        data={"_csrf_token": csrf, "lot_number": "3002330", "reason": "typo"},
    )
    assert response.status_code == 422 and "マスタにありません" in response.text
    assert (await row(first))["version"] == 1 and await history(first) == []


async def test_a_correction_needs_a_reason(client, dose_record) -> None:
    clerk, _, _, first = dose_record
    await sign_in(client, clerk)
    csrf = await csrf_token(client, f"/records/{first}")
    response = await client.post(
        f"/records/{first}/correct", data={"_csrf_token": csrf, "lot_number": "ER7449"}
    )
    assert response.status_code == 422 and "理由を入力" in response.text
    assert (await row(first))["lot_number"] == "EY0779"


async def test_deletion_is_a_recorded_state_and_frees_the_dose_number(client, dose_record) -> None:
    clerk, _, resident, first = dose_record
    await sign_in(client, clerk)
    csrf = await csrf_token(client, f"/records/{first}")
    await client.post(
        f"/records/{first}/delete", data={"_csrf_token": csrf, "reason": "別人の記録を誤登録"}
    )
    deleted = await row(first)
    assert deleted["status"] == "deleted" and deleted["version"] == 2
    assert len(await history(first)) == 1
    # The right record for dose 1 can now be entered.
    await create_vaccination(
        resident, dose_number=1, vaccinated_on=dt.date(2021, 6, 3), lot_number="EY0779"
    )


async def test_the_queue_lists_flagged_records_and_resolves_them_in_bulk(
    client, dose_record
) -> None:
    clerk, _, resident, _ = dose_record
    async with owner_transaction():
        ids = [
            await current_connection().fetchval(
                "INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number, vaccinated_on,"
                " vaccinated_by_municipality_code, venue_name, doctor_name, product, lot_number, volume_ml, quality,"
                " quality_reasons) VALUES ('131016', $1, $2, $3, $4, '131016', 'v', 'd', 'pfizer-comirnaty', 'EY0779', 0.3,"
                " 'must_check', $5::jsonb) RETURNING id",
                resident["id"],
                resident["ticket_number"],
                dose,
                day,
                json.dumps(
                    [
                        {
                            "rule": "still_resident",
                            "effect": "must_check",
                            "key": "rule.after_moving_out",
                            "params": {"date": "2021-05-01"},
                        }
                    ]
                ),
            )  # fmt: skip
            for dose, day in ((2, dt.date(2021, 6, 22)), (3, dt.date(2022, 2, 1)))
        ]
    await sign_in(client, clerk)
    page = await client.get("/quality?quality=must_check")
    assert page.text.count('data-testid="queue-item"') == 2 and "転出しています" in page.text
    filtered = await client.get("/quality?rule=lot_valid")
    assert 'data-testid="queue-item"' not in filtered.text
    csrf = await csrf_token(client, "/quality")
    done = await client.post(
        "/quality/resolve",
        data={"_csrf_token": csrf, "id": [str(i) for i in ids], "reason": "転出前の接種と確認"},
        follow_redirects=True,
    )
    assert "2件を確認済み" in done.text
    assert {(await row(i))["quality"] for i in ids} == {"ok"}
    assert [len(await history(i)) for i in ids] == [1, 1]


async def test_unmatched_records_are_matched_once_the_ticket_is_registered(
    client, dose_record
) -> None:
    clerk, _, _, _ = dose_record
    async with owner_transaction():
        orphan = await current_connection().fetchval(
            "INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number, vaccinated_on,"
            " vaccinated_by_municipality_code, venue_name, doctor_name, product, lot_number, volume_ml, quality,"
            " quality_reasons) VALUES ('131016', NULL, '5555555555', 1, '2021-06-10', '131016', 'v', 'd',"
            " 'pfizer-comirnaty', 'EY0779', 0.3, 'must_fix', '[]'::jsonb) RETURNING id"
        )
    later = await create_resident("131016", ticket_number="5555555555", name="後日 登録")
    await sign_in(client, clerk)
    csrf = await csrf_token(client, "/quality")
    await client.post("/quality/match", data={"_csrf_token": csrf})
    matched = await row(orphan)
    assert matched["resident"] == later["id"] and matched["quality"] == "must_check"


async def test_an_admin_erases_personal_content_and_the_fact_stays_audited(
    make_client, dose_record
) -> None:
    clerk, admin, _, first = dose_record
    office = await make_client()
    await sign_in(office, clerk)
    csrf = await csrf_token(office, f"/records/{first}")
    await office.post(
        f"/records/{first}/correct",
        data={"_csrf_token": csrf, "doctor_name": "訂正 医師", "reason": "r"},
    )
    refused = await office.post(
        f"/records/{first}/erase", data={"_csrf_token": csrf, "reason": "法令"}
    )
    assert refused.status_code == 403
    # ... whatever the body: the role is checked before the form is read.
    malformed = await office.post(
        f"/records/{first}/erase", data={"_csrf_token": csrf, "reason": "\x00"}
    )
    assert malformed.status_code == 403
    boss = await make_client()
    await sign_in(boss, admin)
    csrf = await csrf_token(boss, f"/records/{first}")
    await boss.post(
        f"/records/{first}/erase",
        data={"_csrf_token": csrf, "reason": "個人情報保護法に基づく消去請求"},
    )
    erased = await row(first)
    assert (
        erased["status"],
        erased["resident"],
        erased["doctor_name"],
        erased["ticket_number"],
    ) == ("erased", None, "", "")
    assert [json.loads(h["snapshot"]) for h in await history(first)] == [{"erased": True}]
    async with owner_transaction():
        fact = await current_connection().fetchrow(
            "SELECT actor, details FROM audit_event WHERE action = 'vaccination.erase'"
        )
    assert (
        fact is not None
        and json.loads(fact["details"])["reason"] == "個人情報保護法に基づく消去請求"
    )


async def test_history_cannot_be_rewritten_by_the_serving_role(dose_record) -> None:
    import asyncpg

    from db.engine import tenant_transaction

    _, _, _, first = dose_record
    async with owner_transaction():
        await current_connection().execute(
            "INSERT INTO vaccination_version (municipality_code, vaccination, version, snapshot, changed_at, reason)"
            " VALUES ('131016', $1, 1, '{}'::jsonb, now(), 'r')",
            first,
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction("131016"):
            await current_connection().execute(
                "UPDATE vaccination_version SET reason = 'rewritten'"
            )


async def test_a_record_of_another_municipality_is_not_found(make_client, dose_record) -> None:
    _, _, _, first = dose_record
    await create_municipality("011002")
    other = await create_account("sapporo-clerk-r", Role.CLERK, "011002")
    browser = await make_client()
    await sign_in(browser, other)
    assert (await browser.get(f"/records/{first}")).status_code == 404
    csrf = await csrf_token(browser, "/quality")
    attempt = await browser.post(
        f"/records/{first}/delete", data={"_csrf_token": csrf, "reason": "x"}
    )
    assert attempt.status_code == 404
    assert (await row(first))["status"] == "active"


async def test_resolving_with_nothing_ticked_says_so_instead_of_failing(
    client, dose_record
) -> None:
    clerk, _, _, _ = dose_record
    await sign_in(client, clerk)
    csrf = await csrf_token(client, "/quality")
    response = await client.post(
        "/quality/resolve", data={"_csrf_token": csrf, "reason": "確認済み"}
    )
    assert response.status_code == 422
    assert "記録を選んでください" in response.text
