"""One Idempotency-Key, one record, across areas too.

A key is unique per area (``vaccination``'s unique index on the area and the
key). A venue that saved a dose for its own resident and then sent the same
key with another area's ticket (or the other way round, or for two other
areas) got a second record: nothing in either area knew the key was taken.
``vrs_key_used_elsewhere`` answers, for the calling area, whether one of its
own saves in *another* area (F8, 住所地外接種) carries the key; the save's read
(``vrs_save_context``) now counts such a key as used, so the usual save goes to
the locked path, which refuses it (``IdempotencyConflict``). A small partial
index holds exactly those records (saved by an area other than the record's).

``vrs_save_context`` is migration 11:20's text with one expression edited.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_06t09_40_00_000000 as first
from db.security.piccolo_migrations import security_2026_12_06t11_20_00_000000 as previous

ID = "2026-12-07T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency keys taken across areas"

_READ = "CREATE OR REPLACE FUNCTION vrs_save_context("
_AFTER_READ = "CREATE OR REPLACE FUNCTION vrs_save_dose("
_OWN_AREA_KEY = """EXISTS (SELECT 1 FROM vaccination k
                   WHERE k.municipality_code = p_municipality AND k.idempotency_key = p_key)"""

SQL = r"""
CREATE INDEX IF NOT EXISTS vaccination_key_saved_elsewhere
    ON vaccination (vaccinated_by_municipality_code, idempotency_key)
    WHERE vaccinated_by_municipality_code <> municipality_code;

-- PL/pgSQL, not SQL: it runs in every save's read, and PL/pgSQL keeps its plan per session.
CREATE OR REPLACE FUNCTION vrs_key_used_elsewhere(p_key text, p_except text)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM vaccination v
        WHERE v.vaccinated_by_municipality_code
                  = nullif(current_setting('app.municipality_code', true), '')
          AND v.vaccinated_by_municipality_code <> v.municipality_code
          AND v.idempotency_key = p_key
          AND v.municipality_code IS DISTINCT FROM p_except);
END
$$;
REVOKE ALL ON FUNCTION vrs_key_used_elsewhere(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_key_used_elsewhere(text, text) TO vrs_app;
"""

BACKWARD_SQL = """
DROP FUNCTION IF EXISTS vrs_key_used_elsewhere(text, text);
DROP INDEX IF EXISTS vaccination_key_saved_elsewhere;
"""


def _read_function() -> str:
    """``vrs_save_context`` as migration 11:20 left it."""
    sql = previous._edited(first.SQL)
    return sql[sql.index(_READ) : sql.index(_AFTER_READ)]


def _edited(sql: str) -> str:
    if _OWN_AREA_KEY not in sql:
        raise RuntimeError("migration 11:20 no longer reads the key that way")
    return sql.replace(_OWN_AREA_KEY, f"({_OWN_AREA_KEY}\n           OR vrs_key_used_elsewhere(p_key, NULL))")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)
        await execute_sql(_edited(_read_function()))

    async def run_backwards():
        await execute_sql(_read_function())
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
