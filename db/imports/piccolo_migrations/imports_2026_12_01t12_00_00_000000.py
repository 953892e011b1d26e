"""Jobs left unfinished by a stopped server are marked ``interrupted``.

A running import (or backup) holds a transaction-level advisory lock on its
job id (``vrs_job_lock_key``) for as long as its work transaction lasts; the
lock goes away with the connection when the process dies. At start-up the
server calls ``vrs_mark_interrupted_imports``: every job still ``running``
whose lock is free was left by a process that is gone. A ``queued`` job has
not taken its lock yet, so it is only marked once older than a grace period
(the moment between the upload and its task starting).

The function is SECURITY DEFINER (it looks across areas, as start-up has no
tenant) and only ever changes the state of dead jobs.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: interrupted jobs after a restart"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_job_lock_key(p_job uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT hashtextextended('vrs-job:' || p_job::text, 0)
$$;

CREATE OR REPLACE FUNCTION vrs_mark_interrupted_imports(p_queued_grace interval)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    candidate uuid;
    marked integer := 0;
BEGIN
    FOR candidate IN
        SELECT id FROM import_job
         WHERE status = 'running' OR (status = 'queued' AND created_at < now() - p_queued_grace)
    LOOP
        -- Free lock: no live process works on this job (the lock is ours until commit).
        CONTINUE WHEN NOT pg_try_advisory_xact_lock(vrs_job_lock_key(candidate));
        UPDATE import_job
           SET status = 'interrupted', error_key = 'import.interrupted', error_params = '{}',
               finished_at = now()
         WHERE id = candidate AND status IN ('running', 'queued');
        marked := marked + 1;
    END LOOP;
    RETURN marked;
END
$$;

REVOKE ALL ON FUNCTION vrs_job_lock_key(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_job_lock_key(uuid) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_mark_interrupted_imports(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_mark_interrupted_imports(interval) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="imports", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
