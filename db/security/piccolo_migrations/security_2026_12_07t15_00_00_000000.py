"""An area's first import builds its indexes on several connections (issue 16).

Migration 09:30 loads an area's first import into new tables of its own and
attaches them as the area's partitions, and ATTACH built every index, one after
the other, in the import's transaction. Now the import commits the loaded tables
unattached (no grant left to ``vrs_app``: nobody can read or change them), builds
each index the parents have on a connection of its own
(``vrs_import_index_fresh_area``, a trigram index on one while a btree goes on
another), and then attaches them in a second transaction: ATTACH finds the
indexes (the unique ones made constraints first) and builds nothing.

Tables a stopped import left unattached hold residents' data: the next first
import of the area drops them (``vrs_import_open_fresh_area``, under the area's
import lock), a failed one drops its own (``vrs_import_discard_fresh_area``), and
the server drops any at start-up whose area no import works on
(``vrs_discard_abandoned_fresh_areas``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql
from db.security.piccolo_migrations import security_2026_12_06t09_30_00_000000 as partitioned

ID = "2026-12-07T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "first imports build their indexes in parallel"

SQL = r"""
-- The helpers below run with the rights of the SECURITY DEFINER functions that call them
-- (nobody else may execute them).
-- The area's fresh tables, made by a first import and not attached yet: marked by their
-- comment (an operator's detached partition of the same name is never one of them).
CREATE OR REPLACE FUNCTION vrs_unattached_fresh_tables(p_code text) RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $fn$
    SELECT c.oid::regclass FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
      AND c.relname IN ('resident_' || p_code, 'ticket_' || p_code)
      AND obj_description(c.oid, 'pg_class') = 'vrs: a first import''s table, not attached'
      AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
$fn$;

-- The area's import lock for this transaction (the import holds it for its session): waits
-- while another session's import of the area runs.
CREATE OR REPLACE FUNCTION vrs_import_lock_area(p_code text) RETURNS void
LANGUAGE sql SET search_path = public, pg_temp AS $fn$
    SELECT pg_advisory_xact_lock(hashtextextended('vrs-import-area:' || p_code, 0))
$fn$;

CREATE OR REPLACE FUNCTION vrs_import_inside_area(p_code text) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
    IF p_code IS DISTINCT FROM nullif(current_setting('app.municipality_code', true), '')
       OR p_code !~ '^[0-9]{6}$' THEN
        RAISE EXCEPTION 'an area''s tables are handled from inside that area only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$fn$;

-- The first import of an area with no rows yet: its own tables, loaded with no index.
-- Under the area's import lock, tables left unattached by an import that stopped are
-- abandoned: they are dropped first.
CREATE OR REPLACE FUNCTION vrs_import_open_fresh_area(p_code text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    r text := 'resident_' || p_code;
    t text := 'ticket_' || p_code;
    left_behind regclass;
BEGIN
    PERFORM vrs_import_inside_area(p_code);
    PERFORM vrs_import_lock_area(p_code);
    FOR left_behind IN SELECT * FROM vrs_unattached_fresh_tables(p_code) LOOP
        EXECUTE format('DROP TABLE %s', left_behind);
    END LOOP;
    IF to_regclass(format('%I', r)) IS NOT NULL OR to_regclass(format('%I', t)) IS NOT NULL
       OR EXISTS (SELECT 1 FROM resident WHERE municipality_code = p_code)
       OR EXISTS (SELECT 1 FROM ticket WHERE municipality_code = p_code) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE resident INCLUDING DEFAULTS INCLUDING STORAGE,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', r, r || '_area', p_code);
    EXECUTE format('CREATE TABLE %I (LIKE ticket INCLUDING DEFAULTS INCLUDING STORAGE,'
                   ' CONSTRAINT %I CHECK (municipality_code = %L))', t, t || '_area', p_code);
    EXECUTE format('COMMENT ON TABLE %I IS %L', r, 'vrs: a first import''s table, not attached');
    EXECUTE format('COMMENT ON TABLE %I IS %L', t, 'vrs: a first import''s table, not attached');
    EXECUTE format('GRANT INSERT ON %I, %I TO vrs_app', r, t);
    RETURN true;
END
$fn$;

-- The loaded tables are committed before their indexes are built: nobody may touch them.
CREATE OR REPLACE FUNCTION vrs_import_close_fresh_area(p_code text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    fresh regclass;
BEGIN
    PERFORM vrs_import_inside_area(p_code);
    PERFORM vrs_import_lock_area(p_code);
    FOR fresh IN SELECT * FROM vrs_unattached_fresh_tables(p_code) LOOP
        EXECUTE format('REVOKE ALL ON %s FROM vrs_app', fresh);
    END LOOP;
END
$fn$;

-- The parents' indexes, the slowest to build (trigram) first.
CREATE OR REPLACE FUNCTION vrs_import_fresh_area_indexes() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    SELECT i.relname::text FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_am a ON a.oid = i.relam
    WHERE x.indrelid IN ('resident'::regclass, 'ticket'::regclass)
    ORDER BY a.amname = 'gin' DESC, x.indrelid = 'resident'::regclass DESC, i.relname
$fn$;

-- The name the fresh table's copy of a parent's index takes.
CREATE OR REPLACE FUNCTION vrs_fresh_index_name(p_table regclass, p_parent_index text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
    SELECT left(p_table::text || '_' || p_parent_index, 63)
$fn$;

-- One of the parents' indexes, built on the area's unattached fresh table.
CREATE OR REPLACE FUNCTION vrs_import_index_fresh_area(p_code text, p_parent_index text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET maintenance_work_mem = '256MB' AS $fn$
DECLARE
    parent regclass;
    definition text;
    fresh regclass;
    name text;
BEGIN
    PERFORM vrs_import_inside_area(p_code);
    -- Only for the import of the area that holds its lock (a builder may not wait for it).
    IF pg_try_advisory_xact_lock(hashtextextended('vrs-import-area:' || p_code, 0)) THEN
        RAISE EXCEPTION 'no import of area % is building its indexes', p_code
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT x.indrelid::regclass, pg_get_indexdef(x.indexrelid) INTO parent, definition
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE i.relname = p_parent_index AND i.relnamespace = 'public'::regnamespace
      AND x.indrelid IN ('resident'::regclass, 'ticket'::regclass);
    SELECT f INTO fresh FROM vrs_unattached_fresh_tables(p_code) f
    WHERE f::text = parent::text || '_' || p_code;
    IF definition IS NULL OR fresh IS NULL THEN
        RAISE EXCEPTION 'no index % to build for area %', p_parent_index, p_code
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    name := vrs_fresh_index_name(fresh, p_parent_index);
    definition := regexp_replace(definition, '^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ ',
                                 'CREATE \1INDEX ' || quote_ident(name) || ' ON ' || fresh || ' ');
    EXECUTE definition;
END
$fn$;

-- Index (what is not built yet), protect and attach what the first import loaded. The unique
-- indexes built for the parents' primary key and unique constraints become constraints, so
-- that ATTACH takes them instead of building its own. ATTACH also checks the tickets'
-- residents in one set-based statement (the foreign key's validation).
CREATE OR REPLACE FUNCTION vrs_import_attach_fresh_area(p_code text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET maintenance_work_mem = '256MB' AS $fn$
DECLARE
    r text := 'resident_' || p_code;
    t text := 'ticket_' || p_code;
    c record;
    name text;
BEGIN
    PERFORM vrs_import_inside_area(p_code);
    PERFORM vrs_import_lock_area(p_code);
    IF (SELECT count(*) FROM vrs_unattached_fresh_tables(p_code)) <> 2 THEN
        RAISE EXCEPTION 'no fresh tables to attach for area %', p_code
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('REVOKE ALL ON %I, %I FROM vrs_app', r, t);
    EXECUTE format('COMMENT ON TABLE %I IS NULL', r);
    EXECUTE format('COMMENT ON TABLE %I IS NULL', t);
    FOR c IN
        SELECT k.contype, k.conrelid::regclass AS parent, i.relname AS parent_index
        FROM pg_constraint k JOIN pg_class i ON i.oid = k.conindid
        WHERE k.conrelid IN ('resident'::regclass, 'ticket'::regclass) AND k.contype IN ('p', 'u')
    LOOP
        name := vrs_fresh_index_name(format('%I', c.parent::text || '_' || p_code)::regclass,
                                     c.parent_index);
        IF to_regclass(format('%I', name)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s USING INDEX %I',
                           c.parent::text || '_' || p_code, name,
                           CASE c.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, name);
        END IF;
    END LOOP;
    EXECUTE format('ANALYZE %I', r);
    EXECUTE format('ANALYZE %I', t);
    EXECUTE format('ALTER TABLE resident ATTACH PARTITION %I FOR VALUES IN (%L)', r, p_code);
    EXECUTE format('ALTER TABLE ticket ATTACH PARTITION %I FOR VALUES IN (%L)', t, p_code);
    PERFORM vrs_protect_tenant_table(format('%I', r)::regclass);
    PERFORM vrs_protect_tenant_table(format('%I', t)::regclass);
    -- The rows did not pass through the parent, whose triggers count the population.
    EXECUTE format(
        'INSERT INTO population_count AS p (municipality_code, residents)'
        ' SELECT municipality_code, count(*) FROM %I WHERE {counted} GROUP BY 1'
        ' ON CONFLICT (municipality_code) DO UPDATE SET residents = p.residents + excluded.residents',
        r);
END
$fn$;

-- A first import that failed after its tables were committed drops them.
CREATE OR REPLACE FUNCTION vrs_import_discard_fresh_area(p_code text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    fresh regclass;
BEGIN
    PERFORM vrs_import_inside_area(p_code);
    PERFORM vrs_import_lock_area(p_code);
    FOR fresh IN SELECT * FROM vrs_unattached_fresh_tables(p_code) LOOP
        EXECUTE format('DROP TABLE %s', fresh);
    END LOOP;
END
$fn$;

-- At start-up (no area): drop the fresh tables of every area no import works on.
CREATE OR REPLACE FUNCTION vrs_discard_abandoned_fresh_areas() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    area text;
    fresh regclass;
    dropped integer := 0;
BEGIN
    FOR area IN
        SELECT DISTINCT substring(c.relname FROM '_([0-9]{6})$') FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND c.relname ~ '^(resident|ticket)_[0-9]{6}$'
          AND obj_description(c.oid, 'pg_class') = 'vrs: a first import''s table, not attached'
          AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
    LOOP
        -- A live import holds its area's lock for as long as its tables are unattached.
        IF pg_try_advisory_xact_lock(hashtextextended('vrs-import-area:' || area, 0)) THEN
            FOR fresh IN SELECT * FROM vrs_unattached_fresh_tables(area) LOOP
                EXECUTE format('DROP TABLE %s', fresh);
                dropped := dropped + 1;
            END LOOP;
        END IF;
    END LOOP;
    RETURN dropped;
END
$fn$;

REVOKE ALL ON FUNCTION vrs_unattached_fresh_tables(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_inside_area(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_lock_area(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_fresh_index_name(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_close_fresh_area(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_fresh_area_indexes() FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_index_fresh_area(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_import_discard_fresh_area(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_discard_abandoned_fresh_areas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_import_close_fresh_area(text) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_import_fresh_area_indexes() TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_import_index_fresh_area(text, text) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_import_discard_fresh_area(text) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_discard_abandoned_fresh_areas() TO vrs_app;
""".replace("{counted}", partitioned._COUNTED)

_FUNCTIONS = (
    "vrs_discard_abandoned_fresh_areas()",
    "vrs_import_discard_fresh_area(text)",
    "vrs_import_index_fresh_area(text, text)",
    "vrs_fresh_index_name(regclass, text)",
    "vrs_import_fresh_area_indexes()",
    "vrs_import_close_fresh_area(text)",
)


def _earlier_functions() -> str:
    """``vrs_import_open_fresh_area`` and ``vrs_import_attach_fresh_area`` as 09:30 made them."""
    sql = partitioned.SQL
    start = sql.index("CREATE OR REPLACE FUNCTION vrs_import_open_fresh_area(")
    end = sql.index("REVOKE ALL ON FUNCTION vrs_import_open_fresh_area(text) FROM PUBLIC;")
    return sql[start:end]


BACKWARD_SQL = (
    _earlier_functions()
    + "".join(f"DROP FUNCTION IF EXISTS {f};\n" for f in _FUNCTIONS)
    + "DROP FUNCTION IF EXISTS vrs_import_inside_area(text);\n"
    + "DROP FUNCTION IF EXISTS vrs_import_lock_area(text);\n"
    + "DROP FUNCTION IF EXISTS vrs_unattached_fresh_tables(text);\n"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
