"""The two statements of the usual venue save, and the races they hand to the locked path.

``vrs_save_context`` reads; ``vrs_save_dose`` writes only if the person's
active doses are still the ones read (else ``stale``) and the key is still
unused (else ``replayed``), writing nothing in either case. Both run as the
serving role and see only the area they are given (row-level security).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from db.engine import current_connection, owner_transaction, tenantless_statement
from tests.factories import create_municipality, create_resident, create_vaccination

_WRITE = (
    "SELECT * FROM vrs_save_dose($1, $2, $3::jsonb, $4, '1', $5, $6, '会場', NULL, '医師',"
    " 'pfizer-comirnaty', 'EY0779', 0.3, 'ok', '[]'::jsonb, 'api', $7, NULL, 'venue_operator', 'f')"
)


async def _context(municipality: str, ticket: str, key: str) -> Any:
    async with tenantless_statement() as connection:
        return await connection.fetchrow(
            "SELECT * FROM vrs_save_context($1, NULL, $2, $3)", municipality, ticket, key
        )


async def _write(
    municipality: str, person: dict[str, Any], judged: str, dose: int, key: str
) -> Any:
    async with tenantless_statement() as connection:
        return await connection.fetchrow(
            _WRITE, municipality, person["id"], judged, person["ticket_number"], dose,
            dt.date(2021, 6, 1) + dt.timedelta(days=28 * dose), key,
        )  # fmt: skip


async def _rows(table: str, where: str = "true") -> int:
    async with owner_transaction():
        return int(
            await current_connection().fetchval(f"SELECT count(*) FROM {table} WHERE {where}")
        )


async def test_the_read_gives_the_person_their_doses_and_whether_the_key_was_used(app) -> None:
    await create_municipality("131016")
    person = await create_resident("131016")
    await create_vaccination(person, dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    row = await _context("131016", person["ticket_number"], "key-1")
    assert row["resident_id"] == person["id"] and row["birth_date"] == person["birth_date"]
    assert row["venue_open"] is True and row["key_used"] is False  # a clerk: no venue
    assert [d["dose_number"] for d in json.loads(row["doses"])] == [1]


async def test_the_read_sees_only_the_area_it_is_given(app) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    sapporo = await create_resident("011002")
    row = await _context("131016", sapporo["ticket_number"], "key-1")
    assert row["resident_id"] is None and row["name"] is None


async def test_a_dose_saved_meanwhile_makes_the_write_stale_and_it_writes_nothing(app) -> None:
    await create_municipality("131016")
    person = await create_resident("131016")
    judged = (await _context("131016", person["ticket_number"], "key-a"))["doses"]
    await create_vaccination(person, dose_number=1)  # another tablet, after our read
    doses, audits = await _rows("vaccination"), await _rows("audit_event")
    written = await _write("131016", person, judged, 1, "key-a")
    assert written["outcome"] == "stale" and written["vaccination_id"] is None
    assert (await _rows("vaccination"), await _rows("audit_event")) == (doses, audits)
    assert await _rows("venue_log") == 0


async def test_a_key_used_meanwhile_is_a_replay_and_writes_nothing(app) -> None:
    await create_municipality("131016")
    person, other = await create_resident("131016"), await create_resident("131016")
    key = uuid.uuid4().hex
    judged = (await _context("131016", person["ticket_number"], key))["doses"]
    first = await _write("131016", other, "[]", 1, key)  # the same key, saved by a retry first
    assert first["outcome"] == "created"
    again = await _write("131016", person, judged, 1, key)
    assert again["outcome"] == "replayed" and again["vaccination_id"] is None
    assert await _rows("vaccination") == 1 and await _rows("venue_log") == 1


async def test_a_write_stores_the_dose_its_audit_event_and_its_venue_log_line(app) -> None:
    await create_municipality("131016")
    person = await create_resident("131016")
    judged = (await _context("131016", person["ticket_number"], "key-w"))["doses"]
    written = await _write("131016", person, judged, 1, "key-w")
    assert written["outcome"] == "created"
    made = f"id = '{written['vaccination_id']}' AND resident = '{person['id']}'"
    assert await _rows("vaccination", made) == 1
    assert await _rows("audit_event", f"object_id = '{written['vaccination_id']}'") == 1
    assert await _rows("venue_log", f"vaccination_id = '{written['vaccination_id']}'") == 1
    assert await _rows("dose_change", "municipality_code = '131016'") == 1  # counted, no lock
