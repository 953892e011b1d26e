"""An open-loop HTTP generator: requests at a fixed schedule, latency from the schedule.

    .venv/bin/python bench/open_loop.py URL --rate 200 --seconds 10 --tickets FILE [--token T]

Request ``i`` of the run is due at ``start + i / rate``. It is sent at that time
whether or not earlier answers have come back (a new keep-alive connection is
opened when every open one is busy), and its latency is counted from the time
it was DUE, not from the time it was sent, so a stalled server cannot hide its
stall by slowing the generator down (no coordinated omission; Gil Tene's
point, the reason wrk2 exists — wrk2 is not in Debian).

One process per core (``--processes``, default ``os.cpu_count()``), each with
its own asyncio loop and raw sockets (no HTTP library in the hot path), takes
every ``processes``-th slot of the schedule and every ``processes``-th ticket.
The report says how late the sends were against the schedule: if the
generator itself falls behind, the latencies still include that lag (they are
counted from the schedule), but the lag says the figure is the generator's, not
the server's.

Prints a human line and returns figures via :func:`run` for bench/venue_save.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Result:
    """What one run measured (all processes merged)."""

    scheduled: int = 0
    completed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds from the scheduled time
    send_lag: list[float] = field(default_factory=list)  # seconds the send was late
    elapsed: float = 0.0

    def percentile(self, values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


def body(ticket: str) -> bytes:
    return json.dumps({"ticket": ticket, "dose_number": "1", "vaccinated_on": "2022-11-01",
                       "product": "pfizer-comirnaty", "lot_number": "GE0123", "volume_ml": "0.3",
                       "doctor_name": "医師", "birth_date": "19600101"}).encode()  # fmt: skip


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _process_loop(
    url: str, rate: float, seconds: float, tickets: list[str], token: str,
    index: int, processes: int, start: float,
) -> Result:  # fmt: skip
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    result = Result()
    run = uuid.uuid4().hex[:12]
    auth = f"Authorization: Bearer {token}\r\n" if token else ""

    async def one(slot: int, due: float, ticket: str) -> None:
        result.send_lag.append(max(0.0, time.time() - due))
        payload = body(ticket)
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nIdempotency-Key: open-{run}-{slot}\r\n{auth}\r\n"
        ).encode() + payload
        try:
            connection = idle.pop() if idle else await asyncio.open_connection(host, port)
            reader, writer = connection
            writer.write(request)
            status = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.failures += 1
            return
        result.latencies.append(time.time() - due)
        result.completed += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
        idle.append(connection)

    tasks = []
    slot = index
    total = int(rate * seconds)
    mine = iter(tickets)
    while slot < total:
        due = start + slot / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        ticket = next(mine, None)
        if ticket is None:
            break
        tasks.append(asyncio.create_task(one(slot, due, ticket)))
        result.scheduled += 1
        slot += processes
    await asyncio.gather(*tasks)
    result.elapsed = time.time() - start
    for _, writer in idle:
        writer.close()
    return result


def _worker(arguments: tuple) -> Result:
    return asyncio.run(_process_loop(*arguments))


def run(
    url: str, rate: float, seconds: float, tickets: list[str], token: str = "",
    processes: int | None = None,
) -> Result:  # fmt: skip
    """Drive ``url`` at ``rate`` requests/s for ``seconds``; one ticket per request."""
    processes = processes or os.cpu_count() or 1
    start = time.time() + 1.0  # every process starts on the same schedule
    jobs = [
        (url, rate, seconds, tickets[i::processes], token, i, processes, start)
        for i in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_worker, jobs)
    merged = Result()
    for part in parts:
        merged.scheduled += part.scheduled
        merged.completed += part.completed
        merged.failures += part.failures
        merged.latencies += part.latencies
        merged.send_lag += part.send_lag
        merged.elapsed = max(merged.elapsed, part.elapsed)
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


def describe(result: Result, rate: float) -> str:
    p = result.percentile
    return (
        f"offered {rate:.0f}/s: {result.completed}/{result.scheduled} answered "
        f"({result.throughput:.0f}/s), statuses {dict(sorted(result.statuses.items()))}, "
        f"{result.failures} failed; latency from schedule p50 {p(result.latencies, 0.5) * 1000:.1f} ms "
        f"p99 {p(result.latencies, 0.99) * 1000:.1f} ms; send lag p99 {p(result.send_lag, 0.99) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tickets", required=True, help="file, one ticket per line")
    parser.add_argument("--token", default="")
    parser.add_argument("--processes", type=int)
    args = parser.parse_args()
    with open(args.tickets) as handle:
        tickets = [line.strip() for line in handle if line.strip()]
    result = run(args.url, args.rate, args.seconds, tickets, args.token, args.processes)
    print(describe(result, args.rate))


if __name__ == "__main__":
    main()
