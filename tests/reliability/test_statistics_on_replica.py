"""Statistics are read from the hot standby (DATABASE_REPLICA_URL); saves and their reads stay on the primary.

A primary of the test's own and a streaming standby of it (pg_basebackup).
The standby's replay is paused: a dose saved on the primary is then missing
from the statistics the server shows (they come from the standby) while the
save's own read-back (the idempotent repeat) sees it at once (the primary).
Once replay resumes, the statistics catch up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import asyncpg
import httpx

from bench.soak import dose_body, seed_in_subprocess, sign_in_tablet
from tests.factories import sign_in
from tests.reliability.own_postgres import OwnPostgres, remove, start_standby_of
from tests.server_process import ROOT, vrs_server

VIEWER_PASSWORD = "national viewer password"  # noqa: S105 - a test account


async def statistics_total(client: httpx.AsyncClient) -> int:
    response = await client.get("/api/v1/statistics")
    assert response.status_code == 200, response.text[:300]
    return int(response.json()["total"])


async def test_statistics_come_from_the_standby_and_saves_read_back_on_the_primary(
    own_postgres: OwnPostgres, tmp_path
) -> None:
    admin = await asyncpg.connect(f"{own_postgres.url}/postgres")
    await admin.execute('CREATE DATABASE "vrs_replica"')
    await admin.close()
    url = f"{own_postgres.url}/vrs_replica"
    seeded = seed_in_subprocess(url, 1, 5)
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "create-user", "--login", "nation-viewer",
         "--role", "national_viewer", "--password-env", "VIEWER_PASSWORD"],
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
             "VIEWER_PASSWORD": VIEWER_PASSWORD},
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]
    standby = await asyncio.to_thread(start_standby_of, own_postgres)
    try:
        replica_url = f"postgresql://postgres@127.0.0.1:{standby.port}/vrs_replica"
        with vrs_server(url, log_path=tmp_path / "server.log",
                        extra_env={"DATABASE_REPLICA_URL": replica_url}) as base:  # fmt: skip
            viewer = httpx.AsyncClient(base_url=base, timeout=30)
            login = seeded["logins"][0]
            tablet = await sign_in_tablet(base, login, seeded["password"], seeded["devices"][login])
            try:
                assert (await sign_in(viewer, "nation-viewer", VIEWER_PASSWORD)).status_code in (
                    302,
                    303,
                )
                before = await statistics_total(viewer)

                replay = await asyncpg.connect(f"{standby.url}/vrs_replica")
                try:
                    await replay.execute("SELECT pg_wal_replay_pause()")
                    headers = {"Idempotency-Key": f"replica-{uuid.uuid4().hex}",
                               "x-csrftoken": tablet.csrf}  # fmt: skip
                    saved = await tablet.client.post(
                        "/api/v1/vaccinations", json=dose_body(0), headers=headers
                    )
                    assert saved.status_code == 201, saved.text[:300]
                    # The save's read-back is on the primary: it sees the dose at once.
                    again = await tablet.client.post(
                        "/api/v1/vaccinations", json=dose_body(0), headers=headers
                    )
                    assert again.status_code == 200
                    assert again.json()["vaccination_id"] == saved.json()["vaccination_id"]
                    # The statistics come from the paused standby: not there yet.
                    assert await statistics_total(viewer) == before
                    await replay.execute("SELECT pg_wal_replay_resume()")
                finally:
                    await replay.close()
                deadline = time.monotonic() + 30
                while await statistics_total(viewer) != before + 1:
                    assert time.monotonic() < deadline, "the standby never caught up"
                    await asyncio.sleep(0.2)
            finally:
                await viewer.aclose()
                await tablet.client.aclose()
    finally:
        await asyncio.to_thread(remove, standby)
