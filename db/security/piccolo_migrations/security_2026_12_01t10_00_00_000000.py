"""Record integrity: one active dose per person and number or day; the venue log.

- Partial unique indexes make "the same dose twice" impossible even for two
  tablets saving at the same instant: the database, not only the rules, says no.
- ``venue_log`` is a tenant table of the venue's municipality.
- ``vrs_dose_elsewhere_by_key``: a retried F8 save finds the record it made in
  the resident's area by its idempotency key (only records made by the caller).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "record integrity indexes, venue log, idempotent F8 retry"

SQL = r"""
CREATE UNIQUE INDEX IF NOT EXISTS vaccination_one_active_dose_number
    ON vaccination (municipality_code, resident, dose_number)
    WHERE status = 'active' AND resident IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS vaccination_one_active_dose_a_day
    ON vaccination (municipality_code, resident, vaccinated_on)
    WHERE status = 'active' AND resident IS NOT NULL;
CREATE INDEX IF NOT EXISTS vaccination_quality_queue
    ON vaccination (municipality_code, quality, recorded_at) WHERE quality <> 'ok';

SELECT vrs_protect_tenant_table('venue_log');
GRANT SELECT, INSERT ON venue_log TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_dose_elsewhere_by_key(p_municipality text, p_key text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT v.id FROM vaccination v
    WHERE v.municipality_code = p_municipality AND v.idempotency_key = p_key
      AND v.vaccinated_by_municipality_code = nullif(current_setting('app.municipality_code', true), '')
$$;
REVOKE ALL ON FUNCTION vrs_dose_elsewhere_by_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_dose_elsewhere_by_key(text, text) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
