"""Row-level security and grants for ``resident_version`` (a resident's history).

The table is created by the residents app (2026-12-06T07:30); its protection
is here because the RLS helper and the serving role are created by this app,
which runs after the residents app on a new database. The serving role may
insert history and blank a snapshot on erasure (the table's trigger refuses
every other change), never delete.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T07:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "resident history: row-level security and grants"

SQL = r"""
SELECT vrs_protect_tenant_table('resident_version'::regclass);
GRANT SELECT, INSERT ON resident_version TO vrs_app;
GRANT UPDATE (snapshot) ON resident_version TO vrs_app;
REVOKE DELETE, TRUNCATE ON resident_version FROM vrs_app;
"""

BACKWARDS_SQL = r"""
REVOKE ALL ON resident_version FROM vrs_app;
DROP POLICY IF EXISTS tenant_isolation ON resident_version;
ALTER TABLE resident_version NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resident_version DISABLE ROW LEVEL SECURITY;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
