"""Restores as background jobs: ``backup_job.kind`` (``backup`` or ``restore``).

A restore uploaded on the backup page runs as a job like a backup, in the same
table: its progress (tables, rows) and outcome (rows restored per table in
``manifest``, the uploaded archive's size and SHA-256) fit the backup's
columns. Row-level security, grants and the start-up marking of jobs a stopped
process left (``vrs_mark_interrupted_backups``) cover both kinds as they are.

- ``backup_job_one_restore``: one queued or running restore per area.
- ``vrs_backups_to_expire``: only backups have an archive to expire.

Backwards: the restore rows go (their audit events stay), the column and the
index go, and ``vrs_backups_to_expire`` is put back as migration
``2026-12-06T06:30`` made it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

from db.backup.piccolo_migrations.backup_2026_12_06t06_30_00_000000 import SQL as EARLIER_SQL
from db.migration_sql import execute_sql

ID = "2026-12-07T14:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backup: restore jobs (backup_job.kind), one restore at a time per area"

SQL = r"""
ALTER TABLE backup_job ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'backup'
    CONSTRAINT backup_job_kind CHECK (kind IN ('backup', 'restore'));
CREATE UNIQUE INDEX backup_job_one_restore ON backup_job (municipality_code)
    WHERE kind = 'restore' AND status IN ('queued', 'running');

CREATE OR REPLACE FUNCTION vrs_backups_to_expire(p_before timestamptz)
RETURNS TABLE (id uuid, municipality_code text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.id, b.municipality_code::text FROM backup_job b
     WHERE b.kind = 'backup' AND b.status = 'done' AND b.created_at < p_before
     ORDER BY b.created_at
$$;
"""

BACKWARDS = r"""
DELETE FROM backup_job WHERE kind = 'restore';
DROP INDEX IF EXISTS backup_job_one_restore;
ALTER TABLE backup_job DROP COLUMN IF EXISTS kind;
"""


class _ColumnAddedBySql(MigrationManager):
    """Records ``kind`` in Piccolo's schema; the SQL above adds it (Piccolo runs raw SQL
    before its own steps, and the index needs the column)."""

    async def _run_add_columns(self, backwards: bool = False) -> None:
        return None


async def forwards():
    manager = _ColumnAddedBySql(migration_id=ID, app_name="backup", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        # Then CREATE OR REPLACE of the earlier migration's functions: their definitions again.
        await execute_sql(BACKWARDS + EARLIER_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    # As `piccolo migrations new --auto` would list the model's new column.
    varchar = {"length": 16, "default": "backup", "null": False, "primary_key": False}
    manager.add_column(
        table_class_name="BackupJob", tablename="backup_job", column_name="kind",
        db_column_name="kind", column_class_name="Varchar", column_class=Varchar, schema=None,
        params={**varchar, "unique": False, "index": False, "index_method": IndexMethod.btree,
                "choices": None, "db_column_name": None, "secret": False},
    )
    return manager
