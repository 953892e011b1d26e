"""Restore of kiosk completion notices; backups past their retention period.

- ``vrs_restore_kiosk_completions(rows)``: the serving role may not insert
  into ``kiosk_completion`` (kiosks record notices only through
  ``vrs_record_kiosk_completion``), so a restore of an area that had a kiosk
  issuance failed with "permission denied". This function inserts the
  archived notices, only into the current area and only for kiosk
  certificates restored by the same transaction into an area that held no
  certificates before it: it cannot add a notice to live data.
- ``vrs_backups_to_expire(before)``: finished backups made before ``before``,
  across areas (start-up has no tenant); each is then marked ``expired``
  inside its own area, where its archive is deleted and the deletion audited.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backup: restore kiosk completions; backups to expire"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_restore_kiosk_completions(p_rows json) RETURNS bigint
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
       OR EXISTS (SELECT 1 FROM json_populate_recordset(NULL::kiosk_completion, p_rows) r
                   WHERE r.municipality_code IS DISTINCT FROM area
                      OR NOT EXISTS (SELECT 1 FROM certificate_issuance c
                                      WHERE c.municipality_code = area
                                        AND c.certificate_id = r.certificate_id
                                        AND c.channel = 'kiosk' AND c.xmin = mine)) THEN
        RAISE EXCEPTION 'a completion notice without its restored kiosk certificate'
            USING ERRCODE = '23503';
    END IF;
    INSERT INTO kiosk_completion
    SELECT * FROM json_populate_recordset(NULL::kiosk_completion, p_rows);
    GET DIAGNOSTICS inserted = ROW_COUNT;
    RETURN inserted;
END
$$;
REVOKE ALL ON FUNCTION vrs_restore_kiosk_completions(json) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_restore_kiosk_completions(json) TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_backups_to_expire(p_before timestamptz)
RETURNS TABLE (id uuid, municipality_code text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.id, b.municipality_code::text FROM backup_job b
     WHERE b.status = 'done' AND b.created_at < p_before
     ORDER BY b.created_at
$$;
REVOKE ALL ON FUNCTION vrs_backups_to_expire(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_backups_to_expire(timestamptz) TO vrs_app;
"""

BACKWARDS = r"""
DROP FUNCTION IF EXISTS vrs_backups_to_expire(timestamptz);
DROP FUNCTION IF EXISTS vrs_restore_kiosk_completions(json);
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
