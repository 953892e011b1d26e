"""A clerk edits a resident's own items on the person page, with a reason and history.

Each change keeps the values as they were (``resident_version``, like dose
versions), is audited, and shows on the person page; bad input (a reason of
spaces, a date before birth, another resident's My Number) is explained on
the same page with the clerk's edits kept. A CSV re-import that changes a
resident keeps the old values in the same history.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import asyncpg
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
    valid_my_number,
)

AREA = "131016"


def form(**over: str) -> dict[str, str]:
    values = {
        "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "former_name": "", "moved_out_on": "",
        "deceased_on": "", "priority_group": "", "my_number": "", "reason": "住民票の記載に合わせる",
    }  # fmt: skip
    return {**values, **over}


async def post_edit(client, person, data: dict[str, str]):
    token = await csrf_token(client, f"/residents/{person['id']}")
    return await client.post(f"/residents/{person['id']}/edit", data={**data, "_csrf_token": token})


async def stored(person) -> dict:
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT * FROM resident WHERE id = $1", person["id"]
        )
    return dict(row)


async def versions(person) -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT version, snapshot, source, reason, changed_by FROM resident_version"
            " WHERE resident = $1 ORDER BY version",
            person["id"],
        )
    return [{**dict(r), "snapshot": json.loads(r["snapshot"])} for r in rows]


async def audit_of(action: str) -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT object_id, details FROM audit_event WHERE action = $1 ORDER BY id", action
        )
    return [{"object_id": r["object_id"], **json.loads(r["details"])} for r in rows]


async def test_a_clerk_edits_a_resident_and_the_old_values_stay_in_the_history(
    clerk_client,
) -> None:
    person = await create_resident(AREA, former_name="")
    saved = await post_edit(
        clerk_client,
        person,
        form(name="鈴木 花子", name_kana="ｽｽﾞｷ ﾊﾅｺ", former_name="山田", moved_out_on="2022-03-31",
             priority_group="medical_worker", needs_care="1", reason="婚姻による氏の変更"),
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:400]
    now = await stored(person)
    assert (now["name"], now["name_kana"], now["former_name"]) == (
        "鈴木 花子",
        "スズキ ハナコ",
        "山田",
    )
    assert now["moved_out_on"] == dt.date(2022, 3, 31)
    assert (now["priority_group"], now["needs_care"], now["version"]) == ("medical_worker", True, 2)
    (old,) = await versions(person)
    assert old["version"] == 1 and old["source"] == "edit" and old["reason"] == "婚姻による氏の変更"
    assert old["snapshot"]["name"] == "山田 太郎" and old["snapshot"]["moved_out_on"] is None
    assert old["changed_by"] is not None
    (event,) = await audit_of("resident.edit")
    assert event["object_id"] == str(person["id"]) and event["reason"] == "婚姻による氏の変更"
    assert set(event["fields"]) == {"name", "name_kana", "former_name", "moved_out_on",
                                    "priority_group", "needs_care"}  # fmt: skip

    page = await clerk_client.get(saved.headers["location"])
    assert page.status_code == 200
    assert 'data-testid="resident-saved"' in page.text
    history = page.text.split('data-testid="resident-history"')[1].split("</ul>\n</section>")[0]
    assert "婚姻による氏の変更" in history and "山田 太郎 → 鈴木 花子" in history
    assert "先行接種対象者（医療従事者）" in history and "medical_worker" not in history


async def test_a_reason_of_spaces_is_refused_on_the_page_with_the_edits_kept(clerk_client) -> None:
    person = await create_resident(AREA)
    refused = await post_edit(clerk_client, person, form(name="鈴木 花子", reason=" \u3000 "))
    assert refused.status_code == 422
    assert 'data-testid="edit-error-reason"' in refused.text
    assert "変更の理由を入力してください" in refused.text
    assert 'value="鈴木 花子"' in refused.text  # the clerk's edit is still in the form
    assert (await stored(person))["name"] == "山田 太郎"
    assert await versions(person) == []


async def test_bad_items_are_explained_field_by_field(clerk_client) -> None:
    person = await create_resident(AREA, birth_date=dt.date(1960, 4, 1))
    refused = await post_edit(
        clerk_client, person,
        form(name_kana="やまだ", deceased_on="1950-01-01", moved_out_on="2021-13-40",
             priority_group="vip", my_number="123"),
    )  # fmt: skip
    assert refused.status_code == 422
    for field in ("name_kana", "deceased_on", "moved_out_on", "priority_group", "my_number"):
        assert f'data-testid="edit-error-{field}"' in refused.text, field
    assert 'value="やまだ"' in refused.text and 'value="123"' not in refused.text
    unchanged = await post_edit(clerk_client, person, form())
    assert unchanged.status_code == 422 and "変更された項目がありません" in unchanged.text
    assert await versions(person) == []


async def test_recording_a_my_number_keeps_the_old_one_sealed_and_refuses_anothers(
    clerk_client,
) -> None:
    person = await create_resident(AREA, my_number=None)
    other = await create_resident(AREA)
    taken = await post_edit(
        clerk_client, person, form(my_number=other["my_number"], name="山田 一郎")
    )
    assert taken.status_code == 422
    assert 'data-testid="edit-error-my_number"' in taken.text and 'value="山田 一郎"' in taken.text
    assert other["my_number"] not in taken.text
    number = valid_my_number(77001)
    saved = await post_edit(clerk_client, person, form(my_number=number, reason="転入時の本人確認"))
    assert saved.status_code == 303, saved.text[:400]
    assert (await stored(person))["my_number_hmac"] is not None
    # The person is found by the number now (what an inquiry needs of its own resident).
    token = await csrf_token(clerk_client, "/residents")
    found = await clerk_client.post(
        "/residents/search", data={"my_number": number, "_csrf_token": token}
    )
    assert found.text.count('data-testid="person-row"') == 1
    replaced = await post_edit(
        clerk_client, person, form(my_number=valid_my_number(77002), reason="誤登録")
    )
    assert replaced.status_code == 303
    first, second = await versions(person)
    assert first["snapshot"]["has_my_number"] is False
    assert second["snapshot"]["my_number"] == "********" + number[-4:]
    assert second["snapshot"]["my_number_sealed"]  # the old number, sealed for this area
    assert number not in json.dumps(second["snapshot"])
    assert [e["object_id"] for e in await audit_of("resident.my_number_recorded")] == [
        str(person["id"])
    ] * 2
    page = await clerk_client.get(f"/residents/{person['id']}")
    assert number not in page.text and valid_my_number(77002) not in page.text


async def test_the_history_is_append_only_for_the_serving_role(clerk_client) -> None:
    person = await create_resident(AREA)
    assert (await post_edit(clerk_client, person, form(name="鈴木 花子"))).status_code == 303
    for statement in (
        "UPDATE resident_version SET reason = 'rewritten'",
        "DELETE FROM resident_version",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(AREA):
                await current_connection().execute(statement)
    async with tenant_transaction("011002"):
        assert await current_connection().fetchval("SELECT count(*) FROM resident_version") == 0


async def test_each_dose_links_to_its_record_page(clerk_client) -> None:
    person = await create_resident(AREA)
    dose = await create_vaccination(person)
    page = await clerk_client.get(f"/residents/{person['id']}")
    dose_id = dose["id"] if isinstance(dose, dict) else dose
    assert re.search(rf'href="/records/{dose_id}"', page.text)


async def test_a_reimport_that_changes_a_resident_keeps_the_old_values(clerk_client) -> None:
    from tests.integration.test_imports import HEADER, row, upload

    first = "\n".join([HEADER, row(1), row(2), row(3)]) + "\n"
    await upload(clerk_client, first.encode("cp932"))
    async with owner_transaction():
        ids = {
            r["resident_number"]: r["id"]
            for r in await current_connection().fetch("SELECT id, resident_number FROM resident")
        }
    # Row 1 changes name and moves out, row 2 is unchanged, row 3 becomes a priority person.
    second = "\n".join([
        HEADER, row(1, name="山田 次郎1", moved_out="1", moved_out_on="2022-04-01"),
        row(2), row(3, priority_group="1"),
    ]) + "\n"  # fmt: skip
    job = await upload(clerk_client, second.encode("cp932"))
    one, two, three = ({"id": ids[f"{1000 + n}"]} for n in (1, 2, 3))
    (kept,) = await versions(one)
    assert kept["source"] == "import" and kept["version"] == 1
    assert kept["snapshot"]["name"] == "山田 太郎1" and kept["snapshot"]["moved_out_on"] is None
    assert await versions(two) == []
    (kept3,) = await versions(three)
    assert kept3["snapshot"]["priority_group"] == ""
    assert (await stored(one))["version"] == 2
    page = await clerk_client.get(f"/residents/{one['id']}")
    history = page.text.split('data-testid="resident-history"')[1]
    assert "CSV取込" in history and "山田 太郎1 → 山田 次郎1" in history
    assert job.startswith("/imports/")


async def test_an_admin_erases_a_resident_keeping_anonymous_dose_facts(make_client, app) -> None:
    await create_municipality(AREA)
    person = await create_resident(AREA, name="消去 花子", name_kana="ショウキョ ハナコ")
    dose = await create_vaccination(person, lot_number="FA4597")
    async with owner_transaction():
        await current_connection().execute(
            "INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id,"
            " kind, channel, source_data, issued_at, passport_number, roman_name) VALUES"
            " (gen_random_uuid(), $1, $2, 'ER0000000001', 'overseas', 'counter', $3::jsonb,"
            " now(), 'TK1234567', 'SHOKYO HANAKO')",
            AREA, person["id"], json.dumps({"vaccination_ids": [str(dose)], "name": "消去 花子"}),
        )  # fmt: skip
    office = await make_client()
    await sign_in(office, await create_account("re-clerk2", Role.CLERK))
    assert (await post_edit(office, person, form(name="消去 花江"))).status_code == 303
    token = await csrf_token(office, f"/residents/{person['id']}")
    refused = await office.post(
        f"/residents/{person['id']}/erase", data={"reason": "消去請求", "_csrf_token": token}
    )
    assert refused.status_code == 403  # a clerk may not erase
    # ... whatever the body: the role is checked before the form is read.
    malformed = await office.post(
        f"/residents/{person['id']}/erase", data={"_csrf_token": token, "reason": "\x00"}
    )
    assert malformed.status_code == 403
    boss = await make_client()
    await sign_in(boss, await create_account("re-admin", Role.MUNICIPAL_ADMIN))
    token = await csrf_token(boss, f"/residents/{person['id']}")
    blank = await boss.post(
        f"/residents/{person['id']}/erase", data={"reason": "  ", "_csrf_token": token}
    )
    assert blank.status_code == 422 and 'data-testid="erase-error"' in blank.text
    erased = await boss.post(
        f"/residents/{person['id']}/erase",
        data={"reason": "個人情報保護法に基づく消去請求", "_csrf_token": token},
    )
    assert erased.status_code == 303, erased.text[:400]
    now = await stored(person)
    assert now["status"] == "erased" and now["name"] == "" and now["name_kana"] == ""
    assert now["my_number_hmac"] is None and now["my_number_ciphertext"] is None
    assert now["birth_date"] == dt.date(1960, 1, 1)
    assert [v["snapshot"] for v in await versions(person)] == [{"erased": True}] * 2
    async with owner_transaction():
        c = current_connection()
        fact = await c.fetchrow("SELECT * FROM vaccination WHERE id = $1", dose)
        cert = await c.fetchrow(
            "SELECT * FROM certificate_issuance WHERE resident = $1", person["id"]
        )
        dumped = json.dumps([dict(r) for r in await c.fetch("SELECT * FROM resident_version")],
                            default=str, ensure_ascii=False)  # fmt: skip
    assert fact["status"] == "erased" and fact["resident"] is None and fact["lot_number"] == ""
    assert (fact["dose_number"], fact["vaccinated_on"], fact["product"]) == (
        1, dt.date(2021, 6, 1), "pfizer-comirnaty")  # fmt: skip
    assert cert["revoked_at"] is not None and cert["passport_number"] == ""
    assert "消去 花子" not in cert["source_data"] and "消去" not in dumped.replace("消去請求", "")
    (event,) = await audit_of("resident.erase")
    assert event["revoked_certificates"] == ["ER0000000001"] and event["doses"] == 1
    page = await boss.get(f"/residents/{person['id']}")
    assert page.status_code == 200 and "消去 花" not in page.text
    assert 'data-testid="resident-edit"' not in page.text
