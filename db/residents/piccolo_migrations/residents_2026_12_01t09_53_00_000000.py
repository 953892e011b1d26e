"""Indexes for person search: partial name and kana (trigram), birth date, My Number hash."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents: search indexes"

SQL = r"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS resident_name_trgm ON resident USING gin (name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS resident_name_kana_trgm ON resident USING gin (name_kana gin_trgm_ops);
CREATE INDEX IF NOT EXISTS resident_birth_date ON resident (municipality_code, birth_date);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
