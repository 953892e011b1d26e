"""Venue saves per second (wrk) against a one-INSERT baseline, and latency at a fixed rate.

    .venv/bin/python bench/venue_save.py [--seconds 10] [--pairs 3] [--connections 50]
                                         [--workers 2] [--pool 10] [--rate 200]

Every HTTP figure comes from a generator shown, in the same run, to saturate
the baseline; a Python closed-loop client cannot (it topped out near 200
requests/s where wrk gets 1,600+), which is how an earlier version of this
script reported a flattering ratio.

1. Saturation: ``wrk`` (Debian package ``wrk``; scripts/system-packages.txt,
   section ``bench``) drives bench/baseline_app.py (one INSERT through asyncpg)
   at 10, 50 and 100 connections. The baseline's figure at ``--connections``
   (50) is the denominator; it saturates when 100 connections add nothing.
2. Interleaved pairs: the real route (POST /api/v1/vaccinations: parsing,
   identity check with the stated birth date, rules, lock, idempotency, audit,
   venue log) then the baseline, ``--pairs`` times, each for ``--seconds``, same
   uvicorn command, workers and pool, both servers up for the whole run. Each
   request carries its own ticket (seeded residents, birth date 1960-01-01,
   handed to wrk through a file its Lua script reads at start, one ticket per
   request, never reused across threads or runs) and its own Idempotency-Key;
   the venue account authenticates with a bearer token (machine credential).
   The ratio is real / baseline per pair; the median is the figure.
3. Fixed rate: bench/open_loop.py (one process per core, raw sockets) sends
   ``--rate`` saves/s on a schedule and counts latency from each request's
   scheduled time. First it is checked against wrk on the baseline: offered
   half of wrk's baseline figure, it must answer that rate with a send lag
   p99 under 10 ms; both figures are printed. (Offering more than the server
   can take only measures a growing queue.) The p99 at ``--rate`` only means
   something when the route's wrk figure is above ``--rate``.

Every 201 of the real route must be a stored row (checked at the end). The
1-minute load average is printed before each measurement: on a shared
machine, the figures are the machine's, not the code's.
Prints figures and ``BENCH`` lines (bench/report.py); asserts nothing. Uses the
PostgreSQL server at ``VRS_BENCH_SERVER`` (default 127.0.0.1:5432) with a
database of its own (``VRS_BENCH_DATABASE``, default vrs_bench_venue), dropped
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import open_loop  # noqa: E402
from bench.report import figure  # noqa: E402
from db.statistics.folding import FOLD_EVERY  # noqa: E402

SERVER = os.environ.get("VRS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("VRS_BENCH_DATABASE", "vrs_bench_venue")
LUA = ROOT / "bench" / "wrk_save.lua"
SAVE_PATH = "/api/v1/vaccinations"
#: Tickets per second of each real wrk run: above any rate the route reaches on 2 cores
#: (1,000 was, until saves shared their statements: then wrk ran dry at 994/s).
PER_RUN_RATE = 4000
WARM_UP = 600


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


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


async def prepare(url: str, residents: int, environment: dict[str, str]) -> str:
    """A migrated database: one municipality, a venue account (bearer token), residents.

    Also creates the baseline's table, once, before either server starts.
    """
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    run = [sys.executable, "-m", "cli"]
    subprocess.run([*run, "migrate"], env=environment, check=True, capture_output=True, cwd=ROOT)
    subprocess.run(
        [*run, "create-municipality", "131016", "千代田区", "Chiyoda City"],
        env=environment, check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
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
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS bench_save"
        " (id uuid PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now())"
    )
    await connection.close()
    subprocess.run(
        [*run, "create-user", "--login", "bench-op", "--role", "venue_operator", "--municipality", "131016",
         "--venue", "V001", "--machine"], env=environment, check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    token = subprocess.run(
        [*run, "create-token", "--login", "bench-op"],
        env=environment, check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return token.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(command: list[str], environment: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


class Tickets:
    """Hands out disjoint slices of the seeded tickets, each to one run only."""

    def __init__(self, count: int, directory: Path) -> None:
        self.all = [f"11131016{n:010d}" for n in range(count)]
        self.next = 0
        self.directory = directory

    def take(self, count: int) -> list[str]:
        if self.next + count > len(self.all):
            raise SystemExit(f"out of tickets: raise --residents (have {len(self.all)})")
        chunk = self.all[self.next : self.next + count]
        self.next += count
        return chunk

    def file(self, count: int) -> Path:
        path = self.directory / f"tickets-{self.next}.txt"
        path.write_text("\n".join(self.take(count)) + "\n")
        return path


_WRK_LINE = re.compile(r"^WRK (.*)$", re.M)


def wrk(
    url: str,
    path: str,
    tickets: Path,
    connections: int,
    seconds: float,
    threads: int,
    token: str = "",
) -> dict[str, float]:
    """One wrk run; requests/s and what the Lua ``done`` reported."""
    threads = min(threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(LUA), url, "--", path, str(tickets), str(threads), token or "-",
               uuid.uuid4().hex[:12]]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    out = done.stdout
    match = _WRK_LINE.search(out)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    fields = {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    fields["rate"] = fields["requests"] / (fields["duration_us"] / 1e6)
    fields["errors"] = sum(fields[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    return fields


def show(label: str, run: dict[str, float]) -> str:
    return (
        f"{label:<34} {run['rate']:8.1f} req/s  p50 {run['p50_us'] / 1000:6.1f} ms"
        f"  p99 {run['p99_us'] / 1000:7.1f} ms  errors {run['errors']:.0f}"
    )


async def dashboard_check(url: str, real_url: str, token: str, ticket: str) -> dict[str, float]:
    """What the dashboard shows against the dose table counted directly, and how soon.

    Reads what ``/dashboard`` reads (``dose_rollup_now`` as the serving role in
    the area: the folded counts plus the changes not folded yet), saves one
    more dose, and times how long until the dashboard counts it. Then waits
    three fold intervals: the server's background folding must have moved the
    changes into the folded counts, which then equal the direct count alone.
    """
    connection = await asyncpg.connect(url)

    async def shown(view: str = "dose_rollup_now") -> int:
        async with connection.transaction():
            await connection.execute(
                "SET LOCAL ROLE vrs_app; SELECT set_config('app.municipality_code', '131016', true)"
            )
            return int(await connection.fetchval(
                f"SELECT coalesce(sum(doses), 0) FROM {view} WHERE dimension = 'dose'"
            ))  # fmt: skip

    naive = (
        "SELECT count(*) FROM vaccination WHERE municipality_code = '131016' AND status = 'active'"
    )
    try:
        before = await shown()
        body = {"ticket": ticket, "dose_number": "1", "vaccinated_on": "2022-11-01",
                "product": "pfizer-comirnaty", "lot_number": "GE0123", "volume_ml": "0.3",
                "doctor_name": "医師", "birth_date": "19600101"}  # fmt: skip
        response = httpx.post(f"{real_url}{SAVE_PATH}", json=body, timeout=10, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        saved = time.monotonic()
        if response.status_code != 201:
            raise RuntimeError(
                f"the dashboard's save answered {response.status_code}: {response.text}"
            )
        while await shown() < before + 1 and time.monotonic() - saved < 10:  # noqa: ASYNC110 - polling another process's database
            await asyncio.sleep(0.05)
        fresh = time.monotonic() - saved
        now, direct = await shown(), int(await connection.fetchval(naive))
        waited = 3 * FOLD_EVERY
        await asyncio.sleep(waited)
        pending = int(await connection.fetchval("SELECT count(*) FROM dose_change"))
        folded = await shown("dose_rollup")
    finally:
        await connection.close()
    return {"fresh": fresh, "shown": now, "naive": direct, "waited": waited,
            "pending": pending, "folded": folded}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved real/baseline pairs")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200, help="fixed-rate saves/s")
    parser.add_argument("--rate-seconds", type=float, default=10)
    parser.add_argument("--residents", type=int, default=0,
                        help="seeded tickets (default: 1,000 per second of each real run)")  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (scripts/system-packages.txt)")

    residents = args.residents or int(
        WARM_UP + PER_RUN_RATE * args.seconds * args.pairs + args.rate * args.rate_seconds + 1
    )
    url = f"{SERVER}/{DATABASE}"
    environment = env(url, args.pool)
    work = Path(tempfile.mkdtemp(prefix="vrs-bench-wrk-"))
    print(f"seeding {residents} residents and tickets … ({load()})", flush=True)
    token = await prepare(url, residents, environment)
    tickets = Tickets(residents, work)
    # The baseline ignores the ticket; it gets the same body shape from its own list.
    baseline_tickets = work / "baseline-tickets.txt"
    baseline_tickets.write_text("".join(f"99999999{n:010d}\n" for n in range(100_000)))

    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", str(args.workers),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
    real_port, base_port = free_port(), free_port()
    real_url, base_url = f"http://127.0.0.1:{real_port}", f"http://127.0.0.1:{base_port}"
    servers = []
    try:
        servers.append(start([*uvicorn, "--port", str(base_port), "bench.baseline_app:app"],
                             environment, base_port))  # fmt: skip
        servers.append(start([*uvicorn, "--port", str(real_port), "--factory", "web.app:create_app"],
                             environment, real_port))  # fmt: skip
        print(f"servers: uvicorn --workers {args.workers}, pool {args.pool}; wrk -t{args.threads}")

        # 1. The baseline saturates: its figure at 10, 50 and 100 connections.
        wrk(base_url, "/save", baseline_tickets, 10, 2, args.threads)  # warm-up
        saturation: dict[int, dict[str, float]] = {}
        for connections in sorted({10, args.connections, 100}):
            print(f"  ({load()})", flush=True)
            saturation[connections] = wrk(base_url, "/save", baseline_tickets, connections,
                                          args.seconds / 2, args.threads)  # fmt: skip
            print(show(f"baseline, {connections} connections", saturation[connections]), flush=True)

        # 2. Interleaved pairs at --connections.
        warm = wrk(real_url, SAVE_PATH, tickets.file(WARM_UP), 10, 1, args.threads, token)
        per_run = int(PER_RUN_RATE * args.seconds)
        pairs: list[tuple[dict[str, float], dict[str, float]]] = []
        for n in range(args.pairs):
            print(f"  pair {n + 1} ({load()})", flush=True)
            real = wrk(real_url, SAVE_PATH, tickets.file(per_run), args.connections, args.seconds,
                       args.threads, token)  # fmt: skip
            if real["requests"] + args.connections >= per_run:  # a thread ran dry and stopped
                print("  ! wrk used every ticket it was given: raise --residents", file=sys.stderr)
            base = wrk(
                base_url, "/save", baseline_tickets, args.connections, args.seconds, args.threads
            )
            pairs.append((real, base))
            print(show(f"  real route, {args.connections} connections", real))
            print(show(f"  baseline, {args.connections} connections", base))
            print(f"  ratio {real['rate'] / base['rate']:.3f}", flush=True)

        # 3. The open-loop generator: checked against wrk on the baseline, then 200 saves/s.
        wrk_rate = statistics.median(base["rate"] for _, base in pairs)
        # Offered half of what wrk got from the same server: the generator must deliver
        # it on schedule (answered/s ≈ offered, small send lag), or its figures are its own.
        offered = max(wrk_rate / 2, args.rate)
        check_tickets = [f"99999999{n:010d}" for n in range(int(offered * 5))]
        print(f"  open-loop check ({load()})", flush=True)
        check = open_loop.run(f"{base_url}/save", offered, 5, check_tickets)
        print(f"open-loop generator on the baseline: {open_loop.describe(check, offered)}")
        # And at the rate the fixed-rate figure uses: the generator must keep that schedule.
        at_rate = open_loop.run(f"{base_url}/save", args.rate, 5, check_tickets)
        print(f"open-loop generator on the baseline: {open_loop.describe(at_rate, args.rate)}")
        print(f"wrk on the baseline ({args.connections} connections): {wrk_rate:.0f} req/s")
        print(f"  fixed rate ({load()})", flush=True)
        fixed = open_loop.run(f"{real_url}{SAVE_PATH}", args.rate, args.rate_seconds,
                              tickets.take(int(args.rate * args.rate_seconds)), token)  # fmt: skip
        print(f"real route at a fixed rate: {open_loop.describe(fixed, args.rate)}")
        # 4. The dashboard after all that: equal to the naive count, a new dose shown within 10 s.
        print(f"  dashboard ({load()})", flush=True)
        dashboard = await dashboard_check(url, real_url, token, tickets.take(1)[0])
    finally:
        for server in servers:
            server.terminate()
            server.wait()

    connection = await asyncpg.connect(url)
    stored = await connection.fetchval("SELECT count(*) FROM vaccination")
    await connection.close()
    answered = sum(
        r["requests"] - r["non2xx"] for r, _ in [*pairs, (warm, warm)]
    ) + fixed.statuses.get(201, 0)

    ratios = [real["rate"] / base["rate"] for real, base in pairs]
    ratio = statistics.median(ratios)
    real_rate = statistics.median(real["rate"] for real, _ in pairs)
    sat = saturation[args.connections]["rate"]
    print(
        f"\nvenue saves, wrk -c{args.connections}, {args.pairs} interleaved pairs of {args.seconds:g} s; {load()}"
    )
    curve = ", ".join(f"{c} conn {r['rate']:.0f}/s" for c, r in saturation.items())
    print(f"  baseline saturation  {curve}")
    print(f"  real route median    {real_rate:8.1f} saves/s")
    print(
        f"  ratio per pair       {', '.join(f'{r:.3f}' for r in ratios)}  median {ratio:.3f}  (goal >= 0.4)"
    )
    p99 = fixed.percentile(fixed.latencies, 0.99) * 1000
    print(f"  at {args.rate:.0f}/s p99        {p99:.1f} ms from the schedule  (goal < 50 ms)")
    print(f"  rows stored          {stored}; 2xx answers (wrk + open loop) {answered:.0f}")

    figure(f"saves/s, wrk {args.connections} connections (median of {args.pairs} pairs)", real_rate,
           "saves/s", baseline=statistics.median(b["rate"] for _, b in pairs),
           ratio=ratio, goal="ratio ≥ 0.4", met=ratio >= 0.4)  # fmt: skip
    figure(f"baseline alone, wrk {args.connections} connections (saturation)", sat, "req/s",
           baseline=saturation[100]["rate"], goal="≈ its 100-connection figure")  # fmt: skip
    on_schedule = check.percentile(check.send_lag, 0.99) < 0.010 and check.failures == 0
    figure(f"open-loop generator on the baseline, offered {offered:.0f}/s", check.throughput,
           "req/s", baseline=wrk_rate, goal="answers ≈ offered, send lag p99 < 10 ms",
           met=check.throughput >= 0.95 * offered and on_schedule)  # fmt: skip
    figure(
        f"p99 at {args.rate:.0f} saves/s (from schedule)", p99, "ms", goal="< 50 ms", met=p99 < 50
    )
    keeps = at_rate.percentile(at_rate.send_lag, 0.99) < 0.010 and at_rate.failures == 0
    figure(f"open-loop generator on the baseline, offered {args.rate:.0f}/s", at_rate.throughput,
           "req/s", goal="answers ≈ offered, send lag p99 < 10 ms",
           met=at_rate.throughput >= 0.95 * args.rate and keeps)  # fmt: skip
    # wrk stops counting at its deadline: up to one request per connection per run is
    # stored without being counted, so rows may exceed the answers by that much.
    lost = max(0.0, answered - stored)
    in_flight = args.connections * (len(pairs) + 1)
    figure("2xx answers not stored", lost, "rows", goal=f"0 (rows ≤ answers + {in_flight} in flight)",
           met=lost == 0 and stored <= answered + in_flight)  # fmt: skip

    print(f"  dashboard            new dose shown after {dashboard['fresh']:.2f} s; shows "
          f"{dashboard['shown']} doses, naive count {dashboard['naive']}; after "
          f"{dashboard['waited']:.0f} s {dashboard['pending']} change rows pending, folded counts "
          f"{dashboard['folded']}")  # fmt: skip
    figure("dashboard: a new dose shown after", dashboard["fresh"], "s", goal="< 10 s",
           met=dashboard["fresh"] < 10)  # fmt: skip
    figure("dashboard − naive GROUP BY", dashboard["shown"] - dashboard["naive"], "doses",
           goal="0", met=dashboard["shown"] == dashboard["naive"])  # fmt: skip
    figure("folded counts − naive GROUP BY, after the fold interval",
           dashboard["folded"] - dashboard["naive"], "doses", goal="0",
           met=dashboard["folded"] == dashboard["naive"])  # fmt: skip

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
