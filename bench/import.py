"""Import benchmark: the real F1 import (read, check, encrypt, stage, upsert) of N generated
residents against, in the same run, a bare COPY of the same rows into the same table as its
owner with no validation (the ratio baseline/import; goal ≥ 0.5, and < 30 s at 1,000,000).

    DATABASE_URL=postgresql://postgres@127.0.0.1/vrs_bench .venv/bin/python bench/import.py [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号\n"


async def main(rows: int) -> None:
    os.environ.setdefault("VRS_SECRET_KEY", "bench-secret-" + "x" * 32)
    os.environ.setdefault("VRS_MY_NUMBER_KEY", "a" * 43 + "=")
    from common.identifiers import my_number_check_digit
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
    with source.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            first = f"{(i + 1) * 7919 % 10**11:011d}"
            out.write(f"{i + 1},{first}{my_number_check_digit(first)},試験 太郎,シケン タロウ,"
                      f"19{i % 90 + 10}-04-01,{i % 2 + 1},{i + 1:010d}\n")  # fmt: skip
    await start_serving_pool(4)
    code = "141003"
    async with tenant_transaction(code):
        job_id = await create_job(code, source.name, None)
    copy = directory / "copy.csv"
    copy.write_bytes(source.read_bytes())
    started = time.perf_counter()
    await run_import(job_id, copy, code, MyNumberVault(get_settings().my_number_key))
    real = time.perf_counter() - started
    async with tenant_transaction(code):
        outcome = await job(job_id)
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
    print(
        f"import of {rows} residents: {real:.2f} s ({outcome['residents_inserted']} added, status {outcome['status']})"
    )
    print(f"bare COPY baseline: {baseline:.2f} s; ratio baseline/import = {baseline / real:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="1,000,000 residents")
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(main(1_000_000 if args.full else args.rows))
