"""The primary's load from statistics requests, without and with a hot standby (DATABASE_REPLICA_URL).

    .venv/bin/python bench/replica_reads.py [--requests 300] [--tablets 4] [--saves 400]

A PostgreSQL of the bench's own and a streaming standby of it
(``tests/reliability/own_postgres.py``). ``vrs serve`` runs twice on the same
data: once with only DATABASE_URL, once with DATABASE_REPLICA_URL set to the
standby. Each time a national viewer asks ``/api/v1/statistics`` ``--requests``
times while ``--tablets`` tablets save doses; the primary's
``pg_stat_database`` counters (transactions, rows read, buffer reads) are
read before and after, and so are the standby's. Prints one line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.soak import run_tablets, seed_in_subprocess, sign_in_tablet  # noqa: E402
from tests.factories import sign_in  # noqa: E402
from tests.reliability.own_postgres import remove, running_own_postgres, start_standby_of  # noqa: E402
from tests.server_process import ROOT, vrs_server  # noqa: E402

VIEWER_PASSWORD = "national viewer password"  # noqa: S105 - a bench account
DATABASE = "vrs_replica_bench"
COUNTERS = (
    "SELECT xact_commit + xact_rollback AS transactions, tup_returned + tup_fetched AS rows_read,"
    " blks_hit + blks_read AS buffers FROM pg_stat_database WHERE datname = $1"
)


async def counters(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(COUNTERS, DATABASE)
        return dict(row)
    finally:
        await connection.close()


async def one_run(
    url: str, standby_url: str, replica: bool, seeded: dict, args: argparse.Namespace, first: int
) -> str:
    extra = {"DATABASE_REPLICA_URL": f"{standby_url}/{DATABASE}"} if replica else {}
    log = Path(tempfile.mkdtemp(prefix="vrs-replica-bench-")) / "server.log"
    with vrs_server(f"{url}/{DATABASE}", log_path=log, extra_env=extra) as base:
        viewer = httpx.AsyncClient(base_url=base, timeout=30)
        await sign_in(viewer, "bench-viewer", VIEWER_PASSWORD)
        tablets = [
            await sign_in_tablet(base, login, seeded["password"], seeded["devices"][login])
            for login in seeded["logins"]
        ]
        await viewer.get("/api/v1/statistics")  # warm up both pools
        await asyncio.sleep(1.5)  # pg_stat_database is flushed about once a second
        primary_before = await counters(f"{url}/postgres")
        standby_before = await counters(f"{standby_url}/postgres")
        started = time.perf_counter()

        async def statistics() -> None:
            for _ in range(args.requests):
                response = await viewer.get("/api/v1/statistics")
                assert response.status_code == 200, response.text[:200]

        saves = run_tablets(tablets, args.saves, first_ticket=first)
        _, result = await asyncio.gather(statistics(), saves)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.5)
        primary_after = await counters(f"{url}/postgres")
        standby_after = await counters(f"{standby_url}/postgres")
        await viewer.aclose()
        for tablet in tablets:
            await tablet.client.aclose()
    primary = {k: primary_after[k] - primary_before[k] for k in primary_after}
    standby = {k: standby_after[k] - standby_before[k] for k in standby_after}
    return (
        f"{'with' if replica else 'without'} replica: primary {primary['transactions']} transactions,"
        f" {primary['rows_read']} rows read, {primary['buffers']} buffer reads; standby"
        f" {standby['transactions']} transactions, {standby['rows_read']} rows read;"
        f" {len(result.acknowledged)} saves in {elapsed:.1f} s"
        f" ({len(result.acknowledged) / elapsed:.0f}/s) beside {args.requests} statistics requests"
    )


async def main(args: argparse.Namespace) -> None:
    with running_own_postgres() as primary:
        admin = await asyncpg.connect(f"{primary.url}/postgres")
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        await admin.close()
        url = f"{primary.url}/{DATABASE}"
        seeded = seed_in_subprocess(url, args.tablets, 2 * args.saves)
        subprocess.run(
            [sys.executable, "-m", "cli", "create-user", "--login", "bench-viewer",
             "--role", "national_viewer", "--password-env", "VIEWER_PASSWORD"],
            env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
                 "VIEWER_PASSWORD": VIEWER_PASSWORD},
            check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        standby = start_standby_of(primary)
        try:
            print(await one_run(primary.url, standby.url, False, seeded, args, 0))
            print(await one_run(primary.url, standby.url, True, seeded, args, args.saves))
        finally:
            remove(standby)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tablets", type=int, default=4)
    parser.add_argument("--saves", type=int, default=400)
    os.environ.setdefault("VRS_SECRET_KEY", "bench-secret-" + "x" * 32)
    os.environ.setdefault("VRS_MY_NUMBER_KEY", base64.b64encode(b"b" * 32).decode())
    os.environ["VRS_DATA_DIR"] = tempfile.mkdtemp(prefix="vrs-bench-replica-")
    os.environ.setdefault("VRS_LOG_LEVEL", "WARNING")
    asyncio.run(main(parser.parse_args()))
