"""A clerk uploads a clinic's or workplace's CSV, other areas' residents included (F3, F8).

職域接種 and 個別接種 records reach the municipality as files; their people are
often registered elsewhere. The clerk names which of the municipality's
clinic or workplace venues the file comes from: rows for another area's
resident go through the same crossing as a tablet's save (birth date compared
there, the record lands in the resident's area, the venue's log counts it).
Without a venue, or naming a mass-vaccination venue, such rows stay refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_venue,
    csrf_token,
    sign_in,
)

HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


@pytest.fixture
async def workplace(app) -> dict[str, Any]:
    await create_municipality("131016")
    await create_municipality("011002")
    venues = {}
    for code, kind in (("W001", "workplace"), ("M001", "venue")):
        venues[kind] = await create_venue("131016", code, f"{kind}会場")
        async with owner_transaction():
            await current_connection().execute(
                "UPDATE venue SET kind = $1 WHERE id = $2", kind, venues[kind]
            )
    clerk = await create_account("chiyoda-upload-clerk", Role.CLERK, "131016")
    sapporo = await create_resident("011002")
    return {"clerk": clerk, "venues": venues, "sapporo": sapporo}


def _row(person: dict[str, Any], birth: str = "1960-04-01") -> str:
    return (f"{person['ticket_number']},011002,{birth},1,2021-06-22,pfizer-comirnaty,EY0779,0.3,"
            "職域 医師")  # fmt: skip


async def _upload(client: Any, rows: list[str], venue_id: Any = None) -> Any:
    csrf = await csrf_token(client, "/venue/upload")
    data = {"_csrf_token": csrf}
    if venue_id is not None:
        data["venue_id"] = str(venue_id)
    content = "\r\n".join([HEADER, *rows]).encode()
    return await client.post(
        "/venue/upload", data=data, files={"file": ("d.csv", content, "text/csv")}
    )


async def _records() -> list[Any]:
    async with owner_transaction():
        return list(await current_connection().fetch(
            "SELECT municipality_code, resident IS NOT NULL AS matched, venue_id, venue_name,"
            " quality FROM vaccination ORDER BY recorded_at"
        ))  # fmt: skip


async def test_the_upload_page_offers_the_clinic_and_workplace_venues_only(
    client, workplace
) -> None:
    await sign_in(client, workplace["clerk"])
    page = await client.get("/venue/upload")
    assert str(workplace["venues"]["workplace"]) in page.text and "workplace会場" in page.text
    assert str(workplace["venues"]["venue"]) not in page.text


async def test_a_row_for_another_areas_resident_lands_there_through_the_workplace(
    client, workplace
) -> None:
    await sign_in(client, workplace["clerk"])
    answer = await _upload(client, [_row(workplace["sapporo"])], workplace["venues"]["workplace"])
    assert answer.status_code == 200 and "1件を登録" in answer.text, answer.text
    [record] = await _records()
    assert record["municipality_code"] == "011002" and record["matched"]
    assert record["venue_id"] == workplace["venues"]["workplace"]
    assert record["venue_name"] == "workplace会場"
    async with owner_transaction():
        logged = await current_connection().fetchval(
            "SELECT count(*) FROM venue_log WHERE municipality_code = '131016' AND venue_id = $1",
            workplace["venues"]["workplace"],
        )
        # The resident's area audits the crossing with who called, as what: a clerk here.
        audited = await current_connection().fetch(
            "SELECT a.login, e.actor_role FROM audit_event e JOIN account a ON a.id = e.actor"
            " WHERE e.municipality_code = '011002'"
            " AND e.action IN ('ticket.identify_from_elsewhere', 'vaccination.create')"
        )
    assert logged == 1
    assert audited and {(a["login"], a["actor_role"]) for a in audited} == {
        ("chiyoda-upload-clerk", "clerk")
    }, audited


async def test_a_wrong_birth_date_is_kept_unmatched_in_the_residents_area(
    client, workplace
) -> None:
    await sign_in(client, workplace["clerk"])
    answer = await _upload(
        client, [_row(workplace["sapporo"], "1970-01-01")], workplace["venues"]["workplace"]
    )
    assert answer.status_code == 200
    [record] = await _records()
    assert record["municipality_code"] == "011002" and not record["matched"]
    assert record["quality"] == "must_fix"


async def test_without_a_venue_another_areas_row_is_refused_and_says_what_to_do(
    client, workplace
) -> None:
    await sign_in(client, workplace["clerk"])
    answer = await _upload(client, [_row(workplace["sapporo"])])
    assert answer.status_code == 200 and "2行目" in answer.text
    assert "職域接種会場" in answer.text  # the message names what to choose
    assert await _records() == []


async def test_a_mass_vaccination_venue_is_not_a_venue_to_upload_for(client, workplace) -> None:
    await sign_in(client, workplace["clerk"])
    answer = await _upload(client, [_row(workplace["sapporo"])], workplace["venues"]["venue"])
    assert answer.status_code == 422 and "個別接種医療機関または職域接種会場" in answer.text
    assert await _records() == []
