"""The save's two statements name the person's area, so each reads one resident partition.

``resident`` and ``ticket`` are partitioned by area (migration 09:30). The
functions of migration 09:40 joined and locked the person by id alone, so
each save probed every area's partition; naming the area lets PostgreSQL
prune to one. Same functions otherwise (the text of 09:40, two predicates
added).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_06t09_40_00_000000 as previous

ID = "2026-12-06T11:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue save: one resident partition per statement"

_EDITS = (
    ("ON r.id = t.resident AND r.status = 'active'",
     "ON r.id = t.resident AND r.municipality_code = t.municipality_code AND r.status = 'active'"),
    ("FROM resident WHERE id = p_resident FOR UPDATE",
     "FROM resident WHERE id = p_resident AND municipality_code = p_municipality FOR UPDATE"),
)  # fmt: skip


def _edited(sql: str) -> str:
    for old, new in _EDITS:
        if old not in sql:
            raise RuntimeError(f"migration 09:40 no longer says {old!r}")
        sql = sql.replace(old, new)
    return sql


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(_edited(previous.SQL))

    async def run_backwards():
        await execute_sql(previous.SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
