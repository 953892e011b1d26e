"""Archives are not kept forever: deleted after the retention period, and the deletion recorded.

A finished backup older than ``VRS_BACKUP_RETENTION_DAYS`` (default 30) has
its archive deleted; its job row stays in the history as ``expired`` and an
audit event ``backup.expired`` is written in its area. Half-written
``.part`` files a killed process left are deleted after the same period.
Run at server start-up and by ``vrs expire-files``; ``now`` is injectable so
tests need no sleeping.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from db.audit.queries import record
from db.backup.jobs import archive_path
from db.engine import current_connection, tenant_transaction, tenantless_statement

log = logging.getLogger("vrs.backup")


async def expire_backups(
    data_dir: Path, retention: dt.timedelta, now: dt.datetime | None = None
) -> int:
    """Delete the archives of backups made before ``now - retention``; how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - retention
    async with tenantless_statement() as connection:
        due = await connection.fetch("SELECT * FROM vrs_backups_to_expire($1)", cutoff)
    expired = 0
    for job in due:
        code = job["municipality_code"]
        async with tenant_transaction(code):
            marked = await current_connection().fetchval(
                "UPDATE backup_job SET status = 'expired', error_key = 'backup.expired',"
                " error_params = '{}' WHERE id = $1 AND status = 'done' RETURNING id",
                job["id"],
            )
            if marked is None:
                continue  # expired meanwhile by another process
            await record(
                "backup.expired", actor=None, municipality_code=code, object_type="backup_job",
                object_id=str(job["id"]), details={"retention_days": retention.days},
            )  # fmt: skip
            # Deleted inside the transaction: if it cannot be deleted, the row stays "done".
            archive_path(data_dir, job["id"]).unlink(missing_ok=True)
        expired += 1
    directory = data_dir / "backups"
    if directory.is_dir():
        for partial in directory.glob("*.zip.part"):
            if dt.datetime.fromtimestamp(partial.stat().st_mtime, dt.UTC) < cutoff:
                partial.unlink(missing_ok=True)
    if expired:
        log.info("%d backup archive(s) past their retention period deleted", expired)
    return expired
