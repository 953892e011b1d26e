"""Row-level security and grants for the import tables; search indexes for residents.

Import jobs and their rejections belong to one municipality's area like
everything else; the serving role may read, add and update (progress) them,
never delete.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: row-level security, grants"

SQL = r"""
SELECT vrs_protect_tenant_table(t::regclass) FROM unnest(ARRAY['import_job', 'import_rejection']) AS t;
GRANT SELECT, INSERT, UPDATE ON import_job TO vrs_app;
GRANT SELECT, INSERT ON import_rejection TO vrs_app;
REVOKE DELETE, TRUNCATE ON import_job, import_rejection FROM vrs_app;
CREATE INDEX IF NOT EXISTS import_rejection_job_line ON import_rejection (job, line_number);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="imports", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
