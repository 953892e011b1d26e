"""The venue save's statements and the bearer token's look-up, for many requests at once (issue 16).

A server process with many tablets saving at the same time sends their
reads together (``vrs_save_contexts``) and their writes together
(``vrs_save_doses``): one statement, one exchange and, for the writes, one
commit for all of them, instead of one each. Each item runs the single-save
function of migrations 09:40 / 11:20 unchanged (its own area set before its
own queries, so row-level security applies per item), and answers with its
index in the list. The writes take their people in one order, so two
batches never wait for each other crosswise. A write that is ``stale`` or
``replayed`` goes to the locked path as before; if any item raises, the
whole statement rolls back and every item of it goes to the locked path.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-07T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue save and bearer look-up: many in one statement"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_save_contexts(p_items jsonb) RETURNS TABLE (
    item integer, venue_name text, venue_open boolean, resident_id uuid, name text,
    name_kana text, birth_date date, sex text, moved_out_on date, deceased_on date,
    needs_care boolean, priority_group text, doses jsonb, key_used boolean
)
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    FOR n IN 0 .. jsonb_array_length(p_items) - 1 LOOP
        RETURN QUERY SELECT n, c.* FROM vrs_save_context(
            p_items -> n ->> 'municipality', (p_items -> n ->> 'venue')::uuid,
            p_items -> n ->> 'ticket', p_items -> n ->> 'key') AS c;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION vrs_save_doses(p_items jsonb)
RETURNS TABLE (item integer, vaccination_id uuid, outcome text)
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $$
DECLARE
    one record;
BEGIN
    FOR one IN SELECT (e.ordinality - 1)::integer AS n, e.value AS it
               FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e
               ORDER BY e.value ->> 'resident', e.ordinality LOOP
        RETURN QUERY SELECT one.n, d.vaccination_id, d.outcome FROM vrs_save_dose(
            one.it ->> 'municipality', (one.it ->> 'resident')::uuid, one.it -> 'judged',
            one.it ->> 'ticket', one.it ->> 'ticket_type', (one.it ->> 'dose_number')::integer,
            (one.it ->> 'vaccinated_on')::date, one.it ->> 'venue_name',
            (one.it ->> 'venue')::uuid, one.it ->> 'doctor', one.it ->> 'product',
            one.it ->> 'lot', (one.it ->> 'volume')::numeric, one.it ->> 'quality',
            one.it -> 'reasons', one.it ->> 'source', one.it ->> 'key',
            (one.it ->> 'actor')::uuid, one.it ->> 'actor_role', one.it ->> 'fingerprint') AS d;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION vrs_principals_for_tokens(p_items jsonb) RETURNS TABLE (
    item integer, token_id uuid, account_id uuid, login text, display_name text, role text,
    municipality_code text, prefecture_code text, venue_id uuid
)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT (e.ordinality - 1)::integer, p.*
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e,
         LATERAL vrs_principal_for_token(e.value ->> 'hash', (e.value ->> 'max_days')::integer) AS p
$$;

REVOKE ALL ON FUNCTION vrs_principals_for_tokens(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_principals_for_tokens(jsonb) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_save_contexts(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_save_doses(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_save_contexts(jsonb) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_save_doses(jsonb) TO vrs_app;
"""

BACKWARD_SQL = """
DROP FUNCTION IF EXISTS vrs_principals_for_tokens(jsonb);
DROP FUNCTION IF EXISTS vrs_save_contexts(jsonb);
DROP FUNCTION IF EXISTS vrs_save_doses(jsonb);
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
