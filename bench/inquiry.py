"""Bulk inquiry benchmark: N My Numbers in one set-based crossing (goal: 10,000 < 3 s).

Baseline in the same run: the same N asked one by one through ``vrs_inquire_records``
(first 200, extrapolated). Small by default; ``--full`` for 10,000.

    DATABASE_URL=postgresql://postgres@127.0.0.1/vrs_bench .venv/bin/python bench/inquiry.py [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import figure  # noqa: E402


async def main(persons: int) -> None:
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
    from db.migrate import migrate
    from db.residents.my_number import MyNumberVault
    from db.tenancy.queries import create_municipality

    await migrate()
    vault = MyNumberVault(get_settings().my_number_key)
    numbers = [f"{i * 7919 % 10**11:011d}" for i in range(1, persons + 1)]
    numbers = [n + my_number_check_digit(n) for n in numbers]
    async with owner_transaction():
        await create_municipality("011002", "札幌市", "Sapporo")
        await create_municipality("131016", "千代田区", "Chiyoda")
        c = current_connection()
        if not await c.fetchval("SELECT count(*) FROM resident WHERE municipality_code = '011002'"):
            # Each person lived in Sapporo and moved to Chiyoda, which recorded the My Number
            # (an inquiry is only about the asking municipality's own residents).
            await c.copy_records_to_table(
                "resident",
                records=[
                    (
                        uuid4(),
                        area,
                        str(i),
                        vault.lookup_hash(n),
                        "試験",
                        "シケン",
                        dt.date(1960, 1, 1),
                        "1",
                    )
                    for area in ("011002", "131016")
                    for i, n in enumerate(numbers)
                ],
                columns=[
                    "id",
                    "municipality_code",
                    "resident_number",
                    "my_number_hmac",
                    "name",
                    "name_kana",
                    "birth_date",
                    "sex",
                ],
            )
    await start_serving_pool(2)
    hashes = [vault.lookup_hash(n) for n in numbers]
    async with tenant_transaction("131016"):
        started = time.perf_counter()
        rows = await current_connection().fetch(
            "SELECT * FROM vrs_inquire_records_bulk($1::text[], $2::text[], $3)",
            hashes,
            ["書面による同意: 同意書 1"] * persons,
            None,
        )
        bulk = time.perf_counter() - started
    sample = min(200, persons)
    async with tenant_transaction("131016"):
        started = time.perf_counter()
        for h in hashes[:sample]:
            await current_connection().fetch(
                "SELECT * FROM vrs_inquire_records($1, NULL, '書面による同意: 同意書 1')", h
            )
        single = (time.perf_counter() - started) / sample * persons
    print(f"bulk inquiry of {persons} persons: {bulk:.2f} s ({len(rows)} rows)")
    print(
        f"one by one (extrapolated from {sample}): {single:.2f} s; bulk is {single / bulk:.1f}x faster"
    )
    figure(f"bulk inquiry, {persons:,} persons", bulk, "s", baseline=single,
           ratio=single / bulk, goal="10,000 < 3 s",
           met=bulk < 3 if persons >= 10_000 else None)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="10,000 persons")
    args = parser.parse_args()
    asyncio.run(main(10_000 if args.full else 2_000))
