"""F8's audit rows name the caller's real role: a clerk's upload is not a venue account.

Since migration 10:20 a clerk may record another area's resident for one of
the municipality's clinics or workplaces (a CSV upload), but the two F8
functions still wrote ``actor_role = 'venue_operator'`` in the answering
area's audit trail for every caller. They now write the role of the account
that called (``vrs_f8_caller_is_venue`` has already checked it is an active
venue account of that venue or a clerk of its municipality). Same functions
otherwise: the text of migration 06:21, one expression edited.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_06t06_21_00_000000 as previous

ID = "2026-12-07T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "F8 audit rows: the caller's own role"

_FIRST = "CREATE OR REPLACE FUNCTION vrs_confirm_ticket_elsewhere("
_AFTER = "CREATE OR REPLACE FUNCTION vrs_dose_elsewhere_by_key_v2("

_EDITS = (
    ("VALUES (p_municipality, now(), p_actor, 'venue_operator', 'ticket.identify_from_elsewhere',",
     "VALUES (p_municipality, now(), p_actor,\n"
     "        (SELECT a.role FROM account a WHERE a.id = p_actor), 'ticket.identify_from_elsewhere',"),
    ("VALUES (p_municipality, now(), p_recorded_by, 'venue_operator', 'vaccination.create',",
     "VALUES (p_municipality, now(), p_recorded_by,\n"
     "        (SELECT a.role FROM account a WHERE a.id = p_recorded_by), 'vaccination.create',"),
)  # fmt: skip


def _functions() -> str:
    """The two F8 functions as migration 06:21 created them (nothing else of it)."""
    sql = previous.SQL
    return sql[sql.index(_FIRST) : sql.index(_AFTER)]


def _edited(sql: str) -> str:
    for old, new in _EDITS:
        if old not in sql:
            raise RuntimeError(f"migration 06:21 no longer says {old!r}")
        sql = sql.replace(old, new)
    return sql


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(_edited(_functions()))

    async def run_backwards():
        await execute_sql(_functions())

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
