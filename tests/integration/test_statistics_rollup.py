"""``dose_rollup`` (what the views read) always equals the dose table counted directly."""

from __future__ import annotations

import datetime as dt
import random

from db.engine import current_connection, owner_transaction
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


async def rollup_and_direct(code: str) -> tuple[dict, dict]:
    async with owner_transaction():
        c = current_connection()
        rollup = {
            (r["dimension"], r["key"]): r["doses"]
            for r in await c.fetch(
                "SELECT dimension, key, doses FROM dose_rollup"
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
