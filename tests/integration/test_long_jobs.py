"""Background jobs outlast the requests' statement limit (``db.engine.job_transaction``).

A real server opens its pool with a limit per statement (``VRS_DB_STATEMENT_TIMEOUT``, 20 s),
so that a request answers 503 rather than hang. An import stages its whole file in one COPY
and builds the area's indexes in one statement; a backup reads the area in one snapshot: on
a big area each takes longer than a request may. They run on connections of their own,
without that limit. Here the limit is 0.1 s, as if the area were a hundred times larger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.engine import (
    DatabaseLimits,
    DatabaseUnavailable,
    close_serving_pool,
    start_serving_pool,
    tenant_transaction,
    tenantless_statement,
)
from tests.factories import create_municipality
from tests.integration.test_imports import HEADER, row

ROWS = 20_000


@pytest.fixture
async def limited_pool(db: str, settings) -> AsyncIterator[None]:
    """The serving pool as a real server opens it, with a 0.1 s limit per statement."""
    await start_serving_pool(4, DatabaseLimits(statement_timeout=0.1))
    try:
        yield
    finally:
        await close_serving_pool()


async def test_an_import_and_a_backup_longer_than_a_request_may_take_complete(
    limited_pool, settings, tmp_path: Path
) -> None:
    from cli.commands.workspace import import_file
    from db.backup.jobs import backup_job, create_backup_job, run_backup

    await create_municipality("131016")
    source = tmp_path / "residents.csv"
    source.write_bytes(("\n".join([HEADER, *(row(n) for n in range(1, ROWS + 1))]) + "\n").encode())
    outcome = await import_file(source, "131016")
    assert (outcome["status"], outcome["residents_inserted"]) == ("done", ROWS), outcome

    async with tenant_transaction("131016"):
        job_id = await create_backup_job("131016", None)
    await run_backup(job_id, "131016", tmp_path / "data", settings.backup_key)
    async with tenant_transaction("131016"):
        job = await backup_job(job_id)
    assert job is not None and job["status"] == "done", job

    # A request's statement is still held to the limit.
    with pytest.raises(DatabaseUnavailable):
        async with tenantless_statement() as connection:
            await connection.execute("SELECT pg_sleep(0.5)")


async def test_a_restore_longer_than_a_request_may_take_completes_as_a_job(
    limited_pool, database, settings, tmp_path: Path
) -> None:
    from db.backup.jobs import backup_job, queue_restore, run_restore
    from db.backup.restore import restore_area
    from db.engine import current_connection, job_transaction, owner_transaction
    from tests.integration.test_restore_jobs import area_archive, slow_resident_inserts

    archive = await area_archive(database, tmp_path / "area.zip", settings.backup_key)
    upload = tmp_path / "upload.zip"
    upload.write_bytes(archive.read_bytes())
    # The job's connection has no statement limit, on either side.
    async with job_transaction("131016") as connection:
        assert await connection.fetchval("SHOW statement_timeout") == "0"

    async with slow_resident_inserts(database, 0.3):  # each insert of residents: > 0.1 s
        # In a request's transaction the restore hits the limit (and leaves nothing) ...
        with pytest.raises(DatabaseUnavailable):
            async with tenant_transaction("131016"):
                await restore_area("131016", archive, settings.backup_key)
        # ... as a job it completes.
        async with tenant_transaction("131016"):
            job_id = await queue_restore("131016", None)
        await run_restore(job_id, "131016", upload, settings.backup_key, None)
    async with tenant_transaction("131016"):
        job = await backup_job(job_id)
    assert job is not None and job["status"] == "done", job
    assert job["manifest"]["resident"] == 2
    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM resident") == 2
    assert not upload.exists()
