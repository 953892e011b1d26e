"""Soak: many simulated venue tablets saving doses against the real server; nothing lost.

    .venv/bin/python bench/soak.py [--tablets 50] [--saves 20000] [--duration 0] [--workers 2]

Each tablet is its own venue operator, signed in through the real form (its
own session cookie and CSRF token), and saves through ``POST
/api/v1/vaccinations`` exactly as ``web/static/venue.js`` does: one
Idempotency-Key per save, and the same key again after a network error or a
5xx until the server answers. At the end the database is counted against the
acknowledged saves. Prints saves/s, p50/p95/p99 latency, lost, duplicated and
errors, with a baseline measured in the same run (``GET /healthz`` on the
same server, same tablets). Uses PostgreSQL at ``VRS_BENCH_SERVER`` (default
127.0.0.1:5432) with a database of its own, dropped at the end.

The tablet simulator, the seeding and the count are also used by the suite's
reliability tests (``tests/reliability/``), so the test and the bench measure
the same thing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.server_process import vrs_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MUNICIPALITY = "131016"
PASSWORD = "soak tablet password"  # noqa: S105 - generated test accounts only
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


# --- seeding (runs in a subprocess whose DATABASE_URL is the target) ----------


async def seed(tablets: int, residents: int) -> dict[str, Any]:
    """One municipality, ``tablets`` venues each with an operator, ``residents`` with tickets."""
    import datetime as dt

    from db.accounts.queries import create_account
    from db.accounts.roles import Role
    from db.devices.queries import enrol_device, issue_device
    from db.engine import current_connection, owner_transaction
    from db.migrate import migrate
    from db.tenancy.queries import (
        TermsAgreed,
        create_municipality,
        create_venue,
        ensure_prefectures,
    )
    from db.vaccines.loader import load_master_data

    await migrate()
    logins: list[str] = []
    devices: dict[str, str] = {}
    async with owner_transaction():
        await ensure_prefectures()
        await load_master_data()
        await create_municipality(
            MUNICIPALITY, "千代田区", "Chiyoda City", "千代田区長", TermsAgreed()
        )
        for n in range(tablets):
            venue = await create_venue(MUNICIPALITY, f"S{n:03d}", f"会場{n:03d}")
            login = f"soak-tablet-{n:03d}"
            account = await create_account(
                login=login, display_name=login, password=PASSWORD,
                role=Role.VENUE_OPERATOR, municipality_code=MUNICIPALITY, venue_id=venue,
            )  # fmt: skip
            # The tablet is a registered device of its venue (the admin's code, enrolled once).
            _, code = await issue_device(municipality_code=MUNICIPALITY, venue_id=venue,
                                         label=f"tablet {n:03d}", created_by=account)  # fmt: skip
            _, credential = await enrol_device(code, venue_id=venue, enrolled_by=account)
            logins.append(login)
            devices[login] = credential
        now = dt.datetime.now(dt.UTC)
        people = [(uuid.uuid4(), n) for n in range(residents)]
        connection = current_connection()
        await connection.copy_records_to_table(
            "resident", columns=["id", "municipality_code", "resident_number", "name", "name_kana", "birth_date", "sex", "created_at", "updated_at"],
            records=[(pid, MUNICIPALITY, f"soak{n}", "試験 太郎", "シケン タロウ", dt.date(1960, 1, 1), "1", now, now) for pid, n in people],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "ticket", columns=["id", "municipality_code", "ticket_number", "resident", "ticket_type", "status", "created_at", "updated_at"],
            records=[(uuid.uuid4(), MUNICIPALITY, f"{n:010d}", pid, "1", "valid", now, now) for pid, n in people],
        )  # fmt: skip
    return {"logins": logins, "devices": devices, "password": PASSWORD, "residents": residents}


def seed_in_subprocess(database_url: str, tablets: int, residents: int) -> dict[str, Any]:
    """Run :func:`seed` against ``database_url`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "seed",
         "--tablets", str(tablets), "--residents", str(residents)],
        env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- tablets -----------------------------------------------------------------


@dataclass
class Tablet:
    """One signed-in venue tablet: its own cookie jar and CSRF token."""

    login: str
    client: httpx.AsyncClient
    csrf: str


async def sign_in_tablet(
    base: str, login: str, password: str, device: str, request_timeout: float = 15.0
) -> Tablet:
    """Sign in through the real form (on the tablet's device) and read the venue page's CSRF token."""
    from web.access import DEVICE_COOKIE

    client = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(request_timeout))
    client.cookies.set(DEVICE_COOKIE, device)
    page = await client.get("/sign-in")
    token = _CSRF_INPUT.search(page.text)
    assert token, "no CSRF token on /sign-in"
    signed = await client.post(
        "/sign-in",
        data={
            "login": login,
            "password": password,
            "_csrf_token": token.group(1),
            "next": "/venue",
        },
    )
    venue = await client.get("/venue")
    token = _CSRF_INPUT.search(venue.text)
    if venue.status_code != 200 or token is None:
        await client.aclose()
        raise RuntimeError(
            f"{login} could not open /venue: {signed.status_code} {venue.status_code}"
        )
    return Tablet(login, client, token.group(1))


def dose_body(ticket: int) -> dict[str, str]:
    """A first dose that passes every rule (the residents are born in 1960)."""
    return {"ticket": f"11{MUNICIPALITY}{ticket:010d}", "dose_number": "1",
            "vaccinated_on": "2022-11-01", "product": "pfizer-comirnaty", "lot_number": "GE0123",
            "volume_ml": "0.3", "doctor_name": "医師 一郎", "birth_date": "19600101"}  # fmt: skip


@dataclass
class SoakResult:
    """What the tablets saw."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    """Idempotency key → vaccination id the server acknowledged (200/201)."""
    created: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from the first attempt of a save to its acknowledgement."""
    errors: list[str] = field(default_factory=list)
    """Saves the server refused for good (4xx): each one is a failure of the soak."""
    retries: int = 0
    failed_attempts: list[tuple[int | None, str]] = field(default_factory=list)
    """(status or None for a network error, body) of each attempt that will be retried."""
    elapsed: float = 0.0


async def save_like_the_tablet(
    tablet: Tablet, ticket: int, result: SoakResult, *, give_up_after: float = 120.0,
    acknowledged_at: dict[str, float] | None = None,
) -> None:  # fmt: skip
    """One save with venue.js's retry: same key after a network error or 5xx, until answered."""
    key = f"soak-{uuid.uuid4().hex}"
    headers = {"Idempotency-Key": key, "x-csrftoken": tablet.csrf}
    started = time.perf_counter()
    pause = 0.05
    while True:
        try:
            response = await tablet.client.post(
                "/api/v1/vaccinations", json=dose_body(ticket), headers=headers
            )
        except httpx.TransportError as exc:
            status, text = None, f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code in (200, 201):
                result.acknowledged[key] = response.json()["vaccination_id"]
                result.created += response.status_code == 201
                result.latencies.append(time.perf_counter() - started)
                if acknowledged_at is not None:
                    acknowledged_at[key] = time.monotonic()
                return
            if response.status_code < 500:
                result.errors.append(f"{response.status_code} {response.text[:200]}")
                return
            status, text = response.status_code, response.text[:300]
        result.failed_attempts.append((status, text))
        if time.perf_counter() - started > give_up_after:
            result.errors.append(f"gave up after {give_up_after:.0f} s: {status} {text}")
            return
        result.retries += 1
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


async def run_tablets(
    tablets: list[Tablet], saves: int, *, first_ticket: int = 0, duration: float = 0.0,
    acknowledged_at: dict[str, float] | None = None, result: SoakResult | None = None,
) -> SoakResult:  # fmt: skip
    """Every tablet saves tickets from one shared queue until ``saves`` are done (or ``duration``).

    ``result`` (filled as the saves are acknowledged) lets a caller watch a run in progress.
    """
    result = result if result is not None else SoakResult()
    tickets = iter(range(first_ticket, first_ticket + saves))
    stop_at = time.monotonic() + duration if duration else None

    async def one(tablet: Tablet) -> None:
        for ticket in tickets:
            if stop_at is not None and time.monotonic() > stop_at:
                return
            await save_like_the_tablet(tablet, ticket, result, acknowledged_at=acknowledged_at)

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tablets))
    result.elapsed = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Count:
    """The database against the acknowledgements."""

    records: int
    lost: int
    """Acknowledged ids with no record."""
    duplicated: int
    """Records beyond one per ticket and dose."""
    unacknowledged: int
    """Records no tablet was told about."""


async def count_against(database_url: str, result: SoakResult) -> Count:
    """Count the venue records (as the owner) against what the tablets were told."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id::text, ticket_number, dose_number FROM vaccination"
            " WHERE municipality_code = $1 AND source = 'api'",
            MUNICIPALITY,
        )
    finally:
        await connection.close()
    ids = {r["id"] for r in rows}
    acknowledged = set(result.acknowledged.values())
    per_dose = len({(r["ticket_number"], r["dose_number"]) for r in rows})
    return Count(
        records=len(rows),
        lost=len(acknowledged - ids),
        duplicated=len(rows) - per_dose,
        unacknowledged=len(ids - acknowledged),
    )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def figures(result: SoakResult, count: Count) -> dict[str, float]:
    """The soak's figures as one dict (printed by the bench, asserted in part by the test)."""
    return {
        "saves": len(result.acknowledged),
        "saves_per_s": len(result.acknowledged) / result.elapsed if result.elapsed else 0.0,
        "p50_ms": percentile(result.latencies, 50),
        "p95_ms": percentile(result.latencies, 95),
        "p99_ms": percentile(result.latencies, 99),
        "retries": result.retries,
        "lost": count.lost,
        "duplicated": count.duplicated,
        "unacknowledged": count.unacknowledged,
        "errors": len(result.errors),
    }


async def baseline(tablets: list[Tablet], requests: int) -> float:
    """Requests/s of ``GET /healthz`` with the same tablets on the same server."""
    remaining = iter(range(requests))

    async def one(tablet: Tablet) -> None:
        for _ in remaining:
            await tablet.client.get("/healthz")

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tablets))
    return requests / (time.perf_counter() - started)


# --- the bench -----------------------------------------------------------------


async def bench(args: argparse.Namespace) -> None:
    from bench.report import figure

    server = os.environ.get("VRS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")
    name = "vrs_bench_soak"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{server}/{name}"
    os.environ.setdefault("VRS_SECRET_KEY", "bench-secret-" + "x" * 32)
    os.environ.setdefault("VRS_MY_NUMBER_KEY", base64.b64encode(b"b" * 32).decode())
    os.environ["VRS_DATA_DIR"] = tempfile.mkdtemp(prefix="vrs-bench-soak-")
    os.environ.setdefault("VRS_LOG_LEVEL", "WARNING")
    residents = args.saves if not args.duration else max(args.saves, int(args.duration * 1000))
    try:
        seeded = seed_in_subprocess(url, args.tablets, residents)
        with vrs_server(url, workers=args.workers, pool=args.pool) as base:
            tablets = [
                await sign_in_tablet(base, login, seeded["password"], seeded["devices"][login])
                for login in seeded["logins"]
            ]
            try:
                base_rate = await baseline(tablets, min(args.saves, 5000))
                result = await run_tablets(tablets, residents if args.duration else args.saves,
                                           duration=args.duration)  # fmt: skip
            finally:
                for tablet in tablets:
                    await tablet.client.aclose()
        count = await count_against(url, result)
        shown = figures(result, count)
        print(f"soak: {args.tablets} tablets, {args.workers} worker(s), pool {args.pool}")
        print(f"  baseline GET /healthz: {base_rate:8.1f} req/s")
        for key, value in shown.items():
            print(
                f"  {key:<16} {value:10.1f}"
                if isinstance(value, float)
                else f"  {key:<16} {value:10d}"
            )
        print(f"  ratio saves/baseline: {shown['saves_per_s'] / base_rate:.3f}")
        figure(f"soak saves/s, {args.tablets} tablets (vs GET /healthz)", shown["saves_per_s"],
               "saves/s", baseline=base_rate, goal="0 lost, 0 duplicated, 0 errors")  # fmt: skip
        figure("soak p99", shown["p99_ms"], "ms")
        bad = shown["lost"] + shown["duplicated"] + shown["errors"]
        figure("soak lost + duplicated + errors", bad, "", goal="0", met=bad == 0)
        for error in result.errors[:5]:
            print(f"  ! {error}", file=sys.stderr)
    finally:
        admin = await asyncpg.connect(f"{server}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    seeding = sub.add_parser("seed", help="seed DATABASE_URL (used by the tests)")
    seeding.add_argument("--tablets", type=int, required=True)
    seeding.add_argument("--residents", type=int, required=True)
    parser.add_argument("--tablets", type=int, default=50)
    parser.add_argument("--saves", type=int, default=20000)
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (0: until --saves)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=10, help="connections per server process")
    args = parser.parse_args()
    if args.command == "seed":
        print(json.dumps(asyncio.run(seed(args.tablets, args.residents))))
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
