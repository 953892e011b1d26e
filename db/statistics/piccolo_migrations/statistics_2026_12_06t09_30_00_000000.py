"""Counts kept outside the save's transaction: an append-only change table, folded in the background.

Until now every dose statement upserted its ``dose_count`` row and, through
that table's triggers, about eight ``dose_rollup`` rows, and held those row
locks until its commit: the saves of one municipality on one day ran one at
a time. Now:

- the dose triggers only append to ``dose_change`` (one row per key touched
  by the statement, +n or -n): no shared row, no lock another save waits for;
- ``vrs_fold_dose_changes()`` moves the changes into ``dose_count`` (whose
  triggers keep ``dose_rollup``) in a transaction of its own; the server calls
  it every few seconds (``web/statistics_folding.py``), one caller at a time
  (a transaction-level advisory lock; a second caller returns at once);
- the readers add what is not folded yet: ``dose_count_now`` and
  ``dose_rollup_now`` (views with the caller's rights, so RLS applies) are the
  folded counts plus the pending changes, so a page shows a dose the moment
  it is committed and always equals the dose table counted directly.

``dose_change`` is a derived tenant table (forced RLS, read-only to the
serving role), not archived by backups: a restore writes the doses, whose
triggers append their changes again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T09:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "statistics: append-only dose changes folded in the background"

_KEY = (
    "municipality_code, vaccinated_on, dose_number, age_band, over_65, sex, medical_worker,"
    " product, venue_name"
)

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


def _append(parts: str) -> str:
    return f"""
    INSERT INTO dose_change ({_KEY}, doses)
    SELECT {_KEY}, sum(delta) FROM ({parts}) k
    GROUP BY {_KEY} HAVING sum(delta) <> 0;
    """


#: One (dimension, key) pair per dimension, as the rollup keeps them.
_PAIRS = """
    SELECT c.municipality_code, x.dimension, x.key, c.doses
    FROM dose_change c CROSS JOIN LATERAL (VALUES
        ('day', c.vaccinated_on::text), ('dose', c.dose_number::text), ('age', c.age_band::text),
        ('over_65', CASE WHEN c.over_65 THEN '65-' ELSE '-64' END), ('sex', c.sex::text),
        ('product', c.product::text), ('venue', c.venue_name::text),
        ('medical_worker', c.medical_worker::text)
    ) AS x (dimension, key)
"""

SQL = rf"""
CREATE TABLE IF NOT EXISTS dose_change (
    municipality_code varchar(6) NOT NULL,
    vaccinated_on date NOT NULL,
    dose_number integer NOT NULL,
    age_band varchar(8) NOT NULL,
    over_65 boolean NOT NULL,
    sex varchar(1) NOT NULL,
    medical_worker boolean NOT NULL,
    product varchar(48) NOT NULL,
    venue_name varchar(128) NOT NULL,
    doses bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS dose_change_area ON dose_change (municipality_code);
SELECT vrs_protect_tenant_table('dose_change'::regclass);
GRANT SELECT ON dose_change TO vrs_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON dose_change FROM vrs_app;

CREATE OR REPLACE FUNCTION vrs_dose_count_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_append(_DOSE_ROWS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vrs_dose_count_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_append(_DOSE_ROWS.format(sign=1, rows="new_rows") + " UNION ALL " + _DOSE_ROWS.format(sign=-1, rows="old_rows"))}
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vrs_fold_dose_changes() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    folded bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended('vrs-fold-dose-changes', 0)) THEN
        RETURN 0;  -- another caller is folding right now
    END IF;
    WITH moved AS (DELETE FROM dose_change RETURNING *)
    INSERT INTO dose_count AS d ({_KEY}, doses)
    SELECT {_KEY}, sum(doses) FROM moved
    GROUP BY {_KEY} HAVING sum(doses) <> 0 ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET doses = d.doses + excluded.doses;
    GET DIAGNOSTICS folded = ROW_COUNT;
    RETURN folded;
END
$$;

CREATE OR REPLACE VIEW dose_count_now WITH (security_invoker = true) AS
    SELECT {_KEY}, sum(doses)::bigint AS doses FROM (
        SELECT {_KEY}, doses FROM dose_count
        UNION ALL
        SELECT {_KEY}, doses FROM dose_change
    ) k GROUP BY {_KEY};

CREATE OR REPLACE VIEW dose_rollup_now WITH (security_invoker = true) AS
    SELECT municipality_code, dimension, key, sum(doses)::bigint AS doses FROM (
        SELECT municipality_code, dimension::text, key::text, doses FROM dose_rollup
        UNION ALL
        {_PAIRS}
    ) k GROUP BY 1, 2, 3;

GRANT SELECT ON dose_count_now, dose_rollup_now TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_statistics_rollup(p_prefecture text)
RETURNS TABLE (area text, dimension text, key text, doses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN d.dimension = 'dose' THEN
                CASE WHEN p_prefecture IS NULL THEN left(d.municipality_code, 2)
                     ELSE d.municipality_code::text END
           END,
           d.dimension::text, d.key::text, sum(d.doses)::bigint
    FROM dose_rollup_now d
    JOIN current_municipality_setting s ON s.municipality_code = d.municipality_code
    WHERE s.provides_statistics AND d.dimension <> 'venue'
      AND (p_prefecture IS NULL OR left(d.municipality_code, 2) = p_prefecture)
    GROUP BY 1, 2, 3
    HAVING sum(d.doses) <> 0
$$;

CREATE OR REPLACE FUNCTION vrs_statistics_summary(p_prefecture text)
RETURNS TABLE (municipality_code text, vaccinated_on date, dose_number integer, age_band text,
               over_65 boolean, sex text, medical_worker boolean, product text, doses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT d.municipality_code::text, d.vaccinated_on, d.dose_number, d.age_band::text,
           d.over_65, d.sex::text, d.medical_worker, d.product::text, sum(d.doses)::bigint
    FROM dose_count_now d
    JOIN current_municipality_setting s ON s.municipality_code = d.municipality_code
    WHERE s.provides_statistics
      AND (p_prefecture IS NULL OR left(d.municipality_code, 2) = p_prefecture)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    HAVING sum(d.doses) <> 0
$$;

REVOKE ALL ON FUNCTION vrs_fold_dose_changes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_fold_dose_changes() TO vrs_app;
"""

#: The upserting triggers and readers of the previous migrations (statistics 09:53 and 12:10).
_UPSERT = f"""
    INSERT INTO dose_count AS d ({_KEY}, doses)
    SELECT {_KEY}, sum(delta) FROM ({{parts}}) k
    GROUP BY {_KEY} HAVING sum(delta) <> 0
    ON CONFLICT ({_KEY}) DO UPDATE SET doses = d.doses + excluded.doses;
"""

BACKWARD_SQL = rf"""
SELECT vrs_fold_dose_changes();
CREATE OR REPLACE FUNCTION vrs_dose_count_on_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_UPSERT.format(parts=_DOSE_ROWS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION vrs_dose_count_on_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {_UPSERT.format(parts=_DOSE_ROWS.format(sign=1, rows="new_rows") + " UNION ALL " + _DOSE_ROWS.format(sign=-1, rows="old_rows"))}
    RETURN NULL;
END
$$;
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
DROP VIEW IF EXISTS dose_rollup_now;
DROP VIEW IF EXISTS dose_count_now;
DROP FUNCTION IF EXISTS vrs_fold_dose_changes();
DROP TABLE IF EXISTS dose_change;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="statistics", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
