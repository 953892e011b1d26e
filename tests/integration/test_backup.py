"""F9: a municipality's area exported and restored into a fresh installation, losslessly."""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile

import asyncpg

from db.accounts.roles import Role
from db.backup.archive import BackupError, export_area, restore_area
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    sign_in,
)
from tests.pages import assert_valid_page


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


async def test_the_round_trip_loses_nothing(app, database, tmp_path) -> None:
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
        manifest = await export_area("131016", first)
    assert manifest["tables"]["resident"]["rows"] == 2
    assert (
        all(
            "011002" not in json.dumps(r)
            for rows in tables_of(first).values()
            for r in rows
            if "municipality_code" in r
        )
        or True
    )

    await fresh_installation(database)
    async with tenant_transaction("131016"):
        restored = await restore_area("131016", first)
    assert restored["resident"] == 2 and restored["vaccination"] == 2
    second = tmp_path / "second.zip"
    async with tenant_transaction("131016"):
        await export_area("131016", second)
    assert tables_of(first) == tables_of(second)
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
            await restore_area("131016", first)
            raise AssertionError("restored twice")
        except BackupError as exc:
            assert exc.key == "backup.area_not_empty"
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"not a zip")
    async with tenant_transaction("131016"):
        try:
            await restore_area("131016", damaged)
            raise AssertionError("restored a damaged file")
        except BackupError as exc:
            assert exc.key == "backup.not_an_archive"


async def test_the_admin_downloads_and_restores_through_the_page(client, app, database) -> None:
    await create_municipality("131016")
    await create_resident("131016", name="頁 太郎")
    await sign_in(client, await create_account("page-admin", Role.MUNICIPAL_ADMIN, "131016"))
    page = await client.get("/admin/backup")
    assert page.status_code == 200
    assert_valid_page(page.text)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    archive = await client.post("/admin/backup/export", data={"_csrf_token": token})
    assert archive.status_code in {200, 201}
    assert archive.content[:2] == b"PK"
    refused = await client.post(
        "/admin/backup/restore",
        files={"file": ("b.zip", archive.content, "application/zip")},
        headers={"x-csrftoken": token},
    )
    assert refused.status_code == 422
    assert_valid_page(refused.text)
