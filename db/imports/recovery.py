"""Jobs a stopped process left behind: marked ``interrupted`` instead of ``running`` forever.

A job holds the job's advisory lock (``vrs_job_lock_key``) on its own
connection while it works (a backup for its one transaction, an import for its
connection's life); PostgreSQL drops the lock when that connection goes,
whatever killed it. The SQL functions (SECURITY DEFINER,
since start-up has no tenant) mark every running job whose lock is free, and
queued jobs older than :data:`QUEUED_GRACE` (a queued job has not taken its
lock yet). A job is all-or-nothing, so an interrupted one changed nothing (a first
import's tables, committed before their indexes are built, are dropped too:
:func:`discard_abandoned_fresh_areas`):
it can be resumed from its stored file or the file uploaded again, and
re-importing duplicates nothing.

Called when the server starts (``web.app``) and before ``vrs import-residents``.

Kept files do not stay forever either (:func:`expire_kept_files`, at
start-up and by ``vrs expire-files``): an interrupted import's upload is
plaintext and may hold My Numbers, so it is deleted (not encrypted) once the
job ended more than ``VRS_UPLOAD_RETENTION_DAYS`` (default 7) ago, with an
audit event ``import.upload_expired`` in its area (resuming then asks for
the file again); backup archives expire after ``VRS_BACKUP_RETENTION_DAYS``
(:mod:`db.backup.retention`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from db.audit.queries import record
from db.engine import tenant_transaction, tenantless_statement

log = logging.getLogger("vrs.jobs")

#: How long a job may wait between its upload and its task taking the lock.
QUEUED_GRACE = dt.timedelta(minutes=1)


async def mark_interrupted_imports(queued_grace: dt.timedelta = QUEUED_GRACE) -> int:
    """Mark import jobs no live process works on; how many were marked."""
    async with tenantless_statement() as connection:
        return int(
            await connection.fetchval("SELECT vrs_mark_interrupted_imports($1)", queued_grace)
        )


async def mark_interrupted_backups(queued_grace: dt.timedelta = QUEUED_GRACE) -> int:
    """Mark backup and restore jobs (``backup_job``) no live process works on; how many."""
    async with tenantless_statement() as connection:
        return int(
            await connection.fetchval("SELECT vrs_mark_interrupted_backups($1)", queued_grace)
        )


async def recover_interrupted_jobs() -> None:
    """At start-up: mark the workspace's jobs (imports, backups, restores) a stopped process left.

    Logged, never fatal: a server that cannot mark them still serves.
    """
    for kind, mark in (("import", mark_interrupted_imports), ("backup", mark_interrupted_backups)):
        try:
            marked = await mark()
        except Exception:
            log.exception("could not mark interrupted %s jobs", kind)
            continue
        if marked:
            log.warning("%d %s job(s) left by a stopped process marked interrupted", marked, kind)
    try:
        dropped = await discard_abandoned_fresh_areas()
    except Exception:
        log.exception("could not drop the tables of first imports that stopped")
        return
    if dropped:
        log.warning("%d table(s) a stopped first import left unattached dropped", dropped)


async def discard_abandoned_fresh_areas() -> int:
    """Drop the tables a first import committed but never attached, in every area no import
    works on now (they hold residents' data nobody can reach); how many were dropped."""
    async with tenantless_statement() as connection:
        return int(await connection.fetchval("SELECT vrs_discard_abandoned_fresh_areas()"))


def kept_upload(data_dir: Path, job_id: Any) -> Path:
    """Where an import's upload waits (``web.controllers.imports.stored_upload``'s path)."""
    return data_dir / "imports" / f"{job_id}.csv"


async def expire_import_uploads(
    data_dir: Path, retention: dt.timedelta, now: dt.datetime | None = None
) -> int:
    """Delete the uploads of imports that ended before ``now - retention``; how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - retention
    async with tenantless_statement() as connection:
        due = await connection.fetch("SELECT * FROM vrs_import_uploads_to_expire($1)", cutoff)
    deleted = 0
    for job in due:
        path = kept_upload(data_dir, job["id"])
        if not path.exists():
            continue
        async with tenant_transaction(job["municipality_code"]):
            await record(
                "import.upload_expired", actor=None, municipality_code=job["municipality_code"],
                object_type="import_job", object_id=str(job["id"]),
                details={"retention_days": retention.days},
            )  # fmt: skip
            path.unlink(missing_ok=True)
        deleted += 1
    # A restore's upload a killed server left behind (a restore job deletes its own when it
    # ends; a restore job a stopped server left is only marked interrupted at start-up).
    directory = data_dir / "imports"
    if directory.is_dir():
        for leftover in directory.glob("restore-*.zip"):
            if dt.datetime.fromtimestamp(leftover.stat().st_mtime, dt.UTC) < cutoff:
                leftover.unlink(missing_ok=True)
    return deleted


async def expire_kept_files(settings: Any, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete backups and interrupted uploads past their retention periods; how many of each."""
    from db.backup.retention import expire_backups

    backups = await expire_backups(
        settings.data_dir, dt.timedelta(days=settings.backup_retention_days), now
    )
    uploads = await expire_import_uploads(
        settings.data_dir, dt.timedelta(days=settings.upload_retention_days), now
    )
    return {"backups": backups, "uploads": uploads}


def startup_clean_up(settings: Any) -> Callable[[], Awaitable[None]]:
    """The start-up hook: expire kept files (logged, never fatal)."""

    async def clean_up() -> None:
        try:
            expired = await expire_kept_files(settings)
        except Exception:
            log.exception("could not expire kept files")
            return
        if any(expired.values()):
            log.warning(
                "expired %d backup archive(s) and %d interrupted upload(s)",
                expired["backups"],
                expired["uploads"],
            )

    return clean_up
