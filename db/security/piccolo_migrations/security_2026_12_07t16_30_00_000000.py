"""The usual save knows whether the account's look-up budget is spent.

``VRS_RATE_IDENTIFY_PER_HOUR`` counts what could tell a ticket holder's birth date
(look-ups, saves that are not the usual one, CSV rows that match no holder).
The usual save (our resident, the right birth date, a dose the rules accept)
was stored without looking at it, so beyond the budget a right guess (201)
was still told apart from a wrong one (429). The save's read
(``vrs_save_contexts``) now answers one more column per item,
``identify_spent``: the item's counter (``budget_key``, the key the limiter
counts in) holds at least ``budget_allowed`` hits in a window that has not
expired (an expired window counts as empty, as the limiter's increment
restarts it). A spent item goes to the locked path, which counts it and
refuses it with 429 as it does any save beyond the budget. The usual save is
still not counted, and still takes three round trips; an item without a
budget (no limit set) is never spent.

``vrs_save_contexts`` is migration 12:00's text with two fragments edited. Its
result type changes, so it is dropped and created again (with its grants).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_07t12_00_00_000000 as batched

ID = "2026-12-07T16:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue save: the read says whether the account's identify budget is spent"

_READS = "CREATE OR REPLACE FUNCTION vrs_save_contexts("
_AFTER_READS = "CREATE OR REPLACE FUNCTION vrs_save_doses("

_EDITS_READS = (
    ("    needs_care boolean, priority_group text, doses jsonb, key_used boolean\n)",
     "    needs_care boolean, priority_group text, doses jsonb, key_used boolean,\n"
     "    identify_spent boolean\n)"),
    ("        RETURN QUERY SELECT n, c.* FROM vrs_save_context(",
     """        -- The account's identify budget, as the limiter counts it (web/rate_limit.py):
        -- spent when the next counted request would be refused.
        RETURN QUERY SELECT n, c.*, EXISTS (
            SELECT 1 FROM rate_limit_entry b
            WHERE b.key = p_items -> n ->> 'budget_key'
              AND b.hits >= (p_items -> n ->> 'budget_allowed')::integer
              AND (b.expires_at IS NULL OR b.expires_at > now()))
        FROM vrs_save_context("""),
)  # fmt: skip

_DROP = "DROP FUNCTION IF EXISTS vrs_save_contexts(jsonb);\n"
_GRANTS = """
REVOKE ALL ON FUNCTION vrs_save_contexts(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_save_contexts(jsonb) TO vrs_app;
"""


def _reads_function() -> str:
    """``vrs_save_contexts`` as migration 12:00 made it."""
    sql = batched.SQL
    return sql[sql.index(_READS) : sql.index(_AFTER_READS)]


def _edited(sql: str, edits: tuple[tuple[str, str], ...], source: str) -> str:
    for old, new in edits:
        if sql.count(old) != 1:
            raise RuntimeError(f"migration {source} no longer says {old!r} once")
        sql = sql.replace(old, new)
    return sql


def forward_sql() -> str:
    """The forward step: migration 12:00's function, edited."""
    return _DROP + _edited(_reads_function(), _EDITS_READS, "12:00") + _GRANTS


def backward_sql() -> str:
    """Migration 12:00's function again."""
    return _DROP + _reads_function() + _GRANTS


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(forward_sql())

    async def run_backwards():
        await execute_sql(backward_sql())

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
