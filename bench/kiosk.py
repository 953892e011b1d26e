"""Benchmark: kiosk issuance — server time from the card proof to the PDFs, and a whole visit.

Figures for one certificate (a resident of 千代田区 only) and two (also registered in
新宿区): the server's ``kiosk-issue`` answer (proof verified, certificates signed,
PDFs returned), and the whole emulated kiosk flow (start → card → PIN → type → pay →
printed) through the kiosk app with the in-process card emulator. The server app
runs in this process on a database of its own (dropped at the end), at
DATABASE_URL's server or 127.0.0.1:5432. Goal: < 1 s for two certificates.

Run: ``python bench/kiosk.py [--rounds N]``. Prints figures; asserts nothing.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.report import figure  # noqa: E402

SERVER = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres").rsplit(
    "/", 1
)[0]
DATABASE = "vrs_bench_kiosk"
URL = f"{SERVER}/{DATABASE}"
os.environ.update(
    {
        "DATABASE_URL": URL,
        "VRS_DATA_DIR": tempfile.mkdtemp(prefix="vrs-bench-kiosk-"),
        "VRS_SECRET_KEY": "bench-secret-" + "x" * 32,
        "VRS_MY_NUMBER_KEY": base64.b64encode(b"k" * 32).decode(),
        "VRS_KEY_PASSPHRASE": "bench-key-passphrase",
        "VRS_LOG_LEVEL": "WARNING",
    }
)


async def _database() -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )


async def _drop() -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.close()


def _report(label: str, times: list[float], goal_seconds: float | None = None) -> None:
    median = statistics.median(times)
    figure(label + " (median)", median * 1000, "ms",
           goal=f"< {goal_seconds:g} s" if goal_seconds else "",
           met=median < goal_seconds if goal_seconds else None)  # fmt: skip
    print(
        f"{label:<46} median {statistics.median(times) * 1000:7.0f} ms"
        f"   mean {statistics.mean(times) * 1000:7.0f} ms   max {max(times) * 1000:7.0f} ms"
        f"   (n={len(times)})"
    )


async def main(rounds: int) -> None:
    import httpx

    from common.settings import load_settings
    from db.engine import close_serving_pool, start_serving_pool
    from kiosk.app import create_kiosk_app
    from kiosk.card.reader import InProcessReader
    from kiosk.devices import SimulatedPayment, SpoolPrinter
    from kiosk.settings import KioskSettings
    from tests.integration.kiosk.test_kiosk_server_channel import (
        KioskBrowser,
        _prove,
        register_card_holders,
        server_ready,
    )
    from web.app import create_app

    await _database()
    settings = load_settings()
    cards = server_ready(settings)
    await start_serving_pool(4)
    try:
        token = await register_card_holders(cards)
        app = create_app(settings, manage_pool=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://vrs.bench"
        ) as server:
            for count, card in ((1, cards[1]), (2, cards[0])):
                await _prove(server, token, card, "kiosk-issue", kind="domestic")  # warm up
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    answer = await _prove(server, token, card, "kiosk-issue", kind="domestic")
                    times.append(time.perf_counter() - started)
                    assert len(answer.json()["certificates"]) == count, answer.text
                _report(f"server: proof → {count} PDF(s) (incl. challenge)", times,
                        1.0 if count == 2 else None)  # fmt: skip

            spool = Path(tempfile.mkdtemp(prefix="vrs-bench-spool-"))
            for count, card in ((1, cards[1]), (2, cards[0])):
                reader = InProcessReader()
                kiosk_app = create_kiosk_app(
                    KioskSettings(
                        server_url="http://vrs.bench",
                        token=token,
                        store_id="bench",
                        terminal_id="1",
                        spool_dir=spool,
                        data_dir=spool / "data",
                        hours_start=dt.time(0),
                        hours_end=dt.time.max,
                    ),
                    reader=reader,
                    payment=SimulatedPayment(),
                    printer=SpoolPrinter(spool),
                    http=server,
                )
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=kiosk_app), base_url="http://kiosk"
                ) as http:
                    browser = KioskBrowser(http)
                    times = []
                    for _ in range(rounds):
                        started = time.perf_counter()
                        await browser.press("/start")
                        reader.insert(card.emulator())
                        await browser.press("/card")
                        await browser.press("/pin", pin=card.pin)
                        await browser.press("/type", kind="domestic")
                        page = await browser.press("/pay")
                        times.append(time.perf_counter() - started)
                        assert 'data-testid="screen-done"' in page, page
                        await browser.press("/reset")
                        reader.remove()
                    _report(f"kiosk: whole emulated visit, {count} certificate(s)", times)
    finally:
        await close_serving_pool()
        await _drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(main(parser.parse_args().rounds))
