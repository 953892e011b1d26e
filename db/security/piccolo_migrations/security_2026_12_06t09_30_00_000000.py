"""``resident`` and ``ticket`` partitioned by area (LIST on ``municipality_code``), issue 16.

Why: the first import of a large area (1,000,000 residents) loads into a table
of its own that has no index yet, builds that table's indexes (trigram
included) once the rows are in, then attaches it as the area's partition
(:func:`vrs_import_open_fresh_area`, :func:`vrs_import_attach_fresh_area`,
used by :mod:`db.imports.loader`). Updating the indexes of one shared table
row by row is what made a bare COPY cost 60 s.

The shape:

- Every area whose rows are here gets partitions ``resident_<code>`` and
  ``ticket_<code>``; rows of any other area (one with no first import yet, e.g.
  a resident added by hand) go to the DEFAULT partitions ``resident_other`` and
  ``ticket_other``. Every partition has forced row-level security like its
  parent (``vrs_protect_tenant_table``); the serving role has no grant on a
  partition, it reads and writes through the parent.
- A key of a partitioned table must hold the partition key, so the primary
  keys become ``(id, municipality_code)`` and a ticket's reference is composite:
  ``ticket (resident, municipality_code)`` → ``resident (id, municipality_code)``,
  a foreign key (a ticket can only point at a resident of its own area). A
  freshly loaded ticket partition is checked against its residents in one
  set-based statement when it is attached.
- A resident's history (``resident_version``) refers to ``(resident,
  municipality_code)`` too, checked by statement-level triggers instead of a
  foreign key: a foreign key to a partitioned table runs one query per row
  (1.7 of 4.4 s when 10,000 residents change). After each INSERT into the
  history every new row's resident must exist; a DELETE of residents with a
  history is refused, and a resident's id and area never change (the same
  error code and constraint name as the foreign key it replaces).
- The single-column ``municipality_code`` indexes are gone: the partition key
  does their work. The other indexes are defined on the parents (so on every
  partition) with their old names.
- Triggers on the two tables (the statistics app's population counts) are
  defined again on the new parents, as they were.

The migration is the security app's (like 2026-12-06T07:31 for the residents' history):
it protects every new table with ``vrs_protect_tenant_table`` and grants to ``vrs_app``,
which this app creates after the residents app on a new database.

Existing rows are copied into their partitions. The backward step puts back
the unpartitioned tables, their keys, indexes, references, protection and
triggers, with the rows.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T09:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents and tickets partitioned by municipality"

#: Rows counted in ``population_count`` (as the statistics app's resident triggers count them),
#: quoted for a string literal.
_COUNTED = "status = ''active'' AND moved_out_on IS NULL AND deceased_on IS NULL"

SQL = rf"""
-- Triggers defined on the tables by other apps, to define again on the partitioned ones.
CREATE TEMP TABLE vrs_kept_triggers ON COMMIT DROP AS
    SELECT pg_get_triggerdef(t.oid) AS definition FROM pg_trigger t
    WHERE t.tgrelid IN ('resident'::regclass, 'ticket'::regclass) AND NOT t.tgisinternal;

ALTER TABLE resident_version DROP CONSTRAINT resident_version_resident_fkey;
ALTER TABLE ticket DROP CONSTRAINT ticket_resident_fkey;
ALTER TABLE resident RENAME TO resident_unpartitioned;
ALTER TABLE ticket RENAME TO ticket_unpartitioned;

CREATE TABLE resident (LIKE resident_unpartitioned INCLUDING DEFAULTS INCLUDING STORAGE)
    PARTITION BY LIST (municipality_code);
CREATE TABLE ticket (LIKE ticket_unpartitioned INCLUDING DEFAULTS INCLUDING STORAGE)
    PARTITION BY LIST (municipality_code);
CREATE TABLE resident_other PARTITION OF resident DEFAULT;
CREATE TABLE ticket_other PARTITION OF ticket DEFAULT;

-- One area's partitions (an area code is six digits; anything else stays in the default ones).
CREATE OR REPLACE FUNCTION vrs_add_area_partitions(p_code text) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
    IF p_code !~ '^[0-9]{{6}}$' THEN
        RAISE EXCEPTION 'not an area code: %', p_code USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF resident FOR VALUES IN (%L)',
                   'resident_' || p_code, p_code);
    EXECUTE format('CREATE TABLE %I PARTITION OF ticket FOR VALUES IN (%L)',
                   'ticket_' || p_code, p_code);
    PERFORM vrs_protect_tenant_table(format('%I', 'resident_' || p_code)::regclass);
    PERFORM vrs_protect_tenant_table(format('%I', 'ticket_' || p_code)::regclass);
END
$fn$;
REVOKE ALL ON FUNCTION vrs_add_area_partitions(text) FROM PUBLIC;

SELECT vrs_add_area_partitions(code) FROM (
    SELECT municipality_code FROM resident_unpartitioned
    UNION SELECT municipality_code FROM ticket_unpartitioned
) areas (code) WHERE code ~ '^[0-9]{{6}}$';

INSERT INTO resident SELECT * FROM resident_unpartitioned;
INSERT INTO ticket SELECT * FROM ticket_unpartitioned;
DROP TABLE ticket_unpartitioned;
DROP TABLE resident_unpartitioned;

ALTER TABLE resident ADD CONSTRAINT resident_pkey PRIMARY KEY (id, municipality_code);
ALTER TABLE resident ADD CONSTRAINT resident_number_unique UNIQUE (municipality_code, resident_number);
CREATE INDEX resident_my_number_hmac ON resident (my_number_hmac);
CREATE INDEX resident_birth_date ON resident (municipality_code, birth_date);
CREATE INDEX resident_name_trgm ON resident USING gin (name gin_trgm_ops);
CREATE INDEX resident_name_kana_trgm ON resident USING gin (name_kana gin_trgm_ops);
ALTER TABLE ticket ADD CONSTRAINT ticket_pkey PRIMARY KEY (id, municipality_code);
ALTER TABLE ticket ADD CONSTRAINT ticket_number_unique UNIQUE (municipality_code, ticket_number);
CREATE INDEX ticket_resident ON ticket (resident);
ALTER TABLE ticket ADD CONSTRAINT ticket_resident_fkey FOREIGN KEY (resident, municipality_code)
    REFERENCES resident (id, municipality_code) ON UPDATE CASCADE ON DELETE CASCADE;

-- A resident's history refers to the resident, checked once per statement (a foreign key to
-- a partitioned table costs a query per row: 40% of an update import of 100,000 residents).
CREATE OR REPLACE FUNCTION vrs_resident_version_refers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (
                   SELECT 1 FROM resident r
                   WHERE r.id = n.resident AND r.municipality_code = n.municipality_code)) THEN
        RAISE EXCEPTION 'resident_version refers to a resident that is not there'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'resident_version_resident_fkey';
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER resident_version_refers AFTER INSERT ON resident_version
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_resident_version_refers();

-- A resident with a history is never deleted, nor moved to another id or area.
CREATE OR REPLACE FUNCTION vrs_resident_keeps_its_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN resident_version v
               ON v.resident = o.id AND v.municipality_code = o.municipality_code) THEN
        RAISE EXCEPTION 'a resident with a history cannot be deleted'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'resident_version_resident_fkey';
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER resident_history_kept AFTER DELETE ON resident
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vrs_resident_keeps_its_history();
CREATE OR REPLACE FUNCTION vrs_resident_key_fixed() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
    RAISE EXCEPTION 'a resident''s id and area never change'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'resident_version_resident_fkey';
END
$fn$;
CREATE TRIGGER resident_key_fixed BEFORE UPDATE OF id, municipality_code ON resident
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id
                       OR OLD.municipality_code IS DISTINCT FROM NEW.municipality_code)
    EXECUTE FUNCTION vrs_resident_key_fixed();
REVOKE ALL ON FUNCTION vrs_resident_version_refers() FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_resident_keeps_its_history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_resident_version_refers() TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_resident_keeps_its_history() TO vrs_app;

SELECT vrs_protect_tenant_table(t::regclass)
FROM unnest(ARRAY['resident', 'ticket', 'resident_other', 'ticket_other']) AS t;
GRANT SELECT, INSERT, UPDATE ON resident, ticket TO vrs_app;
REVOKE DELETE, TRUNCATE ON resident, ticket FROM vrs_app;

DO $do$
DECLARE
    kept text;
BEGIN
    FOR kept IN SELECT definition FROM vrs_kept_triggers LOOP
        EXECUTE kept;
    END LOOP;
END
$do$;

-- The first import of an area with no rows yet: its own tables, loaded with no index.
-- They are created in the import's transaction (nobody else sees them before it commits),
-- with a CHECK that every row is the area's, which also lets ATTACH skip its scan.
CREATE OR REPLACE FUNCTION vrs_import_open_fresh_area(p_code text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    r text := 'resident_' || p_code;
    t text := 'ticket_' || p_code;
BEGIN
    IF p_code IS DISTINCT FROM nullif(current_setting('app.municipality_code', true), '')
       OR p_code !~ '^[0-9]{{6}}$' THEN
        RAISE EXCEPTION 'an area''s tables are prepared from inside that area only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I', r)) IS NOT NULL OR to_regclass(format('%I', t)) IS NOT NULL
       OR EXISTS (SELECT 1 FROM resident WHERE municipality_code = p_code)
       OR EXISTS (SELECT 1 FROM ticket WHERE municipality_code = p_code) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE resident INCLUDING DEFAULTS INCLUDING STORAGE,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', r, r || '_area', p_code);
    EXECUTE format('CREATE TABLE %I (LIKE ticket INCLUDING DEFAULTS INCLUDING STORAGE,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', t, t || '_area', p_code);
    EXECUTE format('GRANT INSERT ON %I, %I TO vrs_app', r, t);
    RETURN true;
END
$fn$;

-- Index, protect and attach what vrs_import_open_fresh_area prepared and the import filled.
-- ATTACH builds the parents' indexes on each table (trigram included) and checks the tickets'
-- residents in one set-based statement (the foreign key's validation).
CREATE OR REPLACE FUNCTION vrs_import_attach_fresh_area(p_code text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET maintenance_work_mem = '256MB' AS $fn$
DECLARE
    r text := 'resident_' || p_code;
    t text := 'ticket_' || p_code;
BEGIN
    IF p_code IS DISTINCT FROM nullif(current_setting('app.municipality_code', true), '')
       OR p_code !~ '^[0-9]{{6}}$' THEN
        RAISE EXCEPTION 'an area''s tables are attached from inside that area only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I', r)) IS NULL OR to_regclass(format('%I', t)) IS NULL
       OR EXISTS (SELECT 1 FROM pg_inherits
                  WHERE inhrelid IN (format('%I', r)::regclass, format('%I', t)::regclass)) THEN
        RAISE EXCEPTION 'no fresh tables to attach for area %', p_code
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('REVOKE ALL ON %I, %I FROM vrs_app', r, t);
    EXECUTE format('ANALYZE %I', r);
    EXECUTE format('ANALYZE %I', t);
    EXECUTE format('ALTER TABLE resident ATTACH PARTITION %I FOR VALUES IN (%L)', r, p_code);
    EXECUTE format('ALTER TABLE ticket ATTACH PARTITION %I FOR VALUES IN (%L)', t, p_code);
    PERFORM vrs_protect_tenant_table(format('%I', r)::regclass);
    PERFORM vrs_protect_tenant_table(format('%I', t)::regclass);
    -- The rows did not pass through the parent, whose triggers count the population.
    EXECUTE format(
        'INSERT INTO population_count AS p (municipality_code, residents)'
        ' SELECT municipality_code, count(*) FROM %I WHERE {_COUNTED} GROUP BY 1'
        ' ON CONFLICT (municipality_code) DO UPDATE SET residents = p.residents + excluded.residents',
        r);
END
$fn$;

REVOKE ALL ON FUNCTION vrs_import_open_fresh_area(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_attach_fresh_area(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_import_open_fresh_area(text) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_import_attach_fresh_area(text) TO vrs_app;
"""

BACKWARDS_SQL = r"""
CREATE TEMP TABLE vrs_kept_triggers ON COMMIT DROP AS
    SELECT pg_get_triggerdef(t.oid) AS definition FROM pg_trigger t
    WHERE t.tgrelid IN ('resident'::regclass, 'ticket'::regclass) AND NOT t.tgisinternal
      AND t.tgparentid = 0 AND t.tgname NOT IN ('resident_history_kept', 'resident_key_fixed');

DROP FUNCTION IF EXISTS vrs_import_open_fresh_area(text);
DROP FUNCTION IF EXISTS vrs_import_attach_fresh_area(text);
DROP FUNCTION IF EXISTS vrs_add_area_partitions(text);
DROP TRIGGER resident_version_refers ON resident_version;
DROP TRIGGER resident_history_kept ON resident;
DROP TRIGGER resident_key_fixed ON resident;
DROP FUNCTION vrs_resident_version_refers();
DROP FUNCTION vrs_resident_keeps_its_history();
DROP FUNCTION vrs_resident_key_fixed();

ALTER TABLE ticket DROP CONSTRAINT ticket_resident_fkey;
ALTER TABLE resident RENAME TO resident_partitioned;
ALTER TABLE ticket RENAME TO ticket_partitioned;

CREATE TABLE resident (LIKE resident_partitioned INCLUDING DEFAULTS INCLUDING STORAGE);
CREATE TABLE ticket (LIKE ticket_partitioned INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO resident SELECT * FROM resident_partitioned;
INSERT INTO ticket SELECT * FROM ticket_partitioned;
DROP TABLE ticket_partitioned;
DROP TABLE resident_partitioned;

ALTER TABLE resident ADD CONSTRAINT resident_pkey PRIMARY KEY (id);
ALTER TABLE resident ADD CONSTRAINT resident_number_unique UNIQUE (municipality_code, resident_number);
CREATE INDEX resident_municipality_code ON resident (municipality_code);
CREATE INDEX resident_my_number_hmac ON resident (my_number_hmac);
CREATE INDEX resident_birth_date ON resident (municipality_code, birth_date);
CREATE INDEX resident_name_trgm ON resident USING gin (name gin_trgm_ops);
CREATE INDEX resident_name_kana_trgm ON resident USING gin (name_kana gin_trgm_ops);
ALTER TABLE ticket ADD CONSTRAINT ticket_pkey PRIMARY KEY (id);
ALTER TABLE ticket ADD CONSTRAINT ticket_number_unique UNIQUE (municipality_code, ticket_number);
CREATE INDEX ticket_municipality_code ON ticket (municipality_code);
CREATE INDEX ticket_resident ON ticket (resident);
ALTER TABLE ticket ADD CONSTRAINT ticket_resident_fkey FOREIGN KEY (resident)
    REFERENCES resident (id) ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE resident_version ADD CONSTRAINT resident_version_resident_fkey
    FOREIGN KEY (resident) REFERENCES resident (id);

SELECT vrs_protect_tenant_table(t::regclass) FROM unnest(ARRAY['resident', 'ticket']) AS t;
GRANT SELECT, INSERT, UPDATE ON resident, ticket TO vrs_app;
REVOKE DELETE, TRUNCATE ON resident, ticket FROM vrs_app;

DO $do$
DECLARE
    kept text;
BEGIN
    FOR kept IN SELECT definition FROM vrs_kept_triggers LOOP
        EXECUTE replace(replace(kept, 'ON public.resident_partitioned ', 'ON public.resident '),
                        'ON public.ticket_partitioned ', 'ON public.ticket ');
    END LOOP;
END
$do$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
