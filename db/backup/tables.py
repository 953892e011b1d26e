"""Backup jobs (F9): one export of a municipality's area, its progress and its archive."""

from piccolo.columns import JSONB, UUID, BigInt, Integer, Timestamptz, Varchar
from piccolo.table import Table


class BackupJob(Table):
    """One backup of an area, run in the background; the page polls this row.

    The archive is kept under the data directory (``backups/<id>.zip``) and
    downloaded from the job's page; the rows stay as the history of backups.
    Job rows are not themselves archived (they describe this installation's files).
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    status = Varchar(length=16, default="queued")
    """queued, running, done, failed, interrupted or expired (archive deleted after retention)."""
    tables_total = Integer(default=0)
    tables_done = Integer(default=0)
    current_table = Varchar(length=64, default="")
    rows_written = BigInt(default=0)
    size_bytes = BigInt(default=0)
    sha256 = Varchar(length=64, default="")
    """Of the whole archive file, to compare a downloaded copy against."""
    manifest = JSONB(default="{}")
    """Rows per table, as in the archive's manifest."""
    error_key = Varchar(length=64, default="")
    error_params = JSONB(default="{}")
    started_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
