"""Per-dimension rollups of the dose counts, so a view reads hundreds of rows, not millions.

``dose_count`` keeps one row per (municipality, day, dose, age band, sex,
medical worker, product, venue): at ten million doses that is still hundreds
of thousands of rows, too many to sum for every refresh of a view.
``dose_rollup`` keeps, per municipality, the sum for each value of each
dimension the pages show (day, dose, age band, 65 split, sex, product, venue,
medical worker). Statement-level triggers on ``dose_count`` (which the dose
triggers upsert, one statement per dose statement) add the deltas in the
same transaction; rows are written in key order so concurrent statements
take their row locks in one order. ``vrs_statistics_rollup`` gives prefecture
and national viewers the sums over their scope, the dose split per area,
without venue or any personal field.

``dose_rollup`` is a derived tenant table (forced RLS, read-only to the
serving role), not archived by backups (restore rebuilds it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T12:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "statistics: per-dimension rollups of the dose counts"

#: One (dimension, key) pair per dimension for each dose_count row of ``{rows}``.
_PAIRS = """
    SELECT c.municipality_code, x.dimension, x.key, {sign} * c.doses AS delta
    FROM {rows} c CROSS JOIN LATERAL (VALUES
        ('day', c.vaccinated_on::text), ('dose', c.dose_number::text), ('age', c.age_band::text),
        ('over_65', CASE WHEN c.over_65 THEN '65-' ELSE '-64' END), ('sex', c.sex::text),
        ('product', c.product::text), ('venue', c.venue_name::text),
        ('medical_worker', c.medical_worker::text)
    ) AS x (dimension, key)
"""


def _upsert(parts: str) -> str:
    return f"""
    INSERT INTO dose_rollup AS d (municipality_code, dimension, key, doses)
    SELECT municipality_code, dimension, key, sum(delta) FROM ({parts}) k
    GROUP BY 1, 2, 3 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (municipality_code, dimension, key) DO UPDATE SET doses = d.doses + excluded.doses;
    """


SQL = rf"""
CREATE TABLE IF NOT EXISTS dose_rollup (
    municipality_code varchar(6) NOT NULL,
    dimension varchar(16) NOT NULL,
    key varchar(128) NOT NULL,
    doses bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (municipality_code, dimension, key)
);
SELECT vrs_protect_tenant_table('dose_rollup'::regclass);
GRANT SELECT ON dose_rollup TO vrs_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON dose_rollup FROM vrs_app;

CREATE OR REPLACE FUNCTION vrs_dose_rollup_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_upsert(_PAIRS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vrs_dose_rollup_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_upsert(_PAIRS.format(sign=1, rows="new_rows") + " UNION ALL " + _PAIRS.format(sign=-1, rows="old_rows"))}
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS dose_count_rollup_insert ON dose_count;
CREATE TRIGGER dose_count_rollup_insert AFTER INSERT ON dose_count
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_dose_rollup_on_insert();
DROP TRIGGER IF EXISTS dose_count_rollup_update ON dose_count;
CREATE TRIGGER dose_count_rollup_update AFTER UPDATE ON dose_count
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_dose_rollup_on_update();

-- What was counted before this migration.
INSERT INTO dose_rollup AS d (municipality_code, dimension, key, doses)
SELECT municipality_code, dimension, key, sum(delta) FROM ({_PAIRS.format(sign=1, rows="dose_count")}) k
GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
ON CONFLICT (municipality_code, dimension, key) DO UPDATE SET doses = excluded.doses;

CREATE OR REPLACE FUNCTION vrs_statistics_rollup(p_prefecture text)
RETURNS TABLE (area text, dimension text, key text, doses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN d.dimension = 'dose' THEN
                CASE WHEN p_prefecture IS NULL THEN left(d.municipality_code, 2)
                     ELSE d.municipality_code::text END
           END,
           d.dimension::text, d.key::text, sum(d.doses)::bigint
    FROM dose_rollup d
    JOIN current_municipality_setting s ON s.municipality_code = d.municipality_code
    WHERE s.provides_statistics AND d.dimension <> 'venue'
      AND (p_prefecture IS NULL OR left(d.municipality_code, 2) = p_prefecture)
    GROUP BY 1, 2, 3
    HAVING sum(d.doses) <> 0
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_dose_rollup_on_insert()', 'vrs_dose_rollup_on_update()', 'vrs_statistics_rollup(text)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="statistics", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
