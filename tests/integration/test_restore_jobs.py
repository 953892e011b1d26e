"""F9: a restore uploaded on the backup page runs as a background job, like a backup.

The upload is stored and a restore job queued (one per area at a time, into an empty area
only); a task restores it in one transaction of its own, all or nothing. The page polls
the job: the rows restored, or the archive's refusal with its message. The upload is
deleted when the job ends; a job a stopped server left is marked interrupted at start-up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from db.accounts.roles import Role
from db.backup.archive import export_area
from db.backup.errors import BackupError
from db.backup.jobs import backup_job, queue_restore
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    sign_in,
)
from tests.integration.test_backup import fresh_installation, wait_backup
from tests.integration.test_backup_restore_guard import post_archive
from tests.integration.test_interrupted_jobs import lock_released
from web.i18n import translate

AREA = "131016"
ROOT = Path(__file__).resolve().parents[2]


async def area_archive(database: str, target: Path, key: bytes, residents: int = 2) -> Path:
    """An archive of an area with ``residents`` residents (one vaccinated); then a new,
    empty installation with the municipality created again, as an operator would."""
    await create_municipality(AREA)
    first = await create_resident(AREA, name="復元 花子")
    await create_vaccination(first, AREA)
    for _ in range(residents - 1):
        await create_resident(AREA)
    async with tenant_transaction(AREA):
        await export_area(AREA, target, key=key)
    await fresh_installation(database)
    await create_municipality(AREA)
    return target


def kept_uploads(settings) -> list[Path]:
    return sorted((settings.data_dir / "imports").glob("restore-*.zip"))


async def residents_of_area() -> int:
    async with owner_transaction():
        return await current_connection().fetchval(
            "SELECT count(*) FROM resident WHERE municipality_code = $1", AREA
        )


async def audit_actions() -> list[dict[str, Any]]:
    """The audit events of restores (done or failed), oldest first."""
    query = "SELECT action, object_type, details FROM audit_event WHERE action LIKE $1 ORDER BY id"
    async with owner_transaction():
        return [dict(r) for r in await current_connection().fetch(query, "backup.restore%")]


@asynccontextmanager
async def slow_resident_inserts(database: str, seconds: float) -> AsyncIterator[None]:
    """Every INSERT statement into ``resident`` takes ``seconds`` longer (as a big area's
    would): a restore stays running long enough to watch, stop or time it."""
    connection = await asyncpg.connect(database)
    try:
        await connection.execute(
            "CREATE FUNCTION test_slow_statement() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END $$;"
            " CREATE TRIGGER test_slow_resident AFTER INSERT ON resident"
            " FOR EACH STATEMENT EXECUTE FUNCTION test_slow_statement()"
        )
        yield
    finally:
        await connection.execute(
            "DROP TRIGGER IF EXISTS test_slow_resident ON resident;"
            " DROP FUNCTION IF EXISTS test_slow_statement()"
        )
        await connection.close()


async def wait_restoring(job_id: UUID) -> None:
    """Until the job is inserting rows (its archive checked, its lock held)."""
    for _ in range(1500):
        async with tenant_transaction(AREA):
            job = await backup_job(job_id)
        assert job is not None and job["status"] in {"queued", "running"}, job
        if job["status"] == "running" and job["tables_total"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the restore never started inserting")


async def test_a_restore_job_runs_to_done_and_the_data_is_there(
    client, app, database, settings, tmp_path
) -> None:
    archive = await area_archive(database, tmp_path / "area.zip", settings.backup_key)
    await sign_in(client, await create_account("restore-admin", Role.MUNICIPAL_ADMIN, AREA))
    started = await post_archive(client, archive.read_bytes())
    assert started.status_code == 303, started.text[:500]
    job_path = started.headers["location"]
    assert re.fullmatch(r"/admin/backup/jobs/[0-9a-f-]{36}", job_path)
    assert await wait_backup(client, job_path) == "done"

    page = await client.get(job_path)
    assert "<h1>復元</h1>" in page.text and 'data-kind="restore"' in page.text
    restored = re.search(r'data-testid="backup-restored">([^<]*)<', page.text).group(1)
    assert "resident: 2" in restored and "vaccination: 1" in restored, restored
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sha in page.text  # the uploaded archive's, to compare with its backup's page
    assert "backup-download" not in page.text
    english = await client.get(f"{job_path}?lang=en")
    assert "<h1>Restore</h1>" in english.text and "Restored:" in english.text

    assert await residents_of_area() == 2
    job_id = UUID(job_path.rsplit("/", 1)[1])
    [event] = await audit_actions()
    assert event["action"] == "backup.restore" and event["object_type"] == "municipality"
    assert '"resident": 2' in event["details"] and str(job_id) in event["details"]
    assert kept_uploads(settings) == []  # the upload (personal data) is gone
    listing = await client.get("/admin/backup")
    assert 'data-status="done" data-kind="restore"' in listing.text
    # A restore job has no archive to download.
    assert (await client.get(f"{job_path}/download")).status_code == 404
    # The area is no longer empty: the next restore is refused at once, as before.
    again = await post_archive(client, archive.read_bytes())
    assert again.status_code == 422 and translate("backup.area_not_empty", "ja") in again.text
    assert kept_uploads(settings) == []


async def test_a_bad_archive_ends_failed_with_its_message_and_changes_nothing(
    client, app, settings
) -> None:
    await create_municipality(AREA)
    await sign_in(client, await create_account("bad-restore-admin", Role.MUNICIPAL_ADMIN, AREA))
    # The page's htmx form: the answer is the job's progress, polling until it ends.
    started = await post_archive(client, b"not a zip", **{"HX-Request": "true"})
    assert started.status_code == 200, started.text[:500]
    assert 'data-kind="restore"' in started.text
    assert 'hx-trigger="every 1s"' in started.text
    job_id = re.search(r'id="backup-job-([0-9a-f-]{36})"', started.text).group(1)
    job_path = f"/admin/backup/jobs/{job_id}"
    assert await wait_backup(client, job_path) == "failed"
    page = await client.get(job_path)
    assert translate("backup.not_an_archive", "ja") in page.text
    assert "失敗（何も復元していません）" in page.text
    english = await client.get(f"{job_path}?lang=en")
    assert translate("backup.not_an_archive", "en") in english.text

    assert await residents_of_area() == 0
    [event] = await audit_actions()
    assert event["action"] == "backup.restore_failed" and event["object_type"] == "backup_job"
    assert "backup.not_an_archive" in event["details"]
    assert kept_uploads(settings) == []


async def test_one_restore_at_a_time_per_area(client, app, database, settings, tmp_path) -> None:
    archive = await area_archive(database, tmp_path / "area.zip", settings.backup_key)
    await sign_in(client, await create_account("busy-admin", Role.MUNICIPAL_ADMIN, AREA))
    async with tenant_transaction(AREA):  # queued, its task not started yet
        waiting = await queue_restore(AREA, None)
    async with tenant_transaction(AREA):
        try:
            await queue_restore(AREA, None)
            raise AssertionError("two restores queued")
        except BackupError as exc:
            assert exc.key == "backup.restore_running"
    refused = await post_archive(client, archive.read_bytes())
    assert refused.status_code == 422
    assert translate("backup.restore_running", "ja") in refused.text
    assert kept_uploads(settings) == []

    # The queued job's process never took it (it stopped): past the grace it is marked
    # interrupted, and the area takes a restore again.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE backup_job SET created_at = now() - interval '1 hour' WHERE id = $1", waiting
        )
    started = await post_archive(client, archive.read_bytes())
    assert started.status_code == 303, started.text[:500]
    assert await wait_backup(client, started.headers["location"]) == "done"
    async with tenant_transaction(AREA):
        assert (await backup_job(waiting))["status"] == "interrupted"
    assert await residents_of_area() == 2


_RESTORE_IN_A_PROCESS = r"""
import asyncio, sys
from pathlib import Path
from uuid import UUID

async def main(code, upload, job):
    from common.settings import load_settings
    from db.backup.jobs import run_restore
    from db.engine import start_serving_pool

    await start_serving_pool(2)
    await run_restore(UUID(job), code, Path(upload), load_settings().backup_key, None)

asyncio.run(main(*sys.argv[1:]))
"""


def restore_in_a_process(upload: Path, job_id: UUID) -> subprocess.Popen[str]:
    """A server process's restore task (``run_restore``), in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-c", _RESTORE_IN_A_PROCESS, AREA, str(upload), str(job_id)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def test_a_restore_a_stopped_server_left_is_marked_interrupted(
    client, app, database, settings, tmp_path
) -> None:
    archive = await area_archive(database, tmp_path / "area.zip", settings.backup_key)
    async with tenant_transaction(AREA):
        job_id = await queue_restore(AREA, None)
    upload = settings.data_dir / "imports" / f"restore-{job_id}.zip"
    upload.write_bytes(archive.read_bytes())
    async with slow_resident_inserts(database, 3):
        server = restore_in_a_process(upload, job_id)
        try:
            await wait_restoring(job_id)
        finally:
            server.kill()  # SIGKILL: the process stops where it is
            server.wait()
        await lock_released(database, job_id)
    async with tenant_transaction(AREA):
        assert (await backup_job(job_id))["status"] == "running"  # as the process left it
    assert await residents_of_area() == 0  # all or nothing: the killed transaction wrote none

    async with app.lifespan():  # the server starts again
        pass
    await sign_in(client, await create_account("restart-admin", Role.MUNICIPAL_ADMIN, AREA))
    page = await client.get(f"/admin/backup/jobs/{job_id}")
    assert 'data-kind="restore" data-status="interrupted"' in page.text
    assert translate("backup.restore_interrupted", "ja") in page.text
    assert 'hx-trigger="every 1s"' not in page.text
    # The killed process's upload is a leftover for the kept-file expiry (restore-*.zip).
    from db.imports.recovery import expire_import_uploads

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    await expire_import_uploads(settings.data_dir, dt.timedelta(days=7), later)
    assert not upload.exists()


async def test_a_restore_cancelled_by_a_stopping_server_ends_interrupted(
    app, database, settings, tmp_path
) -> None:
    from web.controllers.backup import start_restore as start_task

    archive = await area_archive(database, tmp_path / "area.zip", settings.backup_key)
    admin = await create_account("stop-admin", Role.MUNICIPAL_ADMIN, AREA)
    async with owner_transaction():
        account = await current_connection().fetchrow(
            "SELECT * FROM account WHERE login = $1", admin
        )
    from db.accounts.principal import Principal

    actor = Principal(
        account_id=account["id"], login=admin, display_name="x", role=Role.MUNICIPAL_ADMIN,
        municipality_code=AREA, prefecture_code=None, venue_id=None,
    )  # fmt: skip
    async with tenant_transaction(AREA):
        job_id = await queue_restore(AREA, actor.account_id)
    upload = settings.data_dir / "imports" / f"restore-{job_id}.zip"
    upload.write_bytes(archive.read_bytes())
    async with slow_resident_inserts(database, 3):
        task = start_task(job_id, AREA, upload, actor, settings)
        await wait_restoring(job_id)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with tenant_transaction(AREA):
        job = await backup_job(job_id)
    assert job["status"] == "interrupted" and job["error_key"] == "backup.interrupted"
    assert await residents_of_area() == 0
    assert not upload.exists()
    [event] = await audit_actions()
    assert event["action"] == "backup.restore_failed" and "backup.interrupted" in event["details"]
