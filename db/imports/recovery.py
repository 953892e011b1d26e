"""Jobs a stopped process left behind: marked ``interrupted`` instead of ``running`` forever.

A job works inside one transaction that holds the job's advisory lock
(``vrs_job_lock_key``); PostgreSQL drops the lock when that process's
connection goes, whatever killed it. The SQL functions (SECURITY DEFINER,
since start-up has no tenant) mark every running job whose lock is free, and
queued jobs older than :data:`QUEUED_GRACE` (a queued job has not taken its
lock yet). A job is all-or-nothing, so an interrupted one changed nothing:
it can be resumed from its stored file or the file uploaded again, and
re-importing duplicates nothing.

Called when the server starts (``web.app``) and before ``vrs import-residents``.
"""

from __future__ import annotations

import datetime as dt
import logging

from db.engine import tenantless_statement

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
    """Mark backup jobs no live process works on; how many were marked."""
    async with tenantless_statement() as connection:
        return int(
            await connection.fetchval("SELECT vrs_mark_interrupted_backups($1)", queued_grace)
        )


async def recover_interrupted_jobs() -> None:
    """At start-up: mark the workspace's jobs (imports, backups) a stopped process left.

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
