"""Backup jobs (F9): an area's export run in the background, with progress and history.

The admin asks for a backup; a job row is created and a task of the server
process writes the archive under ``<data_dir>/backups/<id>.zip`` (first as
``.part``, renamed when complete, so a half-written file is never offered).
The export reads one REPEATABLE READ snapshot, so the archive is consistent
even while the area keeps working. Progress goes to the job row on other
connections; the page polls it. While it works the job holds its advisory
lock, so a restart marks a job a stopped process left as ``interrupted``
(:mod:`db.imports.recovery`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from db.backup.archive import export_area
from db.backup.errors import BackupError
from db.engine import current_connection, job_transaction
from db.job_rows import update_job_row

log = logging.getLogger("vrs.backup")

_JSON_COLUMNS = frozenset({"manifest", "error_params"})


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


async def backup_job(job_id: UUID) -> dict[str, Any] | None:
    """One job of the current area, or None."""
    row = await current_connection().fetchrow("SELECT * FROM backup_job WHERE id = $1", job_id)
    return _decoded(row) if row else None


async def recent_backup_jobs(limit: int = 20) -> list[dict[str, Any]]:
    """The area's latest backups, newest first (the history)."""
    rows = await current_connection().fetch(
        "SELECT * FROM backup_job ORDER BY created_at DESC LIMIT $1", limit
    )
    return [_decoded(r) for r in rows]


def _decoded(row: Any) -> dict[str, Any]:
    values = dict(row)
    for name in _JSON_COLUMNS:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    if values["status"] == "done":
        values["percent"] = 100
    elif values["tables_total"]:
        values["percent"] = int(99 * values["tables_done"] / values["tables_total"])
    else:
        values["percent"] = 0
    return values


# --- running a job ---------------------------------------------------------------


async def update_backup_job(municipality_code: str, job_id: UUID, **values: Any) -> None:
    """Write progress or the outcome to the job row (its own short transaction)."""
    await update_job_row("backup_job", municipality_code, job_id, values, _JSON_COLUMNS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def run_backup(job_id: UUID, municipality_code: str, data_dir: Path, key: bytes) -> None:
    """Write the area's archive for one job; the job row says how it went (never raises)."""
    code = municipality_code
    partial: Path | None = None
    try:
        # A connection of its own, without the requests' statement limit (a big area's
        # export reads for minutes in this one snapshot).
        async with job_transaction(code, isolation="repeatable_read", readonly=True) as connection:
            await connection.execute("SELECT pg_advisory_xact_lock(vrs_job_lock_key($1))", job_id)
            await update_backup_job(
                code, job_id, status="running", error_key="", error_params={}, finished_at=None
            )
            try:
                directory = backup_directory(data_dir)
            except OSError as exc:
                raise _Failed("backup.write_failed", reason=exc.strerror or str(exc)) from None
            partial = directory / f"{job_id}.zip.part"

            async def progress(table: str, done: int, total: int, rows: int) -> None:
                await update_backup_job(
                    code, job_id, current_table=table, tables_done=done, tables_total=total,
                    rows_written=rows,
                )  # fmt: skip

            try:
                manifest = await export_area(code, partial, connection, progress, key=key)
            except BackupError as exc:
                raise _Failed(exc.key, **exc.params) from None
            except (ConnectionError, TimeoutError, asyncpg.InterfaceError):  # OSErrors, not disk
                raise _Failed("backup.database_unavailable") from None
            except OSError as exc:
                raise _Failed("backup.write_failed", reason=exc.strerror or str(exc)) from None
        final = archive_path(data_dir, job_id)
        partial.rename(final)
        partial = None
        await update_backup_job(
            code, job_id, status="done", current_table="", size_bytes=final.stat().st_size,
            sha256=await asyncio.to_thread(_sha256, final),
            manifest={t: e["rows"] for t, e in manifest["tables"].items()},
            finished_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
    except _Failed as exc:
        await _fail(code, job_id, exc.key, exc.params)
    except asyncio.CancelledError:
        await asyncio.shield(_fail(code, job_id, "backup.interrupted", {}, status="interrupted"))
        raise
    except Exception:
        log.exception("backup job %s failed", job_id)
        await _fail(code, job_id, "backup.failed", {})
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)


class _Failed(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def _fail(
    code: str, job_id: UUID, key: str, params: dict[str, Any], status: str = "failed"
) -> None:
    await update_backup_job(
        code, job_id, status=status, error_key=key, error_params=params,
        finished_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
