"""Restore of kiosk failure results, like the completion notices.

``kiosk_failure`` (a kiosk sale that failed and voided its certificates) is,
like ``kiosk_completion``, readable but not writable by the serving role.
``vrs_restore_kiosk_failures(rows)`` inserts the archived results only into
the current area and only for kiosk certificates restored by the same
transaction into an area that held no certificates before it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backup: restore kiosk failure results"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_restore_kiosk_failures(p_rows json) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    area text := nullif(current_setting('app.municipality_code', true), '');
    mine xid := pg_current_xact_id()::xid;
    inserted bigint;
BEGIN
    IF area IS NULL THEN
        RAISE EXCEPTION 'restore needs an area' USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM certificate_issuance c
                WHERE c.municipality_code = area AND c.xmin <> mine)
       OR EXISTS (SELECT 1 FROM json_populate_recordset(NULL::kiosk_failure, p_rows) r
                   WHERE r.municipality_code IS DISTINCT FROM area
                      OR NOT EXISTS (SELECT 1 FROM certificate_issuance c
                                      WHERE c.municipality_code = area
                                        AND c.certificate_id = r.certificate_id
                                        AND c.channel = 'kiosk' AND c.xmin = mine)) THEN
        RAISE EXCEPTION 'a kiosk failure without its restored kiosk certificate'
            USING ERRCODE = '23503';
    END IF;
    INSERT INTO kiosk_failure
    SELECT * FROM json_populate_recordset(NULL::kiosk_failure, p_rows);
    GET DIAGNOSTICS inserted = ROW_COUNT;
    RETURN inserted;
END
$$;
REVOKE ALL ON FUNCTION vrs_restore_kiosk_failures(json) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_restore_kiosk_failures(json) TO vrs_app;
"""

BACKWARDS = r"""
DROP FUNCTION IF EXISTS vrs_restore_kiosk_failures(json);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="backup", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
