"""A clerk reissues a lost ticket on the person page (接種券の再発行).

The old ticket stays recorded as ``reissued`` and stops working at venues (with a
message saying why), the new number works; the reason, who and when are in the
person's history; a double-submitted form issues one ticket; a later CSV re-import
that still names the old number does not bring it back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_resident,
    csrf_token,
    enrol_device,
    sign_in,
)

AREA = "131016"


async def tickets_of(resident_id) -> dict[str, dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT ticket_number, ticket_type, dose_number, issued_on, status FROM ticket"
            " WHERE resident = $1",
            resident_id,
        )
    return {r["ticket_number"]: dict(r) for r in rows}


async def reissue(client, resident_id, ticket: str, reason: str = "紛失のため", token: str = ""):
    token = token or await csrf_token(client, f"/residents/{resident_id}")
    return await client.post(
        f"/residents/{resident_id}/reissue",
        data={"_csrf_token": token, "ticket_number": ticket, "reason": reason},
    )


async def test_a_clerk_reissues_a_lost_ticket_and_the_history_says_who_when_why(
    clerk_client, today
) -> None:
    person = await create_resident(AREA, ticket_number="0000000101")
    page = await clerk_client.get(f"/residents/{person['id']}")
    assert 'data-testid="ticket-reissue-form"' in page.text
    response = await reissue(clerk_client, person["id"], "0000000101", "本人が紛失（窓口で申請）")
    assert response.status_code == 303
    tickets = await tickets_of(person["id"])
    (new,) = [n for n in tickets if n != "0000000101"]
    assert re.fullmatch(r"\d{10}", new)
    assert tickets["0000000101"]["status"] == "reissued"
    assert tickets[new]["status"] == "valid" and tickets[new]["issued_on"] == today
    assert tickets[new]["ticket_type"] == tickets["0000000101"]["ticket_type"]

    shown = await clerk_client.get(response.headers["location"])
    assert f"新しい券番号は {new} です" in shown.text
    history = shown.text.split('data-testid="resident-history"')[1]
    assert "接種券の再発行" in history and "本人が紛失（窓口で申請）" in history
    assert "接種券番号: 0000000101 → " + new in history
    assert "再発行済" in shown.text  # the old ticket is listed with its state
    async with owner_transaction():
        audited = await current_connection().fetchrow(
            "SELECT actor, details FROM audit_event WHERE action = 'resident.ticket_reissue'"
        )
    assert audited is not None and audited["actor"] is not None
    assert json.loads(audited["details"])["old"] == "0000000101"


async def test_the_old_ticket_stops_working_at_the_venue_and_the_new_one_works(
    clerk_client, make_client
) -> None:
    person = await create_resident(AREA, ticket_number="0000000102", birth_date=dt.date(1960, 4, 1))
    await reissue(clerk_client, person["id"], "0000000102")
    (new,) = [n for n in await tickets_of(person["id"]) if n != "0000000102"]

    operator = await create_account("reissue-op", Role.VENUE_OPERATOR)
    venue = await make_client()
    await sign_in(venue, operator)
    await enrol_device(operator, venue)
    token = await csrf_token(venue, "/venue")

    async def look_up(ticket: str):
        return await venue.post(
            "/venue/lookup",
            data={"_csrf_token": token, "ticket": ticket, "birth_date": "19600401"},
            headers={"HX-Request": "true"},
        )

    old = await look_up("0000000102")
    assert "再発行されたため使えません" in old.text and "山田 太郎" not in old.text
    assert "山田 太郎" in (await look_up(new)).text

    dose = {"birth_date": "19600401", "dose_number": "1", "vaccinated_on": "2021-06-22",
            "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3",
            "doctor_name": "医師"}  # fmt: skip
    for ticket in ("0000000102", new):
        await venue.post(
            "/api/v1/vaccinations",
            json={**dose, "ticket": f"11{AREA}{ticket}"},
            headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex},
        )
    async with owner_transaction():
        recorded = await current_connection().fetch(
            "SELECT ticket_number FROM vaccination WHERE resident = $1", person["id"]
        )
    assert [r["ticket_number"] for r in recorded] == [new]


async def test_a_double_submitted_reissue_issues_one_ticket(clerk_client) -> None:
    person = await create_resident(AREA, ticket_number="0000000103")
    token = await csrf_token(clerk_client, f"/residents/{person['id']}")
    first = await reissue(clerk_client, person["id"], "0000000103", token=token)
    second = await reissue(clerk_client, person["id"], "0000000103", token=token)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(await tickets_of(person["id"])) == 2
    async with owner_transaction():
        assert await current_connection().fetchval(
            "SELECT count(*) FROM resident_version WHERE resident = $1", person["id"]
        ) == 1  # fmt: skip


async def test_a_reason_is_required_and_bad_input_changes_nothing(clerk_client) -> None:
    person = await create_resident(AREA, ticket_number="0000000104")
    blank = await reissue(clerk_client, person["id"], "0000000104", reason="　 ")
    assert blank.status_code == 422
    assert 'aria-invalid="true" aria-describedby="reissue-reason-error"' in blank.text
    assert "再発行の理由を入力してください" in blank.text
    other = await create_resident(AREA, ticket_number="0000000105")
    wrong = await reissue(clerk_client, person["id"], "0000000105")  # another person's ticket
    assert wrong.status_code == 422 and "この方の接種券の中から選んでください" in wrong.text
    assert wrong.text.count("紛失のため") == 1  # the reason typed is kept in the form
    assert (await tickets_of(person["id"]))["0000000104"]["status"] == "valid"
    assert (await tickets_of(other["id"]))["0000000105"]["status"] == "valid"
    assert len(await tickets_of(person["id"])) == 1


async def test_only_the_clerk_and_admin_reissue(make_client) -> None:
    person = await create_resident(AREA, ticket_number="0000000106")
    for role, page in ((Role.VENUE_OPERATOR, "/venue/enrol"), (Role.PREFECTURE_VIEWER, "/account")):
        login = await create_account(role=role)
        client = await make_client()
        await sign_in(client, login)
        token = await csrf_token(client, page)
        response = await reissue(client, person["id"], "0000000106", token=token)
        assert response.status_code == 403, role
    admin = await create_account(role=Role.MUNICIPAL_ADMIN)
    client = await make_client()
    await sign_in(client, admin)
    assert (await reissue(client, person["id"], "0000000106")).status_code == 303


async def test_a_reimport_naming_the_old_ticket_does_not_bring_it_back(clerk_client) -> None:
    from tests.integration.test_imports import HEADER, row, upload

    await upload(clerk_client, ("\n".join([HEADER, row(1), row(2)]) + "\n").encode("cp932"))
    async with owner_transaction():
        resident_id = await current_connection().fetchval(
            "SELECT id FROM resident WHERE resident_number = '1001'"
        )
    await reissue(clerk_client, resident_id, "9000000001")
    (new,) = [n for n in await tickets_of(resident_id) if n != "9000000001"]

    # The municipality's file still has the old number: the counter's decision stands.
    await upload(
        clerk_client, ("\n".join([HEADER, row(1, name="山田 一郎"), row(2)]) + "\n").encode("cp932")
    )
    tickets = await tickets_of(resident_id)
    assert tickets["9000000001"]["status"] == "reissued" and tickets[new]["status"] == "valid"
    assert (await tickets_of_number("9000000002"))["status"] == "valid"

    # A newer number from the municipality's own system replaces the counter's ticket.
    await upload(
        clerk_client,
        ("\n".join([HEADER, row(1, ticket_number="9000000011")]) + "\n").encode("cp932"),
    )
    tickets = await tickets_of(resident_id)
    assert tickets[new]["status"] == "reissued" and tickets["9000000011"]["status"] == "valid"
    assert tickets["9000000001"]["status"] == "reissued"


async def tickets_of_number(number: str) -> dict:
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT status FROM ticket WHERE ticket_number = $1", number
        )
    return dict(row)
