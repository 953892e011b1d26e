"""Row-level security and grants for backup jobs; marking those a stopped server left.

A backup job belongs to its municipality's area; the serving role reads,
adds and updates (progress) them, never deletes: the rows are the history of
backups. ``vrs_mark_interrupted_backups`` works like the imports' function
(see ``db/imports``' migration of the same day): a running job whose advisory
lock is free was left by a process that is gone.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T11:49:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backup: row-level security, grants, interrupted jobs"

SQL = r"""
SELECT vrs_protect_tenant_table('backup_job'::regclass);
GRANT SELECT, INSERT, UPDATE ON backup_job TO vrs_app;
REVOKE DELETE, TRUNCATE ON backup_job FROM vrs_app;
CREATE INDEX IF NOT EXISTS backup_job_created ON backup_job (municipality_code, created_at DESC);

CREATE OR REPLACE FUNCTION vrs_mark_interrupted_backups(p_queued_grace interval)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    candidate uuid;
    marked integer := 0;
BEGIN
    FOR candidate IN
        SELECT id FROM backup_job
         WHERE status = 'running' OR (status = 'queued' AND created_at < now() - p_queued_grace)
    LOOP
        CONTINUE WHEN NOT pg_try_advisory_xact_lock(vrs_job_lock_key(candidate));
        UPDATE backup_job
           SET status = 'interrupted', error_key = 'backup.interrupted', error_params = '{}',
               finished_at = now()
         WHERE id = candidate AND status IN ('running', 'queued');
        marked := marked + 1;
    END LOOP;
    RETURN marked;
END
$$;
REVOKE ALL ON FUNCTION vrs_mark_interrupted_backups(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_mark_interrupted_backups(interval) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="backup", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
