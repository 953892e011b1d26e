"""Import jobs whose kept upload is past its retention period.

An interrupted (or failed) import keeps its upload, plaintext and perhaps
holding My Numbers, so it can be resumed. ``vrs_import_uploads_to_expire``
lists such jobs that ended before ``before``, across areas (start-up has no
tenant); :mod:`db.imports.recovery` deletes their files and audits it in
each job's area.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: uploads to expire"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_import_uploads_to_expire(p_before timestamptz)
RETURNS TABLE (id uuid, municipality_code text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT j.id, j.municipality_code::text FROM import_job j
     WHERE j.status IN ('interrupted', 'failed')
       AND coalesce(j.finished_at, j.created_at) < p_before
     ORDER BY j.created_at
$$;
REVOKE ALL ON FUNCTION vrs_import_uploads_to_expire(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_import_uploads_to_expire(timestamptz) TO vrs_app;
"""

BACKWARDS = r"""
DROP FUNCTION IF EXISTS vrs_import_uploads_to_expire(timestamptz);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="imports", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
