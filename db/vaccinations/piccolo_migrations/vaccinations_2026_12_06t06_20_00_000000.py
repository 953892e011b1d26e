"""``vaccination.request_fingerprint``: what a save under an idempotency key asked for.

The same key with a different body is then refused with a problem naming the
key, never answered "already recorded" (draft-ietf-httpapi-idempotency-key-header).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "request fingerprint of an idempotent save"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vaccinations", description=DESCRIPTION)

    async def run():
        await execute_sql(
            "ALTER TABLE vaccination ADD COLUMN IF NOT EXISTS request_fingerprint varchar(64)"
        )

    async def run_backwards():
        await execute_sql("ALTER TABLE vaccination DROP COLUMN IF EXISTS request_fingerprint")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
