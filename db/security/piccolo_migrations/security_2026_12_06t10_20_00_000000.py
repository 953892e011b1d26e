"""A clerk records another area's resident for one of the municipality's clinics or workplaces.

Clinics (個別接種) and workplace venues (職域接種) often send their records as a
CSV file that the municipality's clerk uploads; their vaccinees include
people registered elsewhere (住所地外接種). Until now the F8 crossing answered
only a venue account of the venue itself, so such rows could not be entered
at all. Now the crossing also answers a clerk of the same municipality who
names one of its open ``clinic`` or ``workplace`` venues: the record carries
that venue, the stated birth date is compared inside the crossing as for a
tablet, the venue's log counts the line, and every call is audited on both
sides as before. A clerk naming a mass-vaccination venue (``venue``), a
closed venue or another municipality's venue is refused as before.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T10:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "F8: a clerk records for the municipality's clinic and workplace venues"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_f8_caller_is_venue(p_venue uuid, p_actor uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM account a JOIN venue v ON v.municipality_code = a.municipality_code
        WHERE a.id = p_actor AND a.active AND v.id = p_venue
          AND a.municipality_code = nullif(current_setting('app.municipality_code', true), '')
          AND ((a.role = 'venue_operator' AND a.venue_id = p_venue)
               OR (a.role = 'clerk' AND v.active AND v.kind IN ('clinic', 'workplace'))))
$$;
"""

BACKWARD_SQL = r"""
CREATE OR REPLACE FUNCTION vrs_f8_caller_is_venue(p_venue uuid, p_actor uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM account a JOIN venue v ON v.id = a.venue_id
        WHERE a.id = p_actor AND a.active AND a.role = 'venue_operator'
          AND a.venue_id = p_venue
          AND a.municipality_code = nullif(current_setting('app.municipality_code', true), '')
          AND v.municipality_code = a.municipality_code)
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
