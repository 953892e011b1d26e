"""In Chromium: a save made while the database is down stays queued on the tablet and is sent once.

The server (``vrs serve``) runs on a PostgreSQL of this test's own, which is
killed with ``-9`` between the scan and the save: the server answers 503, the
tablet keeps the dose in its queue, and once PostgreSQL is back the queue is
sent with the same idempotency key, which records the dose exactly once.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bench.soak import MUNICIPALITY, seed_in_subprocess
from e2e.conftest import screenshot
from e2e.venue_pages import VenuePage, sign_in_to_venue
from tests.reliability.own_postgres import running_own_postgres
from tests.server_process import vrs_server
from web.access import DEVICE_COOKIE

pytestmark = pytest.mark.xdist_group("soak")


async def doses(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SELECT count(*) FROM vaccination")
    finally:
        await connection.close()


async def test_a_save_refused_with_503_while_the_database_is_down_is_queued_and_sent_once(
    chromium, tmp_path
) -> None:
    with running_own_postgres() as postgres:
        admin = await asyncpg.connect(f"{postgres.url}/postgres")
        await admin.execute('CREATE DATABASE "vrs_outage"')
        await admin.close()
        url = f"{postgres.url}/vrs_outage"
        seeded = seed_in_subprocess(url, tablets=1, residents=2)
        login = seeded["logins"][0]
        with vrs_server(url, log_path=tmp_path / "server.log") as base:
            context = await chromium.new_context(base_url=base, locale="ja-JP")
            context.set_default_timeout(10_000)
            try:
                await context.add_cookies(
                    [{"name": DEVICE_COOKIE, "value": seeded["devices"][login], "url": base}]
                )
                page = await context.new_page()
                await sign_in_to_venue(page, login, seeded["password"])
                venue = await VenuePage(page).open()
                await venue.scan(f"11{MUNICIPALITY}{1:010d}", "19600101")
                await venue.fill_dose(
                    product="pfizer-comirnaty", lot="GE0123", volume="0.3", doctor="医師 一郎"
                )

                await asyncio.to_thread(postgres.kill_9)
                await venue.save()
                await page.get_by_test_id("queue").wait_for()
                assert await venue.queue_count() == 1
                await screenshot(page, "venue-queued-during-database-outage")

                await asyncio.to_thread(postgres.start)
                # The tablet retries on its own (every 5 s, and on the browser's online event).
                await page.get_by_test_id("queue").wait_for(state="hidden", timeout=30_000)
                assert await doses(url) == 1
                await page.evaluate("window.dispatchEvent(new Event('online'))")
                await page.wait_for_timeout(500)
                assert await doses(url) == 1  # sent once, not again
                assert await page.get_by_test_id("queued-rejected").count() == 0
            finally:
                await context.close()
