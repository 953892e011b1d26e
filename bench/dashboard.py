"""Dashboard benchmark (F6): the figures of the municipal, prefecture and national views at
1,000,000 and then 10,000,000 dose records, read through the app's own statistics functions
(the trigger-kept counts) and through one real HTTP request, against, in the same run, the naive
GROUP BY over the vaccination table giving the same figures.

    .venv/bin/python bench/dashboard.py                          # 1M, then 10M dose records
    .venv/bin/python bench/dashboard.py --rows 1000000           # one size only
    .venv/bin/python bench/dashboard.py --rows 1000000,3000000 --runs 50

It builds its own database (``vrs_bench_dashboard``, dropped and created again): municipalities
in four prefectures, residents, then doses written with ``INSERT … SELECT generate_series`` as
the owner, in statements of a few hundred thousand rows, so the statistics triggers fill the
counts exactly as production does (one upsert per statement). To build faster, the secondary
indexes of residents and doses are dropped while loading and built again before measuring
(those behind constraints stay), and the residents' search indexes (pg_trgm), which no
dashboard query uses, are not built again.

Goal: p95 < 100 ms at 10M and ≥ 20× faster than the naive query. Not in the test suite; on a
shared machine the absolute figures are distorted, the ratios (same run) less so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import figure as bench_figure  # noqa: E402

SERVER = os.environ.get("VRS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")
PREFECTURES = ("01", "13", "14", "27")
PER_PREFECTURE = 5
DOSES_PER_RESIDENT = 4
#: Doses written per INSERT statement (each statement fires the count trigger once).
STATEMENT_ROWS = 400_000
GOAL_MS = 100.0
GOAL_RATIO = 20.0


def municipality_codes() -> list[str]:
    from common.identifiers import municipality_check_digit

    codes = []
    for prefecture in PREFECTURES:
        for n in range(PER_PREFECTURE):
            jis = f"{prefecture}{101 + n:03d}"
            codes.append(jis + municipality_check_digit(jis))
    return codes


async def recreate_database(name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{SERVER}/{name}"


# --- building the data -------------------------------------------------------------

#: Residents [$2, $3) spread over the municipalities, and their doses in the same statement:
#: dose k of resident i on a first-dose day spread over half a year, then +21, +240, +420 days.
_RESIDENTS_AND_DOSES = """
WITH r AS (
    INSERT INTO resident (municipality_code, resident_number, name, name_kana, birth_date, sex,
                          priority_group)
    SELECT ($1::text[])[1 + i % cardinality($1::text[])], i::text, '試験 太郎', 'シケン タロウ',
           date '1925-01-01' + (i * 37 % 31000)::int, (1 + i % 2)::text,
           CASE WHEN i % 40 = 0 THEN 'medical_worker' ELSE '' END
    FROM generate_series($2::bigint, $3::bigint - 1) AS i
    RETURNING id, municipality_code, resident_number
)
INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number, vaccinated_on,
    vaccinated_by_municipality_code, venue_name, doctor_name, product, lot_number, volume_ml,
    source)
SELECT r.municipality_code, r.id, lpad(r.resident_number, 10, '0'), k,
       date '2021-03-01' + (r.resident_number::bigint * 7 % 180)::int
           + (ARRAY[0, 21, 240, 420])[k],
       r.municipality_code, '会場' || (r.resident_number::bigint % 8)::text, '医師 一郎',
       (ARRAY['comirnaty', 'comirnaty', 'spikevax', 'comirnaty-bivalent'])[k],
       'LOT' || k::text, 0.3, 'tablet'
FROM r CROSS JOIN generate_series(1, $4::int) AS k
"""


async def build(codes: list[str], residents_before: int, residents_after: int) -> float:
    """Add residents [before, after) and their doses, a statement per transaction; seconds."""
    from db.engine import current_connection, owner_transaction

    started = time.perf_counter()
    async with owner_transaction():  # bulk-load: secondary indexes are built again afterwards
        saved = await current_connection().fetch(
            "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid IN ('vaccination'::regclass, 'resident'::regclass)"
            " AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )
        for index in saved:
            await current_connection().execute(f'DROP INDEX "{index["name"]}"')
    step = STATEMENT_ROWS // DOSES_PER_RESIDENT
    for start in range(residents_before, residents_after, step):
        end = min(start + step, residents_after)
        async with owner_transaction():
            await current_connection().execute(
                _RESIDENTS_AND_DOSES, codes, start, end, DOSES_PER_RESIDENT
            )
        print(f"  … {end * DOSES_PER_RESIDENT:,} dose records", flush=True)
    async with owner_transaction():
        for index in saved:
            await current_connection().execute(index["definition"])
    async with owner_transaction():
        await current_connection().execute("ANALYZE")
    return time.perf_counter() - started


# --- what is measured -----------------------------------------------------------------

#: The naive query: vrs_age_band written out (the function, with its pinned search_path, is not
#: inlined, and calling it per row would make the baseline slower than it need be).
_NAIVE_ROWS = """
SELECT v.municipality_code, v.vaccinated_on, v.dose_number,
       CASE WHEN r.birth_date IS NULL THEN 'unknown'
            WHEN a.years < 5 THEN '0-4' WHEN a.years < 12 THEN '5-11'
            WHEN a.years < 20 THEN '12-19' WHEN a.years >= 100 THEN '100-'
            ELSE (a.years / 10 * 10)::text || '-' || (a.years / 10 * 10 + 9)::text
       END AS age_band,
       coalesce(extract(year FROM age(v.vaccinated_on, r.birth_date)) >= 65, false) AS over_65,
       coalesce(r.sex, '') AS sex,
       coalesce(r.priority_group = 'medical_worker', false) AS medical_worker,
       v.product, v.venue_name, count(*) AS doses
FROM vaccination v
LEFT JOIN resident r ON r.id = v.resident AND r.municipality_code = v.municipality_code
CROSS JOIN LATERAL (SELECT extract(year FROM age(v.vaccinated_on, r.birth_date))::int AS years) a
WHERE v.status = 'active' AND {scope}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""


async def naive_municipality(connection: Any, code: str) -> dict[str, Any]:
    """The municipal figures by GROUP BY over the dose table (what the counts replace)."""
    from db.statistics.queries import _figures

    rows = await connection.fetch(_NAIVE_ROWS.format(scope="v.municipality_code = $1"), code)
    population = await connection.fetchval(
        "SELECT count(*) FROM resident WHERE municipality_code = $1 AND status = 'active'"
        " AND moved_out_on IS NULL AND deceased_on IS NULL",
        code,
    )
    return _figures(rows, int(population))


async def naive_viewer(connection: Any, prefecture: str | None) -> dict[str, Any]:
    """Prefecture or national figures by GROUP BY over the dose table."""
    from db.statistics.queries import _figures

    scope = "left(v.municipality_code, 2) = $1" if prefecture else "$1::text IS NULL"
    rows = await connection.fetch(_NAIVE_ROWS.format(scope=scope), prefecture)
    population = await connection.fetchval(
        "SELECT count(*) FROM resident WHERE ($1::text IS NULL OR left(municipality_code, 2) = $1)"
        " AND status = 'active' AND moved_out_on IS NULL AND deceased_on IS NULL",
        prefecture,
    )
    return _figures(rows, int(population))


async def timings(
    work: Callable[[], Awaitable[Any]], runs: int, warm_up: bool = True
) -> list[float]:
    """Milliseconds of each of ``runs`` calls, after one warm-up call (if asked)."""
    if warm_up:
        await work()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def signed_in_client(app: Any, code: str) -> Any:
    """An HTTP client of the app in this loop, signed in as a clerk of ``code``."""
    import httpx

    from db.accounts.roles import Role
    from tests.factories import create_account, sign_in

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    )
    await sign_in(client, await create_account("bench-clerk", Role.CLERK, code))
    return client


async def measure(size: int, codes: list[str], runs: int, naive_runs: int, app: Any) -> list[tuple]:
    """(metric, app p50, app p95, naive p50, naive p95) rows for one size."""
    from db.engine import current_connection, owner_transaction, tenant_transaction
    from db.statistics.queries import municipality_figures, viewer_figures

    code, prefecture = codes[0], codes[0][:2]

    async def app_municipal() -> dict[str, Any]:
        async with tenant_transaction(code):
            return await municipality_figures()

    async def app_viewer(scope: str | None) -> dict[str, Any]:
        async with tenant_transaction(None):
            return await viewer_figures(scope)

    async def naive(fn: Callable[..., Awaitable[Any]], *args: Any) -> dict[str, Any]:
        async with owner_transaction():
            return await fn(current_connection(), *args)

    client = await signed_in_client(app, code)

    async def http() -> None:
        response = await client.get("/dashboard", headers={"hx-request": "true"})
        assert response.status_code == 200, response.status_code

    cases = [
        ("municipal view", app_municipal, lambda: naive(naive_municipality, code)),
        (
            "prefecture view",
            lambda: app_viewer(prefecture),
            lambda: naive(naive_viewer, prefecture),
        ),
        ("national view", lambda: app_viewer(None), lambda: naive(naive_viewer, None)),
    ]
    rows = []
    for name, fast, slow in cases:
        started = time.perf_counter()
        theirs = await slow()  # timed: at 10M one naive call takes minutes
        first_slow = (time.perf_counter() - started) * 1000
        mine = await fast()
        same = all(mine[k] == theirs[k] for k in ("total", "population", "by_day", "by_dose",
                                                     "by_age", "by_product"))  # fmt: skip
        if not same:
            print(f"!! {name}: the counts differ from the naive GROUP BY", flush=True)
        fast_ms = await timings(fast, runs)
        slow_ms = [first_slow] + await timings(slow, naive_runs - 1, warm_up=False)
        rows.append((f"{name} @{size:,}", fast_ms, slow_ms, same))
        print(f"  measured {name}", flush=True)
    http_ms = await timings(http, runs)
    slow_ms = next(r[2] for r in rows if r[0].startswith("municipal"))
    rows.append((f"GET /dashboard (htmx) @{size:,}", http_ms, slow_ms, True))
    await client.aclose()
    async with owner_transaction():
        counts = await current_connection().fetchval("SELECT count(*) FROM dose_count")
    print(f"  dose_count rows: {counts:,} for {size:,} dose records", flush=True)
    return rows


def report(rows: list[tuple]) -> None:
    print()
    print(f"{'metric':<44}{'figure':>12}{'baseline':>12}{'ratio':>9}  goal")
    for name, fast, slow, same in rows:
        for q in (50, 95):
            figure, baseline = p(fast, q), p(slow, q)
            ratio = baseline / figure if figure else float("inf")
            ok = figure < GOAL_MS and ratio >= GOAL_RATIO
            print(
                f"{name + f' p{q} (ms)':<44}{figure:>12.1f}{baseline:>12.1f}{ratio:>8.1f}×"
                f"  p95 < {GOAL_MS:.0f} ms, ≥ {GOAL_RATIO:.0f}× {'(met)' if ok else '(not met)'}"
                f"{'' if same else ' COUNTS DIFFER'}"
            )
            if q == 95:
                bench_figure(f"{name} p95", figure, "ms", baseline=baseline, ratio=ratio,
                             goal=f"p95 < {GOAL_MS:.0f} ms, ≥ {GOAL_RATIO:.0f}×",
                             met=ok and same)  # fmt: skip
    print("(baseline: the naive GROUP BY over vaccination ⋈ resident giving the same figures;"
          " shared 2-core machine: figures distorted)")  # fmt: skip


async def main(
    sizes: list[int], runs: int, naive_runs: int, database: str, build_only: bool, reuse: bool
) -> None:
    url = f"{SERVER}/{database}" if reuse else await recreate_database(database)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("VRS_SECRET_KEY", "bench-secret-" + "x" * 32)
    os.environ.setdefault("VRS_MY_NUMBER_KEY", "a" * 43 + "=")
    os.environ.setdefault("VRS_DATA_DIR", str(Path.home() / ".cache" / "vrs-bench-dashboard"))
    os.environ.setdefault("VRS_LOG_LEVEL", "WARNING")
    from common.settings import load_settings
    from db.engine import current_connection, owner_transaction, start_serving_pool
    from db.migrate import migrate
    from db.tenancy.queries import create_municipality
    from web.app import create_app

    await migrate()  # on a reused database: the migrations added since it was built
    codes = municipality_codes()
    async with owner_transaction():
        for code in codes:
            await create_municipality(code, f"市{code}", f"City {code}")
        await current_connection().execute(
            "DROP INDEX IF EXISTS resident_name_trgm; DROP INDEX IF EXISTS resident_name_kana_trgm"
        )
        built = await current_connection().fetchval("SELECT count(*) FROM vaccination")
        await current_connection().execute("DELETE FROM account WHERE login = 'bench-clerk'")
    await start_serving_pool(4)
    app = create_app(load_settings(), manage_pool=False)
    rows: list[tuple] = []
    residents = built // DOSES_PER_RESIDENT
    for size in sorted(sizes):
        target = size // DOSES_PER_RESIDENT
        if target > residents:
            print(f"building {size:,} dose records …", flush=True)
            seconds = await build(codes, residents, target)
            print(f"  built in {seconds:.0f} s", flush=True)
            residents = target
        if build_only:
            continue
        rows += await measure(residents * DOSES_PER_RESIDENT, codes, runs, naive_runs, app)
        report(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,10000000", help="dose records, comma-separated")
    parser.add_argument("--runs", type=int, default=30, help="timed calls of each fast path")
    parser.add_argument("--naive-runs", type=int, default=3, help="timed calls of each naive query")
    parser.add_argument("--database", default="vrs_bench_dashboard")
    parser.add_argument("--build-only", action="store_true", help="build the data, measure nothing")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database (and what is built) from a last run"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    asyncio.run(main(sizes, args.runs, args.naive_runs, args.database, args.build_only, args.reuse))
