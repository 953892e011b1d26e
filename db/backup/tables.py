"""Backup jobs (F9): an export of a municipality's area or a restore into it, run in the background."""

from piccolo.columns import JSONB, UUID, BigInt, Integer, Timestamptz, Varchar
from piccolo.table import Table


class BackupJob(Table):
    """One backup of an area, or one restore into it, run in the background; the page polls
    this row.

    A backup's archive is kept under the data directory (``backups/<id>.zip``) and
    downloaded from the job's page; a restore's upload is deleted when its job ends. The
    rows stay as the history of backups and restores. Job rows are not themselves archived
    (they describe this installation's files).
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    kind = Varchar(length=16, default="backup")
    """``backup`` (an export) or ``restore`` (an uploaded archive restored into the area)."""
    status = Varchar(length=16, default="queued")
    """queued, running, done, failed, interrupted or expired (a backup's archive deleted after
    retention)."""
    tables_total = Integer(default=0)
    tables_done = Integer(default=0)
    current_table = Varchar(length=64, default="")
    rows_written = BigInt(default=0)
    """Rows written to the archive (a restore: rows restored into the area)."""
    size_bytes = BigInt(default=0)
    sha256 = Varchar(length=64, default="")
    """Of the whole archive file (a restore: the uploaded one), to compare a copy against."""
    manifest = JSONB(default="{}")
    """Rows per table, as in the archive's manifest (a restore: rows restored per table)."""
    error_key = Varchar(length=64, default="")
    error_params = JSONB(default="{}")
    started_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
