"""Backup and restore jobs (F9): an area's export, or a restore into it, in the background.

Backup: the admin asks for one; a job row is created and a task of the server
process writes the archive under ``<data_dir>/backups/<id>.zip`` (first as
``.part``, renamed when complete, so a half-written file is never offered).
The export reads one REPEATABLE READ snapshot, so the archive is consistent
even while the area keeps working.

Restore: the admin uploads an archive; a job row of kind ``restore`` is queued
(one queued or running per area: ``backup_job_one_restore``) and a task restores
it (:func:`db.backup.restore.restore_area`) in one transaction on a connection
of its own, without the requests' statement limit. The job's outcome (rows per
table) and the audit event ``backup.restore`` commit with the restored rows. A
refused or failed restore changed nothing: its row says why (the
:class:`BackupError`'s key and values) and an audit event ``backup.restore_failed``
is written with that row, in a transaction of their own. The upload (personal
data) is deleted when the job ends.

Progress goes to the job row on other connections; the page polls it. While it
works a job holds its advisory lock, so a restart marks a job a stopped process
left as ``interrupted`` (:mod:`db.imports.recovery`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from db.accounts.principal import Principal
from db.audit.queries import record
from db.backup.archive import export_area
from db.backup.catalog import RESTORED
from db.backup.errors import BackupError
from db.backup.restore import check_restore_target, restore_area
from db.engine import current_connection, job_transaction
from db.imports.recovery import QUEUED_GRACE
from db.job_rows import area_connection, update_job_row

log = logging.getLogger("vrs.backup")

_JSON_COLUMNS = frozenset({"manifest", "error_params"})
_INSERT_ORDER = {table: number for number, table in enumerate(RESTORED)}


def backup_directory(data_dir: Path) -> Path:
    """Where archives are kept (they hold personal data: owner-only, 0700)."""
    directory = data_dir / "backups"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o077:
        directory.chmod(0o700)  # made by an older version, or under a loose umask
    return directory


def archive_path(data_dir: Path, job_id: UUID) -> Path:
    """A finished job's archive."""
    return data_dir / "backups" / f"{job_id}.zip"


# --- job rows (current area) ---------------------------------------------------


async def create_backup_job(municipality_code: str, started_by: UUID | None) -> UUID:
    """A queued backup job of the current area."""
    found: UUID = await current_connection().fetchval(
        "INSERT INTO backup_job (municipality_code, started_by) VALUES ($1, $2) RETURNING id",
        municipality_code,
        started_by,
    )
    return found


_QUEUE_RESTORE = """
    INSERT INTO backup_job (municipality_code, kind, started_by) VALUES ($1, 'restore', $2)
    ON CONFLICT (municipality_code) WHERE kind = 'restore' AND status IN ('queued', 'running')
    DO NOTHING RETURNING id
"""


async def queue_restore(municipality_code: str, started_by: UUID | None) -> UUID:
    """A queued restore job of the current area; :class:`BackupError` if it takes none now.

    Refused: no such municipality, an area that is not empty, a restore already queued
    or running (one a stopped process left is marked interrupted first).
    """
    await check_restore_target(municipality_code)
    connection = current_connection()
    found: UUID | None = await connection.fetchval(_QUEUE_RESTORE, municipality_code, started_by)
    if found is None:
        await connection.fetchval("SELECT vrs_mark_interrupted_backups($1)", QUEUED_GRACE)
        found = await connection.fetchval(_QUEUE_RESTORE, municipality_code, started_by)
    if found is None:
        raise BackupError("backup.restore_running")
    return found


async def backup_job(job_id: UUID) -> dict[str, Any] | None:
    """One job of the current area, or None."""
    row = await current_connection().fetchrow("SELECT * FROM backup_job WHERE id = $1", job_id)
    return _decoded(row) if row else None


async def recent_backup_jobs(limit: int = 20) -> list[dict[str, Any]]:
    """The area's latest backups and restores, newest first (the history)."""
    rows = await current_connection().fetch(
        "SELECT * FROM backup_job ORDER BY created_at DESC LIMIT $1", limit
    )
    return [_decoded(r) for r in rows]


def _decoded(row: Any) -> dict[str, Any]:
    values = dict(row)
    for name in _JSON_COLUMNS:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    # Tables in insert order (jsonb keeps its own order of keys).
    counts = values["manifest"]
    last = len(_INSERT_ORDER)
    values["manifest"] = {
        t: counts[t] for t in sorted(counts, key=lambda t: _INSERT_ORDER.get(t, last))
    }
    if values["status"] == "done":
        values["percent"] = 100
    elif values["tables_total"]:
        values["percent"] = int(99 * values["tables_done"] / values["tables_total"])
    else:
        values["percent"] = 0
    return values


# --- running a job ---------------------------------------------------------------


async def update_backup_job(
    municipality_code: str, job_id: UUID, connection: Any = None, **values: Any
) -> None:
    """Write progress or the outcome to the job row (its own short transaction, or
    ``connection``'s)."""
    await update_job_row(
        "backup_job", municipality_code, job_id, values, _JSON_COLUMNS, connection=connection
    )


async def _progress(code: str, job_id: UUID, table: str, done: int, total: int, rows: int) -> None:
    await update_backup_job(
        code, job_id, current_table=table, tables_done=done, tables_total=total, rows_written=rows
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _lock(connection: Any, job_id: UUID) -> None:
    """Hold the job's advisory lock until ``connection``'s transaction ends (or its process)."""
    await connection.execute("SELECT pg_advisory_xact_lock(vrs_job_lock_key($1))", job_id)


#: Failure messages, by kind, of a job that ends without a BackupError of its own.
_DATABASE_UNAVAILABLE = {
    "backup": "backup.database_unavailable", "restore": "backup.restore_database_unavailable",
}  # fmt: skip
_FAILED = {"backup": "backup.failed", "restore": "backup.restore_failed"}

#: Writes a failed or interrupted job's row: (message key, its values, status).
Failure = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def _run_job(
    kind: str, job_id: UUID, work: Callable[[], Awaitable[None]], fail: Failure
) -> None:
    """Run a job's ``work``; how it failed goes to ``fail`` (never raises but a cancellation)."""
    try:
        await work()
    except BackupError as exc:
        await fail(exc.key, exc.params, "failed")
    except (ConnectionError, TimeoutError, asyncpg.InterfaceError):  # OSErrors, not disk
        await fail(_DATABASE_UNAVAILABLE[kind], {}, "failed")
    except asyncio.CancelledError:  # the process is stopping
        await asyncio.shield(fail("backup.interrupted", {}, "interrupted"))
        raise
    except Exception:
        log.exception("%s job %s failed", kind, job_id)
        await fail(_FAILED[kind], {}, "failed")


async def _fail(
    code: str, job_id: UUID, key: str, params: dict[str, Any], status: str, connection: Any = None
) -> None:
    await update_backup_job(
        code, job_id, connection, status=status, error_key=key, error_params=params,
        finished_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


async def run_backup(job_id: UUID, municipality_code: str, data_dir: Path, key: bytes) -> None:
    """Write the area's archive for one job; the job row says how it went (never raises)."""
    code = municipality_code
    part: Path | None = None

    async def work() -> None:
        nonlocal part
        # A connection of its own, without the requests' statement limit (a big area's
        # export reads for minutes in this one snapshot).
        async with job_transaction(code, isolation="repeatable_read", readonly=True) as connection:
            await _lock(connection, job_id)
            await update_backup_job(
                code, job_id, status="running", error_key="", error_params={}, finished_at=None
            )
            try:
                part = backup_directory(data_dir) / f"{job_id}.zip.part"
                manifest = await export_area(
                    code, part, connection, partial(_progress, code, job_id), key=key
                )
            except (ConnectionError, TimeoutError, asyncpg.InterfaceError):
                raise  # the database's, not the disk's
            except OSError as exc:
                raise BackupError("backup.write_failed", reason=exc.strerror or str(exc)) from None
        final = archive_path(data_dir, job_id)
        part.rename(final)
        part = None
        await update_backup_job(
            code, job_id, status="done", current_table="", size_bytes=final.stat().st_size,
            sha256=await asyncio.to_thread(_sha256, final),
            manifest={t: e["rows"] for t, e in manifest["tables"].items()},
            finished_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip

    try:
        await _run_job("backup", job_id, work, partial(_fail, code, job_id))
    finally:
        if part is not None:
            part.unlink(missing_ok=True)


async def run_restore(
    job_id: UUID, municipality_code: str, upload: Path, key: bytes, actor: Principal | None
) -> None:
    """Restore an uploaded archive for one job, all or nothing; the job row says how it went
    (never raises). The upload is deleted when the job ends."""
    code = municipality_code

    async def work() -> None:
        async with job_transaction(code) as connection:
            await _lock(connection, job_id)
            size, digest = upload.stat().st_size, await asyncio.to_thread(_sha256, upload)
            await update_backup_job(code, job_id, status="running", size_bytes=size, sha256=digest)
            restored = await restore_area(
                code, upload, key, connection=connection, progress=partial(_progress, code, job_id)
            )
            # With the restored rows: the audit event and the outcome commit with them.
            await record(
                "backup.restore", actor=actor, municipality_code=code, object_type="municipality",
                object_id=code, details={**restored, "job": str(job_id)}, connection=connection,
            )  # fmt: skip
            await update_backup_job(
                code, job_id, connection, status="done", current_table="", manifest=restored,
                finished_at=dt.datetime.now(dt.UTC),
            )  # fmt: skip

    async def fail(message: str, params: dict[str, Any], status: str) -> None:
        async with area_connection(code) as connection:
            await record(
                "backup.restore_failed", actor=actor, municipality_code=code,
                object_type="backup_job", object_id=str(job_id),
                details={"error_key": message, "error_params": params}, connection=connection,
            )  # fmt: skip
            await _fail(code, job_id, message, params, status, connection)

    try:
        await _run_job("restore", job_id, work, fail)
    finally:
        upload.unlink(missing_ok=True)
