from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations: the readiness probe's one row, written by /readyz"

# One row, overwritten by each server process's /readyz at most every few seconds: a write
# that commits (on the primary, confirmed by the synchronous standby when there is one)
# is what "ready" means. No tenant data, so no row-level security.
SQL = r"""
CREATE TABLE readiness_probe (
    id smallint PRIMARY KEY CHECK (id = 1),
    written_at timestamptz NOT NULL,
    written_by text NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON readiness_probe TO vrs_app;
"""

BACKWARDS_SQL = "DROP TABLE IF EXISTS readiness_probe;"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="operations", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
