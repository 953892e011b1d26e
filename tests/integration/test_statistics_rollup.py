"""The counts the views read always equal the dose table counted directly.

Saves only append to ``dose_change``; the readers add what is pending to the
folded counts (``dose_rollup_now``), and folding moves it into ``dose_rollup``
without changing any figure.
"""

from __future__ import annotations

import datetime as dt
import random

from db.engine import current_connection, get_engine, owner_transaction
from db.statistics.folding import fold_dose_changes
from tests.factories import create_municipality, create_resident, create_vaccination

DIRECT = """
SELECT dimension, key, count(*) AS doses FROM (
    SELECT v.municipality_code, x.dimension, x.key
    FROM vaccination v LEFT JOIN resident r ON r.id = v.resident
    CROSS JOIN LATERAL (VALUES
        ('day', v.vaccinated_on::text), ('dose', v.dose_number::text),
        ('age', vrs_age_band(r.birth_date, v.vaccinated_on)),
        ('over_65', CASE WHEN extract(year FROM age(v.vaccinated_on, r.birth_date)) >= 65
                         THEN '65-' ELSE '-64' END),
        ('sex', r.sex::text), ('product', v.product::text), ('venue', v.venue_name::text),
        ('medical_worker', (r.priority_group = 'medical_worker')::text)
    ) AS x (dimension, key)
    WHERE v.status = 'active' AND v.municipality_code = $1
) d GROUP BY 1, 2
"""


async def rollup_and_direct(code: str, rollup_table: str = "dose_rollup_now") -> tuple[dict, dict]:
    async with owner_transaction():
        c = current_connection()
        rollup = {
            (r["dimension"], r["key"]): r["doses"]
            for r in await c.fetch(
                f"SELECT dimension, key, doses FROM {rollup_table}"
                " WHERE municipality_code = $1 AND doses <> 0",
                code,
            )
        }
        direct = {(r["dimension"], r["key"]): r["doses"] for r in await c.fetch(DIRECT, code)}
    return rollup, direct


async def test_rollups_follow_inserts_corrections_and_deletions(app) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    rng = random.Random(7)
    doses = []
    for n in range(25):
        person = await create_resident(
            "131016",
            birth_date=dt.date(rng.randint(1925, 2015), rng.randint(1, 12), 1),
            sex=rng.choice("12"),
            priority_group=rng.choice(["", "medical_worker"]),
        )
        for dose in range(1, rng.randint(1, 3) + 1):
            doses.append(
                await create_vaccination(
                    person,
                    dose_number=dose,
                    vaccinated_on=dt.date(2021, 5, 1) + dt.timedelta(days=30 * dose + n),
                    product=rng.choice(["pfizer-comirnaty", "moderna-spikevax"]),
                    venue_name=rng.choice(["会場A", "会場B", "会場C"]),
                )
            )
    await create_vaccination(await create_resident("011002"), "011002")  # another area's dose
    rollup, direct = await rollup_and_direct("131016")
    assert rollup == direct and sum(v for (d, _), v in rollup.items() if d == "dose") == len(doses)

    async with owner_transaction():  # a correction of several records in one statement, a deletion
        c = current_connection()
        await c.execute(
            "UPDATE vaccination SET product = 'takeda-nuvaxovid', venue_name = '会場D',"
            " version = version + 1 WHERE id = ANY($1::uuid[])",
            doses[:5],
        )
        await c.execute("UPDATE vaccination SET status = 'deleted' WHERE id = $1", doses[5])
    rollup, direct = await rollup_and_direct("131016")
    assert rollup == direct
    assert rollup[("product", "takeda-nuvaxovid")] == 5 and rollup[("venue", "会場D")] == 5
    other, other_direct = await rollup_and_direct("011002")
    assert other == other_direct and other[("dose", "1")] == 1

    # Folded: the same figures from the folded counts alone, nothing pending.
    await fold_dose_changes()
    folded, direct = await rollup_and_direct("131016", "dose_rollup")
    assert folded == direct == rollup
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM dose_change") == 0
    assert await rollup_and_direct("131016") == (folded, direct)


async def test_two_saves_of_one_area_and_day_do_not_wait_for_each_other(app) -> None:
    """A save's transaction holds no counter row: a second save of the same key counts at once."""
    await create_municipality("131016")
    first, second = await create_resident("131016"), await create_resident("131016")
    pool = get_engine().pool
    async with pool.acquire() as one, pool.acquire() as two:
        insert = (
            "INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type,"
            " dose_number, vaccinated_on, vaccinated_by_municipality_code, venue_name, product,"
            " lot_number, volume_ml, status, quality, quality_reasons, source, version,"
            " recorded_at, updated_at) VALUES (gen_random_uuid(), '131016', $1, $2, '1', 1,"
            " '2021-06-01', '131016', '会場A', 'pfizer-comirnaty', 'EY0779', 0.3, 'active', 'ok',"
            " '[]', 'test', 1, now(), now())"
        )
        for connection in (one, two):
            await connection.execute("BEGIN")
            await connection.execute(
                "SET LOCAL ROLE NONE; SET LOCAL lock_timeout = '2s';"
                " SELECT set_config('app.municipality_code', '131016', true)"
            )
        await one.execute(insert, first["id"], "0000000001")  # not committed: holds its locks
        await two.execute(insert, second["id"], "0000000002")  # would time out on a counter row
        await two.execute("COMMIT")
        await one.execute("COMMIT")
    rollup, direct = await rollup_and_direct("131016")
    assert rollup == direct and rollup[("dose", "1")] == 2
