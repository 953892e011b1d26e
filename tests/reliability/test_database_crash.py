"""Database crash under load: ``kill -9`` PostgreSQL, start it again; nothing acknowledged is lost.

The server under test (``vrs serve``, its own process) talks to a PostgreSQL
this test started for itself (never the machine's shared one). Tablets save
like ``web/static/venue.js`` while the postmaster and its backends are killed
with SIGKILL and started again on the same data directory and port.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest

from bench.soak import (
    SoakResult,
    Tablet,
    count_against,
    dose_body,
    run_tablets,
    seed_in_subprocess,
    sign_in_tablet,
)
from tests.reliability.own_postgres import OwnPostgres
from tests.reliability.polling import wait_for
from tests.server_process import vrs_server

TABLETS = 20
SAVES = 1500
CRASH_AFTER = 300

pytestmark = pytest.mark.xdist_group("soak")


async def test_kill_9_of_postgres_under_load_loses_nothing_and_the_app_recovers_by_itself(
    own_postgres: OwnPostgres, tmp_path
) -> None:
    admin = await asyncpg.connect(f"{own_postgres.url}/postgres")
    await admin.execute('CREATE DATABASE "vrs_crash"')
    await admin.close()
    url = f"{own_postgres.url}/vrs_crash"
    seeded = seed_in_subprocess(url, TABLETS, SAVES + 1)
    with vrs_server(url, workers=1, pool=8, log_path=tmp_path / "server.log") as base:
        tablets = [
            # A generous client timeout: on a CPU shared with other tests, PostgreSQL's crash
            # recovery can keep a request waiting longer than a tablet would normally wait.
            await sign_in_tablet(
                base, login, seeded["password"], seeded["devices"][login], request_timeout=60.0
            )
            for login in seeded["logins"]
        ]
        extra_clients: list[httpx.AsyncClient] = []
        try:
            result = SoakResult()
            acknowledged_at: dict[str, float] = {}
            load = asyncio.create_task(
                run_tablets(tablets, SAVES, acknowledged_at=acknowledged_at, result=result)
            )
            await wait_for(
                lambda: len(acknowledged_at) >= CRASH_AFTER, 120, "saves before the crash"
            )
            crashed_at = time.monotonic()
            await asyncio.to_thread(own_postgres.kill_9)
            before_crash = {
                result.acknowledged[key]
                for key, at in list(acknowledged_at.items())
                if at <= crashed_at
            }

            # During the outage: a clear 503 problem in the user's language, quickly, not a 500.
            # The probe is tablet 0's session on a client of its own: sharing tablet 0's client
            # would leave a pooled connection idle past the server's keep-alive while the load
            # runs, and a request sent on it as the server closes it is a client-side race.
            probe = Tablet(
                tablets[0].login,
                httpx.AsyncClient(base_url=base, cookies=tablets[0].client.cookies, timeout=60),
                tablets[0].csrf,
            )
            extra_clients.append(probe.client)
            probe_key = f"probe-{uuid.uuid4().hex}"
            probe_body = dose_body(SAVES)  # a ticket the load does not use
            headers = {"Idempotency-Key": probe_key, "x-csrftoken": probe.csrf}
            refused = await probe.client.post(
                "/api/v1/vaccinations", json=probe_body, headers=headers, timeout=10
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["retry-after"]
            problem = refused.json()
            assert problem["code"] == "error.database_unavailable" and problem["status"] == 503
            assert "データベースに接続できない" in problem["detail"]
            in_english = await probe.client.post(
                "/api/v1/vaccinations?lang=en", json=probe_body, headers=headers, timeout=10
            )
            assert in_english.status_code == 503
            assert "database cannot be reached" in in_english.json()["detail"]
            page = await probe.client.get("/venue", timeout=10)
            assert page.status_code == 503 and "データベースに接続できない" in page.text
            assert (await probe.client.get("/readyz", timeout=10)).status_code == 503

            await asyncio.sleep(1.0)  # the tablets keep retrying through the outage
            await asyncio.to_thread(own_postgres.start)

            # The same server process (no restart) serves again; the probe's retry with the
            # same key succeeds once.
            await wait_for(lambda: load.done() or len(acknowledged_at) > CRASH_AFTER + 50, 120,
                           "saves after the restart")  # fmt: skip
            retried = await probe.client.post(
                "/api/v1/vaccinations", json=probe_body, headers=headers, timeout=10
            )
            assert retried.status_code == 201, retried.text
            again = await probe.client.post(
                "/api/v1/vaccinations", json=probe_body, headers=headers, timeout=10
            )
            assert again.status_code == 200
            assert again.json()["vaccination_id"] == retried.json()["vaccination_id"]
            await asyncio.wait_for(load, 240)
            assert (await probe.client.get("/readyz", timeout=5)).status_code == 200
        finally:
            for client in [tablet.client for tablet in tablets] + extra_clients:
                await client.aclose()

    assert result.errors == []
    outage = [status for status, _ in result.failed_attempts]
    print(f"crash: {len(before_crash)} acknowledged before, {len(outage)} attempts refused during"
          f" the outage, {result.retries} retries")  # fmt: skip
    assert 503 in outage, "the tablets never saw the outage"
    # Every answer during the outage is the 503 problem (the probe above checks its message):
    # no 500, no other status. On a busy CPU a few tablet requests see the connection end
    # without an answer (httpx ReadError/ReadTimeout); the tablet retries those with the same
    # key like a network error, and nothing is lost (checked below). Why the connection ends
    # is not understood yet: docs/next-steps.md.
    answered = {status for status in outage if status is not None}
    assert answered == {503}, f"outage answers other than 503: {answered}"
    dropped = [text for status, text in result.failed_attempts if status is None]
    assert all(text.startswith(("ReadError", "ReadTimeout")) for text in dropped), dropped[:5]
    result.acknowledged[probe_key] = retried.json()["vaccination_id"]
    count = await count_against(url, result)
    connection = await asyncpg.connect(url)
    try:
        stored = {str(r["id"]) for r in await connection.fetch("SELECT id FROM vaccination")}
    finally:
        await connection.close()
    assert before_crash <= stored
    assert len(result.acknowledged) == SAVES + 1 == count.records
    assert (count.lost, count.duplicated, count.unacknowledged) == (0, 0, 0)
