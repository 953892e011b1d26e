"""Venue saves per second and latency, against a one-insert baseline in the same run.

    .venv/bin/python bench/venue_save.py [--saves 4000] [--tablets 50] [--rate 200] [--workers 2]

(a) Throughput: ``--tablets`` concurrent simulated tablets each POST
    /api/v1/vaccinations for a different ticket (the real route: parsing,
    rules, lock, idempotency, audit, venue log), against bench/baseline_app.py
    (one INSERT through asyncpg) served by the same uvicorn command, workers
    and pool size. The timer stops when every row is queryable.
(b) Latency at a fixed rate (``--rate`` saves/second): p50 and p99.

Prints figures; asserts nothing. Uses PostgreSQL at DATABASE_URL's server or
127.0.0.1:5432 with a database of its own (dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("VRS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "vrs_bench_venue"


def env(database_url: str, pool: int) -> dict[str, str]:
    data = tempfile.mkdtemp(prefix="vrs-bench-")
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "VRS_DATA_DIR": data,
        "VRS_SECRET_KEY": "bench-secret-" + "x" * 32,
        "VRS_MY_NUMBER_KEY": base64.b64encode(b"b" * 32).decode(),
        "VRS_DB_POOL_SIZE": str(pool),
        "VRS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


async def prepare(url: str, residents: int, environment: dict[str, str]) -> str:
    """A migrated database with one municipality, a venue operator (token) and residents."""
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    run = [sys.executable, "-m", "cli"]
    subprocess.run([*run, "migrate"], env=environment, check=True, capture_output=True)
    subprocess.run(
        [*run, "create-municipality", "131016", "千代田区", "Chiyoda City"],
        env=environment,
        check=True,
        capture_output=True,
    )
    connection = await asyncpg.connect(url)
    await connection.execute(
        "INSERT INTO venue (id, municipality_code, code, name, kind, address, active, created_at)"
        " VALUES (gen_random_uuid(), '131016', 'V001', '会場', 'venue', '', true, now())"
    )
    now = dt.datetime.now(dt.UTC)
    people = [(uuid.uuid4(), f"{n}") for n in range(residents)]
    await connection.copy_records_to_table(
        "resident", columns=["id", "municipality_code", "resident_number", "name", "name_kana", "birth_date", "sex", "created_at", "updated_at"],
        records=[(pid, "131016", number, "試験 太郎", "シケン タロウ", dt.date(1960, 1, 1), "1", now, now) for pid, number in people],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "ticket", columns=["id", "municipality_code", "ticket_number", "resident", "ticket_type", "status", "created_at", "updated_at"],
        records=[(uuid.uuid4(), "131016", f"{n:010d}", pid, "1", "valid", now, now) for n, (pid, _) in enumerate(people)],
    )  # fmt: skip
    await connection.close()
    subprocess.run(
        [*run, "create-user", "--login", "bench-op", "--role", "venue_operator", "--municipality", "131016",
         "--venue", "V001", "--generate-password"], env=environment, check=True, capture_output=True,
    )  # fmt: skip
    token = subprocess.run(
        [*run, "create-token", "--login", "bench-op"],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return token.stdout.strip()


def start(command: list[str], environment: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def body(n: int) -> dict[str, str]:
    return {"ticket": f"11131016{n:010d}", "dose_number": "1", "vaccinated_on": "2022-11-01",
            "product": "pfizer-comirnaty", "lot_number": "GE0123", "volume_ml": "0.3", "doctor_name": "医師",
            "birth_date": "19600101"}  # fmt: skip


async def throughput(
    url: str, headers: dict[str, str], tickets: range, tablets: int
) -> tuple[float, list[float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in tickets:
        queue.put_nowait(n)
    latencies: list[float] = []
    errors = 0

    async def tablet(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            n = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(
                url, json=body(n), headers={**headers, "Idempotency-Key": f"bench-{n:010d}"}
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code not in (200, 201):
                errors += 1

    limits = httpx.Limits(max_connections=tablets)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(tablet(client) for _ in range(tablets)))
        elapsed = time.perf_counter() - started
    if errors:
        print(f"  ! {errors} errors", file=sys.stderr)
    return len(tickets) / elapsed, latencies


async def fixed_rate(url: str, headers: dict[str, str], tickets: range, rate: float) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as client:

        async def one(n: int) -> None:
            started = time.perf_counter()
            await client.post(
                url, json=body(n), headers={**headers, "Idempotency-Key": f"bench-{n:010d}"}
            )
            latencies.append(time.perf_counter() - started)

        tasks = []
        begin = time.perf_counter()
        for index, n in enumerate(tickets):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--saves", type=int, default=4000)
    parser.add_argument("--tablets", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--rate-saves", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=10)
    args = parser.parse_args()

    url = f"{SERVER}/{DATABASE}"
    environment = env(url, args.pool)
    token = await prepare(url, args.saves + args.rate_saves, environment)
    headers = {"Authorization": f"Bearer {token}"}
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--workers",
        str(args.workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]

    real = start([*uvicorn, "--port", "8701", "--factory", "web.app:create_app"], environment, 8701)
    try:
        real_rate, real_latency = await throughput(
            "http://127.0.0.1:8701/api/v1/vaccinations", headers, range(args.saves), args.tablets
        )
        at_rate = await fixed_rate("http://127.0.0.1:8701/api/v1/vaccinations", headers,
                                   range(args.saves, args.saves + args.rate_saves), args.rate)  # fmt: skip
    finally:
        real.terminate()
        real.wait()
    connection = await asyncpg.connect(url)
    stored = await connection.fetchval("SELECT count(*) FROM vaccination")
    await connection.close()

    base = start([*uvicorn, "--port", "8702", "bench.baseline_app:app"], environment, 8702)
    try:
        base_rate, base_latency = await throughput(
            "http://127.0.0.1:8702/save", {}, range(args.saves), args.tablets
        )
    finally:
        base.terminate()
        base.wait()

    print(
        f"venue saves, {args.tablets} tablets, {args.saves} saves, {args.workers} workers, pool {args.pool}"
    )
    print(
        f"  real route     {real_rate:8.1f} saves/s   p50 {percentile(real_latency, 0.5):6.1f} ms  p99 {percentile(real_latency, 0.99):6.1f} ms"
    )
    print(
        f"  baseline       {base_rate:8.1f} saves/s   p50 {percentile(base_latency, 0.5):6.1f} ms  p99 {percentile(base_latency, 0.99):6.1f} ms"
    )
    print(f"  ratio          {real_rate / base_rate:8.2f}   (goal >= 0.4)")
    print(
        f"  at {args.rate:.0f}/s        p50 {percentile(at_rate, 0.5):6.1f} ms  p99 {percentile(at_rate, 0.99):6.1f} ms   (goal p99 < 50 ms)"
    )
    print(
        f"  rows stored    {stored} of {args.saves + args.rate_saves} saves  (mean {statistics.mean(real_latency) * 1000:.1f} ms)"
    )

    ratio = real_rate / base_rate
    figure("saves/s, 50 tablets", real_rate, "saves/s", baseline=base_rate,
           goal="ratio ≥ 0.4", met=ratio >= 0.4)  # fmt: skip
    p99 = percentile(at_rate, 0.99)
    figure(f"p99 at {args.rate:.0f} saves/s", p99, "ms", goal="< 50 ms", met=p99 < 50)
    lost = args.saves + args.rate_saves - stored
    figure("saves not stored", lost, "rows", goal="0", met=lost == 0)

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
