"""F9: a municipality's area exported and restored into a fresh installation, losslessly."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import zipfile

import asyncpg

from db.accounts.roles import Role
from db.backup.archive import BackupError, export_area
from db.backup.restore import restore_area
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    sign_in,
)


def tables_of(path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        out = {}
        for table in manifest["tables"]:
            rows = [
                json.loads(x) for x in archive.read(f"tables/{table}.jsonl").decode().splitlines()
            ]
            if table == "audit_event":
                rows = [{k: v for k, v in r.items() if k != "id"} for r in rows]
            out[table] = rows
    return out


#: Numbers the new installation gives anew: audit event ids, settings revisions (which
#: follow the revision its municipality was created with).
GENERATED = {"audit_event": {"id"}, "municipality_setting": {"revision"}}


def table_digest(rows: list[dict]) -> tuple[int, str]:
    """Row count and a checksum of a table's rows, generated numbers left out."""
    lines = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def normalised(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {
        t: [{k: v for k, v in r.items() if k not in GENERATED.get(t, set())} for r in rows]
        for t, rows in tables.items()
    }


def assert_restored_identically(first, second, before=None, after=None) -> None:
    """Backed up again, the area holds exactly the first archive's rows, per table.

    ``before``: the archive of the new area before the restore (what the operator
    made: the municipality's first settings, its admin, their audit events);
    ``after``: rows written after the restore (its audit event), by table.
    """
    first, second = normalised(tables_of(first)), normalised(tables_of(second))
    before = normalised(tables_of(before)) if before else {}
    for table in sorted(set(first) | set(second)):
        expected = first.get(table, []) + before.get(table, []) + (after or {}).get(table, [])
        assert table_digest(second.get(table, [])) == table_digest(expected), table


async def fresh_installation(database: str) -> None:
    """Empty every table (reference data kept), as a new installation would be."""
    from tests.fixtures import REFERENCE_TABLES

    connection = await asyncpg.connect(database)
    try:
        names = [
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            if r["tablename"] not in REFERENCE_TABLES
        ]
        await connection.execute(
            "TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"
        )
    finally:
        await connection.close()


async def test_the_round_trip_loses_nothing(app, database, settings, tmp_path) -> None:
    key = settings.backup_key
    await create_municipality("131016")
    await create_municipality("011002")
    await create_account("backup-admin", Role.MUNICIPAL_ADMIN, "131016")
    person = await create_resident("131016", name="保存 花子", former_name="旧姓")
    other = await create_resident("131016", my_number=None)
    dose = await create_vaccination(person)
    await create_vaccination(other, vaccinated_on=dt.date(2021, 7, 1))
    stranger = await create_resident("011002")
    await create_vaccination(stranger, "011002")
    async with owner_transaction():
        c = current_connection()
        await c.execute(
            "UPDATE vaccination SET version = 2, lot_number = 'NEW1' WHERE id = $1", dose
        )
        await c.execute(
            "INSERT INTO vaccination_version (municipality_code, vaccination, version, snapshot,"
            " changed_at, reason) VALUES ('131016', $1, 1, '{\"lot_number\": \"OLD\"}', now(), '訂正')",
            dose,
        )
        await c.execute(
            "INSERT INTO audit_event (municipality_code, occurred_at, action, details)"
            " VALUES ('131016', now(), 'resident.view', '{\"x\": 1}')"
        )
        counts_before = await c.fetch(
            "SELECT * FROM dose_count WHERE municipality_code = '131016' ORDER BY vaccinated_on"
        )
    first = tmp_path / "first.zip"
    async with tenant_transaction("131016"):
        manifest = await export_area("131016", first, key=key)
    assert manifest["tables"]["resident"]["rows"] == 2
    assert all(
        r["municipality_code"] == "131016" for rows in tables_of(first).values() for r in rows
    )

    await fresh_installation(database)
    await create_municipality("131016")
    before = tmp_path / "before.zip"
    async with tenant_transaction("131016"):
        await export_area("131016", before, key=key)
    async with tenant_transaction("131016"):
        restored = await restore_area("131016", first, key)
    assert restored["resident"] == 2 and restored["vaccination"] == 2
    second = tmp_path / "second.zip"
    async with tenant_transaction("131016"):
        await export_area("131016", second, key=key)
    assert_restored_identically(first, second, before)
    async with owner_transaction():
        c = current_connection()
        assert (
            await c.fetchval("SELECT count(*) FROM resident WHERE municipality_code = '011002'")
            == 0
        )
        counts_after = await c.fetch(
            "SELECT * FROM dose_count WHERE municipality_code = '131016' ORDER BY vaccinated_on"
        )
    strip = lambda rows: [{k: v for k, v in dict(r).items() if k != "id"} for r in rows]  # noqa: E731
    assert strip(counts_before) == strip(counts_after)
    # A second restore into the now full area is refused, as is a damaged archive.
    async with tenant_transaction("131016"):
        try:
            await restore_area("131016", first, key)
            raise AssertionError("restored twice")
        except BackupError as exc:
            assert exc.key == "backup.area_not_empty"
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"not a zip")
    async with tenant_transaction("131016"):
        try:
            await restore_area("131016", damaged, key)
            raise AssertionError("restored a damaged file")
        except BackupError as exc:
            assert exc.key == "backup.not_an_archive"


async def wait_backup(client, job_path: str) -> str:
    """Poll the job's partial, as its page does, until the job ends; its status."""
    for _ in range(600):
        partial = await client.get(job_path, headers={"hx-request": "true"})
        assert partial.status_code == 200
        status = re.search(r'data-status="(\w+)"', partial.text).group(1)
        if status not in {"queued", "running"}:
            return status
        assert 'hx-trigger="every 1s"' in partial.text  # it keeps polling while it runs
        await asyncio.sleep(0.05)
    raise AssertionError("the backup did not finish")


async def start_backup(client, token: str) -> str:
    started = await client.post("/admin/backup/export", data={"_csrf_token": token})
    assert started.status_code == 303
    return started.headers["location"]


async def test_the_admin_backs_up_as_a_job_downloads_and_restores(
    client, app, database, settings, tmp_path
) -> None:
    await create_municipality("131016")
    await create_resident("131016", name="頁 太郎")
    await sign_in(client, await create_account("page-admin", Role.MUNICIPAL_ADMIN, "131016"))
    page = await client.get("/admin/backup")
    assert page.status_code == 200
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    job_path = await start_backup(client, token)
    assert re.fullmatch(r"/admin/backup/jobs/[0-9a-f-]{36}", job_path)
    assert await wait_backup(client, job_path) == "done"
    shown = await client.get(job_path)
    assert 'data-testid="backup-download"' in shown.text
    archive = await client.get(f"{job_path}/download")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    sha = re.search(r'data-testid="backup-sha256">([0-9a-f]{64})<', shown.text).group(1)
    assert hashlib.sha256(archive.content).hexdigest() == sha
    saved = tmp_path / "downloaded.zip"
    saved.write_bytes(archive.content)
    assert tables_of(saved)["resident"][0]["name"] == "頁 太郎"
    assert "backup_job" not in tables_of(saved)  # the jobs describe this installation only

    # A second backup: both stay in the history.
    second = await start_backup(client, token)
    assert await wait_backup(client, second) == "done"
    listing = await client.get("/admin/backup")
    assert listing.text.count('data-testid="backup-job-row" data-status="done"') == 2
    async with owner_transaction():
        actions = await current_connection().fetch(
            "SELECT action FROM audit_event WHERE action LIKE 'backup.%' ORDER BY id"
        )
    assert [a["action"] for a in actions] == ["backup.export", "backup.download", "backup.export"]

    refused = await client.post(
        "/admin/backup/restore",
        files={"file": ("b.zip", archive.content, "application/zip")},
        headers={"x-csrftoken": token},
    )
    assert refused.status_code == 422
    # Restored into a fresh installation, the downloaded archive gives back the area.
    await fresh_installation(database)
    await create_municipality("131016")
    async with tenant_transaction("131016"):
        restored = await restore_area("131016", saved, settings.backup_key)
    assert restored["resident"] == 1


async def test_a_failed_backup_says_why_and_offers_no_file(client, app, settings, tmp_path) -> None:
    from db.backup.jobs import create_backup_job, run_backup

    await create_municipality("131016")
    await sign_in(client, await create_account("fail-admin", Role.MUNICIPAL_ADMIN, "131016"))
    blocked = tmp_path / "data"
    blocked.mkdir()
    (blocked / "backups").write_text("a file where the backups folder should be")
    async with tenant_transaction("131016"):
        job_id = await create_backup_job("131016", None)
    await run_backup(job_id, "131016", blocked, settings.backup_key)
    page = await client.get(f"/admin/backup/jobs/{job_id}")
    assert 'data-status="failed"' in page.text
    assert "書き込めませんでした" in page.text and "backup-download" not in page.text
    download = await client.get(f"/admin/backup/jobs/{job_id}/download")
    assert download.status_code == 422
    assert "まだ完了していない" in download.text


async def test_a_backup_left_running_is_marked_interrupted_at_startup(client, app) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("int-admin", Role.MUNICIPAL_ADMIN, "131016"))
    async with tenant_transaction("131016"):
        job_id = await current_connection().fetchval(
            "INSERT INTO backup_job (municipality_code, status, tables_total, tables_done)"
            " VALUES ('131016', 'running', 12, 5) RETURNING id"
        )
    async with app.lifespan():
        pass
    page = await client.get(f"/admin/backup/jobs/{job_id}")
    assert 'data-status="interrupted"' in page.text
    assert "中断されました" in page.text
    assert 'hx-trigger="every 1s"' not in page.text


async def test_another_areas_backup_cannot_be_reached(client, app) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    await sign_in(client, await create_account("own-admin", Role.MUNICIPAL_ADMIN, "131016"))
    async with tenant_transaction("011002"):
        other = await current_connection().fetchval(
            "INSERT INTO backup_job (municipality_code, status) VALUES ('011002', 'done')"
            " RETURNING id"
        )
    assert (await client.get(f"/admin/backup/jobs/{other}")).status_code == 404
    assert (await client.get(f"/admin/backup/jobs/{other}/download")).status_code == 404
