"""The sanctioned crossings: each returns only what its need requires."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import asyncpg
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    vault,
)

#: 外部への資料提供 (seed): the fields an inquiry may return, and nothing else.
INQUIRY_FIELDS = [
    "municipality_code", "municipality_name", "name", "birth_date", "sex", "ticket_numbers",
    "priority_group", "needs_care", "dose_number", "vaccinated_on", "product", "lot_number",
    "volume_ml", "vaccinated_by_municipality_code", "venue_name",
]  # fmt: skip


@pytest.fixture
async def moved_person(app):
    """A person who lived in Sapporo (two doses there) and moved to Chiyoda."""
    await create_municipality("131016")
    await create_municipality("011002")
    before = await create_resident("011002", name="移動 太郎", name_kana="イドウ タロウ")
    after = await create_resident("131016", name="移動 太郎", my_number=before["my_number"])
    await create_vaccination(before, "011002", dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    await create_vaccination(before, "011002", dose_number=2, vaccinated_on=dt.date(2021, 6, 22))
    return before, after


async def chiyoda_venue_account() -> tuple[object, object]:
    """A Chiyoda venue operator: (venue id, account id); F8 answers venue accounts only."""
    login = await create_account(None, Role.VENUE_OPERATOR, "131016")
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT id, venue_id FROM account WHERE login = $1", login
        )
    return row["venue_id"], row["id"]


async def _confirm(
    ticket: str, born: dt.date, venue: object, actor: object
) -> list[asyncpg.Record]:
    return await current_connection().fetch(
        "SELECT * FROM vrs_confirm_ticket_elsewhere('011002', $1, $2, $3, $4)",
        ticket, born, venue, actor,
    )  # fmt: skip


async def test_identify_elsewhere_shows_only_identity_and_dose_history(moved_person) -> None:
    before, _ = moved_person
    venue, actor = await chiyoda_venue_account()
    async with tenant_transaction("131016"):
        rows = await _confirm(before["ticket_number"], before["birth_date"], venue, actor)
    assert len(rows) == 1
    assert list(rows[0].keys()) == ["resident_id", "name", "name_kana", "previous_doses"]
    assert rows[0]["name"] == "移動 太郎"
    assert [d["dose_number"] for d in json.loads(rows[0]["previous_doses"])] == [1, 2]


async def test_identify_elsewhere_is_not_for_ones_own_tickets(moved_person) -> None:
    before, _ = moved_person
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction("011002"):
            await _confirm(before["ticket_number"], before["birth_date"], None, None)


async def _record_elsewhere(
    ticket: str, key: str, venue: object, actor: object, born: dt.date = dt.date(1960, 4, 1)
) -> asyncpg.Record:
    return await current_connection().fetchrow(
        "SELECT * FROM vrs_record_confirmed_dose_elsewhere('011002', $1, '1', 3, $2, $5, '千代田区会場',"
        " '医師', 'pfizer-comirnaty', 'FK0108', $3, 'ok', '[]'::jsonb, 'tablet', $4, $6, $7, false, NULL)",
        ticket, dt.date(2022, 3, 1), Decimal("0.3"), key, venue, actor, born,
    )  # fmt: skip


async def test_a_dose_given_elsewhere_lands_in_the_residents_area_once(moved_person) -> None:
    before, _ = moved_person
    venue, actor = await chiyoda_venue_account()
    async with tenant_transaction("131016"):
        first = await _record_elsewhere(before["ticket_number"], "key-1", venue, actor)
        again = await _record_elsewhere(before["ticket_number"], "key-1", venue, actor)
        # B (Chiyoda) cannot read it back: it is A's record.
        assert (
            await current_connection().fetchval(
                "SELECT count(*) FROM vaccination WHERE id = $1", first["vaccination_id"]
            )
            == 0
        )
    assert first["created"] is True and again["created"] is False
    assert first["vaccination_id"] == again["vaccination_id"]
    async with tenant_transaction("011002"):
        row = await current_connection().fetchrow(
            "SELECT municipality_code, vaccinated_by_municipality_code, resident, dose_number"
            " FROM vaccination WHERE id = $1",
            first["vaccination_id"],
        )
        audited = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE object_id = $1", str(first["vaccination_id"])
        )
    assert dict(row) == {
        "municipality_code": "011002",
        "vaccinated_by_municipality_code": "131016",
        "resident": before["id"],
        "dose_number": 3,
    }
    assert audited == 1


async def test_a_municipality_that_does_not_accept_outside_records_is_respected(app) -> None:
    await create_municipality("131016")
    await create_municipality("011002", accepts_records_from_other_venues=False)
    resident = await create_resident("011002")
    venue, actor = await chiyoda_venue_account()
    async with tenant_transaction("131016"):
        assert await _confirm(resident["ticket_number"], resident["birth_date"], venue, actor) == []
    with pytest.raises(asyncpg.RaiseError, match="does not accept"):
        async with tenant_transaction("131016"):
            await _record_elsewhere(resident["ticket_number"], "key-2", venue, actor)


async def test_an_inquiry_returns_exactly_the_seed_fields(moved_person) -> None:
    before, _ = moved_person
    async with tenant_transaction("131016"):
        rows = await current_connection().fetch(
            "SELECT * FROM vrs_inquire_records($1, NULL, '書面による同意: 本人同意書（窓口で確認）')",
            vault().lookup_hash(before["my_number"]),
        )
    assert [list(r.keys()) for r in rows] == [INQUIRY_FIELDS, INQUIRY_FIELDS]
    assert {r["municipality_code"] for r in rows} == {"011002"}  # never the caller's own
    assert [r["dose_number"] for r in rows] == [1, 2]
    assert rows[0]["ticket_numbers"] == [before["ticket_number"]]
    async with tenant_transaction("011002"):
        logged = await current_connection().fetch(
            "SELECT action, details FROM audit_event WHERE action = 'inquiry.answered'"
        )
    assert len(logged) == 1
    assert json.loads(logged[0]["details"])["inquiring_municipality"] == "131016"


async def test_an_inquiry_without_consent_is_refused(moved_person) -> None:
    before, _ = moved_person
    with pytest.raises(asyncpg.RaiseError, match="consent"):
        async with tenant_transaction("131016"):
            await current_connection().fetch(
                "SELECT * FROM vrs_inquire_records($1, NULL, '  ')",
                vault().lookup_hash(before["my_number"]),
            )


async def test_an_inquiry_skips_municipalities_that_do_not_provide_records(app) -> None:
    await create_municipality("131016")
    await create_municipality("011002", provides_records_to_inquiries=False)
    before = await create_resident("011002")
    await create_resident("131016", my_number=before["my_number"])  # moved to Chiyoda
    await create_vaccination(before, "011002")
    async with tenant_transaction("131016"):
        rows = await current_connection().fetch(
            "SELECT * FROM vrs_inquire_records($1, NULL, '書面による同意: consent form')",
            vault().lookup_hash(before["my_number"]),
        )
    assert rows == []


async def test_certificate_lookup_finds_the_person_in_every_municipality(moved_person) -> None:
    before, _ = moved_person
    async with tenant_transaction(None):
        rows = await current_connection().fetch(
            "SELECT * FROM vrs_records_for_certificate($1)",
            vault().lookup_hash(before["my_number"]),
        )
    assert [r["municipality_code"] for r in rows] == ["011002", "131016"]
    doses = {r["municipality_code"]: json.loads(r["doses"]) for r in rows}
    assert [d["dose_number"] for d in doses["011002"]] == [1, 2]
    assert doses["131016"] == []
    assert "my_number_ciphertext" not in rows[0].keys()


async def test_statistics_are_counts_without_personal_fields(moved_person) -> None:
    await create_municipality("131041", provides_statistics=False)
    other = await create_resident("131041")
    await create_vaccination(other, "131041")
    async with tenant_transaction(None):
        national = await current_connection().fetch("SELECT * FROM vrs_statistics(NULL)")
        tokyo = await current_connection().fetch("SELECT * FROM vrs_statistics('13')")
    assert list(national[0].keys()) == [
        "municipality_code",
        "vaccinated_on",
        "dose_number",
        "doses",
    ]
    assert sorted((r["municipality_code"], r["dose_number"], r["doses"]) for r in national) == [
        ("011002", 1, 1),
        ("011002", 2, 1),
    ]
    assert tokyo == []  # Shinjuku does not provide statistics; Chiyoda has no doses


async def test_the_crossings_are_closed_to_anyone_but_the_serving_role(database) -> None:
    connection = await asyncpg.connect(database)
    try:
        grants = await connection.fetch(
            "SELECT p.proname, array_agg(DISTINCT g.grantee::regrole::text) AS grantees"
            " FROM pg_proc p, aclexplode(p.proacl) g"
            " WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace"
            " AND g.privilege_type = 'EXECUTE' GROUP BY p.proname"
        )
    finally:
        await connection.close()
    assert grants
    for row in grants:
        assert "-" not in row["grantees"], f"{row['proname']} is executable by PUBLIC"
        assert "vrs_app" in row["grantees"]
