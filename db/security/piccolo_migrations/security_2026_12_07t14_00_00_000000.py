"""One Idempotency-Key, one record, across areas, even for two saves at the same instant.

Migration 13:00 made a key a venue used for one area's ticket count as used
for every other area's, but as a check: two saves with one key, for tickets
of two areas, sent together, could both pass it before either committed,
and each area's unique index sees only its own records. Now both save paths
hold a transaction-level advisory lock on (the caller's area, the key),
``vrs_idempotency_lock_key``, before they look at the key, and look again
once they hold it:

- the locked path (``record_dose``) takes it in a statement of its own, first
  in its transaction, so its checks read after the other save committed;
- ``vrs_save_dose`` takes it, then asks ``vrs_key_used_elsewhere`` again in a
  statement of its own (a function's statement reads anew under READ
  COMMITTED; the one that waited for the lock does not) and answers
  ``replayed`` when the key is now taken: the caller takes the locked path,
  which replays or refuses as for a sequential retry. Our own area's key is
  still the unique index's (``ON CONFLICT``);
- ``vrs_save_doses`` takes its items' locks first, in one order, before any
  person: every path takes its key locks before its people, so neither two
  batches nor a batch and the locked path wait for each other crosswise.

The lock names a key and a caller, never a shared row. The usual save keeps
its three round trips. ``vrs_save_dose`` is migration 11:20's text and
``vrs_save_doses`` migration 12:00's, each with a few lines added.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_06t09_40_00_000000 as first
from db.security.piccolo_migrations import security_2026_12_06t11_20_00_000000 as partitioned
from db.security.piccolo_migrations import security_2026_12_07t12_00_00_000000 as batched

ID = "2026-12-07T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency keys: one lock per caller and key in both save paths"

_WRITE = "CREATE OR REPLACE FUNCTION vrs_save_dose("
_AFTER_WRITE = "REVOKE ALL ON FUNCTION vrs_save_context("
_WRITES = "CREATE OR REPLACE FUNCTION vrs_save_doses("
_AFTER_WRITES = "CREATE OR REPLACE FUNCTION vrs_principals_for_tokens("

_EDITS_WRITE = (
    ("    -- Two tablets saving for one person:",
     """    -- One key, one record across areas: a save with this key for another area's ticket
    -- holds this lock until it commits. The check is a statement of its own, so it reads
    -- what that save committed while this one waited (a statement that waited does not).
    PERFORM pg_advisory_xact_lock(vrs_idempotency_lock_key(p_municipality, p_key));
    IF vrs_key_used_elsewhere(p_key, NULL) THEN
        RETURN QUERY SELECT NULL::uuid, 'replayed'::text;
        RETURN;
    END IF;
    -- Two tablets saving for one person:"""),
)  # fmt: skip

_EDITS_WRITES = (
    ("    one record;\nBEGIN\n",
     """    one record;
    lock_key bigint;
BEGIN
    -- The items' keys first, in one order, then their people in one order (below).
    FOR lock_key IN SELECT DISTINCT vrs_idempotency_lock_key(e ->> 'municipality', e ->> 'key')
                    FROM jsonb_array_elements(p_items) AS e ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;
"""),
)  # fmt: skip

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_idempotency_lock_key(p_caller text, p_key text) RETURNS bigint
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT hashtextextended('vrs-idempotency-key:' || p_caller || ':' || p_key, 0)
$$;
REVOKE ALL ON FUNCTION vrs_idempotency_lock_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_idempotency_lock_key(text, text) TO vrs_app;
"""

BACKWARD_SQL = """
DROP FUNCTION IF EXISTS vrs_idempotency_lock_key(text, text);
"""


def _write_function() -> str:
    """``vrs_save_dose`` as migration 11:20 left it."""
    sql = partitioned._edited(first.SQL)
    return sql[sql.index(_WRITE) : sql.index(_AFTER_WRITE)]


def _writes_function() -> str:
    """``vrs_save_doses`` as migration 12:00 made it."""
    sql = batched.SQL
    return sql[sql.index(_WRITES) : sql.index(_AFTER_WRITES)]


def _edited(sql: str, edits: tuple[tuple[str, str], ...], source: str) -> str:
    for old, new in edits:
        if sql.count(old) != 1:
            raise RuntimeError(f"migration {source} no longer says {old!r} once")
        sql = sql.replace(old, new)
    return sql


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)
        await execute_sql(_edited(_write_function(), _EDITS_WRITE, "11:20"))
        await execute_sql(_edited(_writes_function(), _EDITS_WRITES, "12:00"))

    async def run_backwards():
        await execute_sql(_writes_function())
        await execute_sql(_write_function())
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
