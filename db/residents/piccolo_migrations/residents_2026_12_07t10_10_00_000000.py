"""A ticket reissued at the counter stays reissued when a CSV re-import names it again.

A clerk's reissue (``db/residents/reissue.py``) marks the lost ticket ``reissued``
and records the old and new numbers in the resident's history (``resident_version``,
source ``ticket``). The municipality's file may still carry the old number at the
next import; the import would then mark the counter's new ticket ``reissued``
(every other valid ticket of a resident in the file is) and set the old one
``valid`` again: the lost ticket would work once more and the new one would not.

This guard keeps the counter's decision: an update that would make a ticket
replaced at the counter valid again is skipped, and the tickets of that resident
the same transaction had just marked ``reissued`` (``updated_at = now()``, the
transaction's start) become valid again. A file naming a newer number than the
counter's (a ticket the municipality issued later in its own system) still
replaces it, as before. The guard fires only for a ticket going back to ``valid``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-07T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents: a ticket reissued at the counter stays reissued"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_ticket_reissued_stays() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM resident_version h
        WHERE h.resident = OLD.resident AND h.source = 'ticket'
          AND h.snapshot -> 'ticket_reissued' ->> 'old' = OLD.ticket_number
    ) THEN
        RETURN NEW;
    END IF;
    UPDATE ticket t SET status = 'valid', updated_at = now()
    WHERE t.municipality_code = OLD.municipality_code AND t.resident = OLD.resident
      AND t.status = 'reissued' AND t.updated_at = now() AND t.ticket_number <> OLD.ticket_number
      AND NOT EXISTS (
          SELECT 1 FROM resident_version h
          WHERE h.resident = OLD.resident AND h.source = 'ticket'
            AND h.snapshot -> 'ticket_reissued' ->> 'old' = t.ticket_number
      );
    RETURN NULL;
END
$fn$;
CREATE TRIGGER ticket_reissued_stays BEFORE UPDATE OF status ON ticket
    FOR EACH ROW WHEN (OLD.status = 'reissued' AND NEW.status = 'valid')
    EXECUTE FUNCTION vrs_ticket_reissued_stays();
"""

BACKWARDS_SQL = r"""
DROP TRIGGER IF EXISTS ticket_reissued_stays ON ticket;
DROP FUNCTION IF EXISTS vrs_ticket_reissued_stays();
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
