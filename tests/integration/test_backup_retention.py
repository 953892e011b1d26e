"""Backup files: owner-only, deleted after the retention period (recorded); uploads too.

The clock is injected (``now``): nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import replace

from db.accounts.roles import Role
from db.backup.jobs import archive_path, create_backup_job, run_backup
from db.engine import current_connection, owner_transaction, tenant_transaction
from db.imports.recovery import expire_kept_files, kept_upload
from tests.factories import create_account, create_municipality, create_resident, sign_in
from tests.integration.test_cli import vrs


async def _backup(settings, code: str = "131016"):
    async with tenant_transaction(code):
        job_id = await create_backup_job(code, None)
    await run_backup(job_id, code, settings.data_dir, settings.backup_key)
    return job_id


async def test_archives_are_written_owner_only_in_an_owner_only_folder(app, settings, tmp_path):
    await create_municipality("131016")
    await create_resident("131016")
    data = tmp_path / "data"
    (data / "backups").mkdir(parents=True, mode=0o755)  # as an older version left it
    (data / "backups").chmod(0o755)
    job_id = await _backup(replace(settings, data_dir=data))
    path = archive_path(data, job_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "backups").stat().st_mode) == 0o700
    out = tmp_path / "cli.zip"
    out.write_bytes(b"old")
    out.chmod(0o644)
    vrs("backup", "--municipality", "131016", "--output", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


async def test_an_archive_past_its_retention_is_deleted_and_the_job_says_expired(
    client, app, settings, tmp_path
) -> None:
    settings = replace(settings, data_dir=tmp_path / "data")
    await create_municipality("131016")
    await sign_in(client, await create_account("ret-admin", Role.MUNICIPAL_ADMIN, "131016"))
    old = await _backup(settings)
    assert settings.backup_retention_days == 30  # the default
    now = dt.datetime.now(dt.UTC)
    assert await expire_kept_files(settings, now + dt.timedelta(days=29)) == {
        "backups": 0, "uploads": 0,
    }  # fmt: skip
    assert archive_path(settings.data_dir, old).is_file()
    fresh_later = await _backup(settings)  # made "now": younger than 30 days at day 31
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE backup_job SET created_at = created_at - interval '2 days' WHERE id = $1", old
        )
    assert (await expire_kept_files(settings, now + dt.timedelta(days=29)))["backups"] == 1
    assert not archive_path(settings.data_dir, old).exists()
    assert archive_path(settings.data_dir, fresh_later).is_file()
    async with owner_transaction():
        c = current_connection()
        assert await c.fetchval("SELECT status FROM backup_job WHERE id = $1", old) == "expired"
        event = await c.fetchrow(
            "SELECT municipality_code, object_id, details FROM audit_event"
            " WHERE action = 'backup.expired'"
        )
    assert event["municipality_code"] == "131016" and event["object_id"] == str(old)
    # Run again: nothing more to do, nothing recorded twice.
    assert (await expire_kept_files(settings, now + dt.timedelta(days=29)))["backups"] == 0
    page = await client.get(f"/admin/backup/jobs/{old}")
    assert 'data-status="expired"' in page.text and 'data-testid="backup-expired"' in page.text
    assert "backup-download" not in page.text
    assert (await client.get(f"/admin/backup/jobs/{old}/download")).status_code == 404


async def test_an_interrupted_imports_upload_is_deleted_after_its_retention(
    app, settings, tmp_path
) -> None:
    settings = replace(settings, data_dir=tmp_path / "data")
    await create_municipality("131016")
    async with tenant_transaction("131016"):
        job_id = await current_connection().fetchval(
            "INSERT INTO import_job (municipality_code, filename, status, finished_at)"
            " VALUES ('131016', 'r.csv', 'interrupted', now()) RETURNING id"
        )
        running = await current_connection().fetchval(
            "INSERT INTO import_job (municipality_code, filename, status)"
            " VALUES ('131016', 'r.csv', 'running') RETURNING id"
        )
    upload = kept_upload(settings.data_dir, job_id)
    upload.parent.mkdir(parents=True)
    upload.write_text("plaintext with a My Number")
    kept_upload(settings.data_dir, running).write_text("being imported")
    assert settings.upload_retention_days == 7  # the default
    now = dt.datetime.now(dt.UTC)
    assert (await expire_kept_files(settings, now + dt.timedelta(days=6)))["uploads"] == 0
    assert upload.is_file()
    assert (await expire_kept_files(settings, now + dt.timedelta(days=8)))["uploads"] == 1
    assert not upload.exists()
    assert kept_upload(settings.data_dir, running).is_file()  # a live job keeps its file
    async with owner_transaction():
        assert (
            await current_connection().fetchval(
                "SELECT count(*) FROM audit_event WHERE action = 'import.upload_expired'"
                " AND object_id = $1",
                str(job_id),
            )
            == 1
        )


async def test_the_expire_files_command(app, settings) -> None:
    result = vrs("expire-files")
    assert "deleted 0 backup archive(s) older than 30 days" in result.stdout


async def test_server_start_up_expires_what_is_past_retention(app, settings) -> None:
    await create_municipality("131016")
    job_id = await _backup(settings)
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE backup_job SET created_at = now() - interval '31 days' WHERE id = $1", job_id
        )
    assert archive_path(settings.data_dir, job_id).is_file()
    async with app.lifespan():
        pass
    assert not archive_path(settings.data_dir, job_id).exists()
    async with owner_transaction():
        status = await current_connection().fetchval(
            "SELECT status FROM backup_job WHERE id = $1", job_id
        )
    assert status == "expired"
