"""The national admin revokes app and kiosk clients from a page (issue 14).

``vrs_app`` may set ``app_client.revoked_at`` and nothing else of the table:
a client's label, kind and token hash stay as ``vrs app-client`` made them.
Backwards takes the column grant away again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-07T09:02:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "app_client.revoked_at writable by the serving role"

SQL = "GRANT UPDATE (revoked_at) ON app_client TO vrs_app;"
BACKWARD_SQL = "REVOKE UPDATE (revoked_at) ON app_client FROM vrs_app;"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
