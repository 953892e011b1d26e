"""Import benchmark: the real F1 import (read, check, encrypt, stage, upsert) of N generated
residents against, in the same run, a bare COPY of the same rows into the same tables as their
owner with no validation (the ratio baseline/import; goal ≥ 0.5, and < 30 s at 1,000,000).
Then an update import of N/10 changed rows (a new name each, the old one kept in the history)
into the area just loaded (goal < 15 s for 100,000 into 1,000,000).

The benchmark builds its own database (dropped and created again on every run):

    .venv/bin/python bench/import.py --rows 100000
    .venv/bin/python bench/import.py --full            # 1,000,000 residents, 100,000 updated
    .venv/bin/python bench/import.py --rows 100000 --profile /tmp/import.prof

Not part of the test suite. Figures taken on a shared machine are distorted; the ratio, measured
in the same run, is the figure that travels.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import figure  # noqa: E402

HEADER = "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号\n"
SERVER = os.environ.get("VRS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")


async def recreate_database(name: str) -> str:
    """Drop and create the benchmark's own database; its URL."""
    import asyncpg

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{SERVER}/{name}"


def write_file(path: Path, rows: int, name: str = "試験 太郎", step: int = 1) -> None:
    """N residents with a My Number and a ticket each, as a municipal system exports them.

    With ``step`` > 1, every step-th resident of such a file (the same numbers and tickets),
    under ``name``: an update file.
    """
    from common.identifiers import my_number_check_digit

    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(0, rows * step, step):
            first = f"{(i + 1) * 7919 % 10**11:011d}"
            out.write(f"{i + 1},{first}{my_number_check_digit(first)},{name},シケン タロウ,"
                      f"19{i % 90 + 10}-04-01,{i % 2 + 1},{i + 1:010d}\n")  # fmt: skip


async def main(rows: int, updates: int, database: str, profile: Path | None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("vrs.imports").setLevel(logging.INFO)  # the import's step timings
    os.environ["DATABASE_URL"] = await recreate_database(database)
    os.environ.setdefault("VRS_SECRET_KEY", "bench-secret-" + "x" * 32)
    os.environ.setdefault("VRS_MY_NUMBER_KEY", "a" * 43 + "=")
    from common.settings import get_settings
    from db.engine import (
        current_connection,
        owner_transaction,
        start_serving_pool,
        tenant_transaction,
    )
    from db.imports.loader import run_import
    from db.imports.queries import create_job, job
    from db.migrate import migrate
    from db.residents.my_number import MyNumberVault
    from db.tenancy.queries import create_municipality

    await migrate()
    async with owner_transaction():
        await create_municipality("141003", "横浜市", "Yokohama")
        await create_municipality("271004", "大阪市", "Osaka")
    directory = Path(tempfile.mkdtemp(prefix="vrs-bench-"))
    source = directory / "residents.csv"
    write_file(source, rows)
    await start_serving_pool(4)
    code = "141003"
    async with tenant_transaction(code):
        job_id = await create_job(code, source.name, None)
    copy = directory / "copy.csv"
    copy.write_bytes(source.read_bytes())
    profiler = cProfile.Profile() if profile else None
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    await run_import(job_id, copy, code, MyNumberVault(get_settings().my_number_key))
    real = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    async with tenant_transaction(code):
        outcome = await job(job_id)
    assert outcome is not None
    # An update: `updates` residents of the area change their name (each keeps the old one in
    # its history), every check as in the first import.
    updated_seconds = None
    if updates:
        changed = directory / "changed.csv"
        write_file(changed, updates, name="試験 次郎", step=max(1, rows // updates))
        async with tenant_transaction(code):
            update_job_id = await create_job(code, changed.name, None)
        started = time.perf_counter()
        await run_import(update_job_id, changed, code, MyNumberVault(get_settings().my_number_key))
        updated_seconds = time.perf_counter() - started
        async with tenant_transaction(code):
            update_outcome = await job(update_job_id)
            assert update_outcome is not None
            history = await current_connection().fetchval("SELECT count(*) FROM resident_version")
    load_after = os.getloadavg()[0]
    # Baseline: COPY the same rows into the same tables as the owner, nothing checked.
    lines = source.read_text(encoding="utf-8").splitlines()[1:]
    started = time.perf_counter()
    async with owner_transaction():
        c = current_connection()
        ids = [uuid4() for _ in lines]
        records = []
        for rid, line in zip(ids, lines, strict=True):
            number, _, name, kana, birth, sex, _ = line.split(",")
            records.append((rid, "271004", number, name, kana, dt.date.fromisoformat(birth), sex))
        await c.copy_records_to_table(
            "resident", records=records,
            columns=["id", "municipality_code", "resident_number", "name", "name_kana", "birth_date", "sex"],
        )  # fmt: skip
        await c.copy_records_to_table(
            "ticket",
            records=[
                (uuid4(), "271004", line.split(",")[-1], rid)
                for rid, line in zip(ids, lines, strict=True)
            ],
            columns=["id", "municipality_code", "ticket_number", "resident"],
        )
    baseline = time.perf_counter() - started
    goal = "< 30 s at 1,000,000" if rows >= 1_000_000 else "(30 s is the goal at 1,000,000)"
    print(f"{'metric':<34}{'figure':>12}{'baseline':>12}{'ratio':>8}  goal")
    print(
        f"{'import of ' + format(rows, ',') + ' residents (s)':<34}{real:>12.2f}{baseline:>12.2f}"
        f"{baseline / real:>8.2f}  ratio ≥ 0.5, {goal}"
    )
    print(
        f"status {outcome['status']}: {outcome['residents_inserted']} added,"
        f" {outcome['rows_rejected']} rejected; {rows / real:,.0f} rows/s"
    )
    print(f"1-minute load average: {load_before:.1f} before, {load_after:.1f} after the import(s)")
    print("(shared 2-core machine: absolute figures are distorted; the ratio is same-run)")
    met = baseline / real >= 0.5 and (rows < 1_000_000 or real < 30)
    figure(f"import of {rows:,} residents", real, "s", baseline=baseline, ratio=baseline / real,
           goal="ratio ≥ 0.5; < 30 s at 1,000,000", met=met)  # fmt: skip
    if updated_seconds is not None:
        print(
            f"update of {updates:,} residents in an area of {rows:,}: {updated_seconds:.2f} s;"
            f" status {update_outcome['status']}: {update_outcome['residents_updated']} updated,"
            f" {update_outcome['rows_rejected']} rejected; {history} history rows"
        )
        figure(f"update import of {updates:,} changed rows into {rows:,}", updated_seconds, "s",
               goal="< 15 s for 100,000 into 1,000,000",
               met=updated_seconds < 15 if (updates, rows) == (100_000, 1_000_000) else None)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="1,000,000 residents")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database", default="vrs_bench_import")
    parser.add_argument("--updates", type=int, default=None,
                        help="then an update import of this many changed rows (default rows / 10)")  # fmt: skip
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    args = parser.parse_args()
    rows = 1_000_000 if args.full else args.rows
    updates = rows // 10 if args.updates is None else args.updates
    asyncio.run(main(rows, updates, args.database, args.profile))
