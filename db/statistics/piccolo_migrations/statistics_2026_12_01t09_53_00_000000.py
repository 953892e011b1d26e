"""Counts kept by triggers, and the crossings that give viewers sums only (F6).

- ``dose_count`` and ``population_count`` are tenant tables (forced RLS); the
  serving role only reads them. Statement-level triggers with transition
  tables on ``vaccination`` (INSERT, UPDATE) and ``resident`` (INSERT, UPDATE)
  add the change's deltas in the same transaction: one upsert per statement,
  whether it wrote one dose or a million. The trigger functions are SECURITY
  DEFINER so that a dose written into another area (F8) is counted there too;
  they only ever write the counts of the rows that fired them.
- ``vrs_statistics_summary`` and ``vrs_population_summary`` give prefecture
  and national viewers sums per municipality, without any personal field,
  from municipalities that agreed to provide statistics.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "statistics: RLS, count triggers, viewer crossings"

_DOSE_KEY = "municipality_code, vaccinated_on, dose_number, age_band, over_65, sex, medical_worker, product, venue_name"

_DOSE_ROWS = """
        SELECT v.municipality_code, v.vaccinated_on, v.dose_number,
               vrs_age_band(r.birth_date, v.vaccinated_on) AS age_band,
               coalesce(extract(year FROM age(v.vaccinated_on, r.birth_date)) >= 65, false) AS over_65,
               coalesce(r.sex, '') AS sex,
               coalesce(r.priority_group = 'medical_worker', false) AS medical_worker,
               v.product, v.venue_name, {sign} AS delta
        FROM {rows} v
        LEFT JOIN resident r ON r.id = v.resident AND r.municipality_code = v.municipality_code
        WHERE v.status = 'active'
"""


def _dose_upsert(parts: str) -> str:
    return f"""
    INSERT INTO dose_count AS d ({_DOSE_KEY}, doses)
    SELECT {_DOSE_KEY}, sum(delta) FROM ({parts}) k
    GROUP BY {_DOSE_KEY} HAVING sum(delta) <> 0
    ON CONFLICT ({_DOSE_KEY}) DO UPDATE SET doses = d.doses + excluded.doses;
    """


_COUNTED = "status = 'active' AND moved_out_on IS NULL AND deceased_on IS NULL"

SQL = rf"""
SELECT vrs_protect_tenant_table(t::regclass) FROM unnest(ARRAY['dose_count', 'population_count']) AS t;
GRANT SELECT ON dose_count, population_count TO vrs_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON dose_count, population_count FROM vrs_app;
CREATE INDEX IF NOT EXISTS dose_count_day ON dose_count (municipality_code, vaccinated_on);

CREATE OR REPLACE FUNCTION vrs_age_band(p_birth date, p_on date) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT CASE
        WHEN p_birth IS NULL OR p_on IS NULL THEN 'unknown'
        WHEN a < 5 THEN '0-4'
        WHEN a < 12 THEN '5-11'
        WHEN a < 20 THEN '12-19'
        WHEN a >= 100 THEN '100-'
        ELSE (a / 10 * 10)::text || '-' || (a / 10 * 10 + 9)::text
    END
    FROM (SELECT extract(year FROM age(p_on, p_birth))::int AS a) x
$$;

CREATE OR REPLACE FUNCTION vrs_dose_count_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_dose_upsert(_DOSE_ROWS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vrs_dose_count_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_dose_upsert(_DOSE_ROWS.format(sign=1, rows="new_rows") + " UNION ALL " + _DOSE_ROWS.format(sign=-1, rows="old_rows"))}
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS vaccination_count_insert ON vaccination;
CREATE TRIGGER vaccination_count_insert AFTER INSERT ON vaccination
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_dose_count_on_insert();
DROP TRIGGER IF EXISTS vaccination_count_update ON vaccination;
CREATE TRIGGER vaccination_count_update AFTER UPDATE ON vaccination
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_dose_count_on_update();

CREATE OR REPLACE FUNCTION vrs_population_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO population_count AS p (municipality_code, residents)
    SELECT municipality_code, count(*) FROM new_rows WHERE {_COUNTED} GROUP BY 1
    ON CONFLICT (municipality_code) DO UPDATE SET residents = p.residents + excluded.residents;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vrs_population_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO population_count AS p (municipality_code, residents)
    SELECT municipality_code, sum(delta) FROM (
        SELECT municipality_code, 1 AS delta FROM new_rows WHERE {_COUNTED}
        UNION ALL
        SELECT municipality_code, -1 FROM old_rows WHERE {_COUNTED}
    ) k GROUP BY 1 HAVING sum(delta) <> 0
    ON CONFLICT (municipality_code) DO UPDATE SET residents = p.residents + excluded.residents;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS resident_population_insert ON resident;
CREATE TRIGGER resident_population_insert AFTER INSERT ON resident
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_population_on_insert();
DROP TRIGGER IF EXISTS resident_population_update ON resident;
CREATE TRIGGER resident_population_update AFTER UPDATE ON resident
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_population_on_update();

-- Counts of what was there before this migration.
INSERT INTO dose_count AS d ({_DOSE_KEY}, doses)
SELECT {_DOSE_KEY}, sum(delta) FROM ({_DOSE_ROWS.format(sign=1, rows="vaccination")}) k
GROUP BY {_DOSE_KEY}
ON CONFLICT ({_DOSE_KEY}) DO UPDATE SET doses = d.doses + excluded.doses;
INSERT INTO population_count AS p (municipality_code, residents)
SELECT municipality_code, count(*) FROM resident WHERE {_COUNTED} GROUP BY 1
ON CONFLICT (municipality_code) DO UPDATE SET residents = excluded.residents;

---------------------------------------------------------------------------
-- Prefecture and national viewers: sums per municipality, no personal field.
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION vrs_statistics_summary(p_prefecture text)
RETURNS TABLE (municipality_code text, vaccinated_on date, dose_number integer, age_band text,
               over_65 boolean, sex text, medical_worker boolean, product text, doses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT d.municipality_code::text, d.vaccinated_on, d.dose_number, d.age_band::text,
           d.over_65, d.sex::text, d.medical_worker, d.product::text, sum(d.doses)::bigint
    FROM dose_count d
    JOIN current_municipality_setting s ON s.municipality_code = d.municipality_code
    WHERE s.provides_statistics
      AND (p_prefecture IS NULL OR left(d.municipality_code, 2) = p_prefecture)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    HAVING sum(d.doses) <> 0
$$;

CREATE OR REPLACE FUNCTION vrs_population_summary(p_prefecture text)
RETURNS TABLE (municipality_code text, residents bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.municipality_code::text, p.residents
    FROM population_count p
    JOIN current_municipality_setting s ON s.municipality_code = p.municipality_code
    WHERE s.provides_statistics
      AND (p_prefecture IS NULL OR left(p.municipality_code, 2) = p_prefecture)
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_dose_count_on_insert()', 'vrs_dose_count_on_update()',
        'vrs_population_on_insert()', 'vrs_population_on_update()',
        'vrs_statistics_summary(text)', 'vrs_population_summary(text)'
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
