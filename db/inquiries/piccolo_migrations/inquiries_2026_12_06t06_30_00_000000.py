"""F7 answers only its purpose (issue 12): the asking municipality's own resident, a
consent basis from the list with a reference, and the answering area logs whose record.

- The asking municipality must hold the My Number on one of its own resident
  records (any state but erased): the seed's inquiry is from the municipality
  the person moved to (計画書 8), so a number it never recorded is refused.
- The consent basis is ``<one of the listed bases>: <reference>`` (確認事項
  第3条(5)); free text such as ``x`` no longer passes.
- The answering area's ``inquiry.answered`` event names the residents whose
  record was given (single and bulk alike).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "inquiries: own residents only, listed consent bases, answered residents logged"

SQL = r"""
-- The listed consent bases (db/inquiries/consent.py has the same list).
CREATE OR REPLACE FUNCTION vrs_consent_basis_ok(p_basis text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT coalesce(
        split_part(p_basis, ': ', 1) = ANY (ARRAY['書面による同意', '申請書への記載',
                                                   '口頭同意の記録', '電子申請での同意'])
        AND length(btrim(substr(p_basis, length(split_part(p_basis, ': ', 1)) + 3))) >= 2,
        false)
$$;

CREATE OR REPLACE FUNCTION vrs_inquire_records(p_my_number_hmac text, p_actor uuid,
                                               p_consent_basis text)
RETURNS TABLE (municipality_code text, municipality_name text, name text, birth_date date,
               sex text, ticket_numbers text[], priority_group text, needs_care boolean,
               dose_number integer, vaccinated_on date, product text, lot_number text,
               volume_ml numeric, vaccinated_by_municipality_code text, venue_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
    answering text;
BEGIN
    IF caller IS NULL THEN
        RAISE EXCEPTION 'an inquiry is made by a municipality' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT vrs_consent_basis_ok(p_consent_basis) THEN
        RAISE EXCEPTION 'an inquiry needs the resident''s recorded consent (a listed basis and its reference)'
            USING ERRCODE = 'P0001', HINT = 'consent_required';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM resident r WHERE r.municipality_code = caller
                   AND r.my_number_hmac = p_my_number_hmac AND r.status <> 'erased') THEN
        RAISE EXCEPTION 'an inquiry is about a resident of the asking municipality'
            USING ERRCODE = 'P0001', HINT = 'not_own_resident';
    END IF;
    FOR answering IN
        SELECT DISTINCT r.municipality_code FROM resident r
        JOIN current_municipality_setting s ON s.municipality_code = r.municipality_code
        WHERE r.my_number_hmac = p_my_number_hmac AND r.municipality_code <> caller
          AND r.status = 'active' AND s.provides_records_to_inquiries
    LOOP
        INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                                 object_type, object_id, details)
        VALUES (answering, now(), p_actor, 'clerk', 'inquiry.answered', 'municipality', caller,
                jsonb_build_object(
                    'inquiring_municipality', caller, 'kind', 'single',
                    'consent_basis', p_consent_basis,
                    'residents', (SELECT jsonb_agg(r.id) FROM resident r
                                  WHERE r.municipality_code = answering
                                    AND r.my_number_hmac = p_my_number_hmac
                                    AND r.status = 'active')));
    END LOOP;
    RETURN QUERY
        SELECT r.municipality_code::text, m.name::text, r.name::text, r.birth_date, r.sex::text,
               ARRAY(SELECT t.ticket_number::text FROM ticket t
                     WHERE t.municipality_code = r.municipality_code AND t.resident = r.id
                     ORDER BY t.ticket_number),
               r.priority_group::text, r.needs_care,
               v.dose_number, v.vaccinated_on, v.product::text, v.lot_number::text, v.volume_ml,
               v.vaccinated_by_municipality_code::text, v.venue_name::text
        FROM resident r
        JOIN municipality m ON m.code = r.municipality_code
        JOIN current_municipality_setting s ON s.municipality_code = r.municipality_code
        LEFT JOIN vaccination v ON v.municipality_code = r.municipality_code
                               AND v.resident = r.id AND v.status = 'active'
        WHERE r.my_number_hmac = p_my_number_hmac AND r.municipality_code <> caller
          AND r.status = 'active' AND s.provides_records_to_inquiries
        ORDER BY r.municipality_code, v.dose_number;
END
$$;

CREATE OR REPLACE FUNCTION vrs_inquire_records_bulk(p_my_number_hmacs text[],
                                                    p_consent_bases text[], p_actor uuid)
RETURNS TABLE (ordinal integer, municipality_code text, municipality_name text, name text,
               birth_date date, sex text, ticket_numbers text[], priority_group text,
               needs_care boolean, dose_number integer, vaccinated_on date, product text,
               lot_number text, volume_ml numeric, vaccinated_by_municipality_code text,
               venue_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
BEGIN
    IF caller IS NULL THEN
        RAISE EXCEPTION 'an inquiry is made by a municipality' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF coalesce(array_length(p_my_number_hmacs, 1), 0) <> coalesce(array_length(p_consent_bases, 1), 0) THEN
        RAISE EXCEPTION 'one consent basis per person' USING ERRCODE = 'P0001', HINT = 'consent_required';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.vrs_inquiry_hit (
        ordinal integer, resident_id uuid, municipality_code text, consent text
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.vrs_inquiry_hit;
    INSERT INTO pg_temp.vrs_inquiry_hit
        SELECT q.ord::integer, r.id, r.municipality_code, q.c
        FROM unnest(p_my_number_hmacs, p_consent_bases) WITH ORDINALITY AS q(h, c, ord)
        JOIN resident r ON r.my_number_hmac = q.h
        JOIN current_municipality_setting s ON s.municipality_code = r.municipality_code
        WHERE vrs_consent_basis_ok(q.c) AND r.municipality_code <> caller
          AND r.status = 'active' AND s.provides_records_to_inquiries
          AND EXISTS (SELECT 1 FROM resident own WHERE own.municipality_code = caller
                      AND own.my_number_hmac = q.h AND own.status <> 'erased');
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
        SELECT h.municipality_code, now(), p_actor, 'clerk', 'inquiry.answered', 'municipality',
               caller, jsonb_build_object('inquiring_municipality', caller, 'kind', 'bulk',
                                          'residents', jsonb_agg(DISTINCT h.resident_id),
                                          'consent_bases', jsonb_agg(DISTINCT h.consent))
        FROM pg_temp.vrs_inquiry_hit h GROUP BY h.municipality_code;
    RETURN QUERY
        SELECT h.ordinal, r.municipality_code::text, m.name::text, r.name::text, r.birth_date,
               r.sex::text,
               ARRAY(SELECT t.ticket_number::text FROM ticket t
                     WHERE t.municipality_code = r.municipality_code AND t.resident = r.id
                     ORDER BY t.ticket_number),
               r.priority_group::text, r.needs_care,
               v.dose_number, v.vaccinated_on, v.product::text, v.lot_number::text, v.volume_ml,
               v.vaccinated_by_municipality_code::text, v.venue_name::text
        FROM pg_temp.vrs_inquiry_hit h
        JOIN resident r ON r.id = h.resident_id
        JOIN municipality m ON m.code = r.municipality_code
        LEFT JOIN vaccination v ON v.municipality_code = r.municipality_code
                               AND v.resident = r.id AND v.status = 'active'
        ORDER BY h.ordinal, r.municipality_code, v.dose_number;
END
$$;

REVOKE ALL ON FUNCTION vrs_inquire_records(text, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_inquire_records(text, uuid, text) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_inquire_records_bulk(text[], text[], uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_inquire_records_bulk(text[], text[], uuid) TO vrs_app;
"""

# Backwards: the previous definitions (security 09:20 and inquiries 09:53) are re-run.
BACKWARD_SQL = r"""
DROP FUNCTION IF EXISTS vrs_consent_basis_ok(text);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="inquiries", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        from db.inquiries.piccolo_migrations import inquiries_2026_12_01t09_53_00_000000 as bulk
        from db.security.piccolo_migrations import security_2026_12_01t09_20_00_000000 as base

        single = base.SQL.split("CREATE OR REPLACE FUNCTION vrs_inquire_records(")[1]
        single = "CREATE OR REPLACE FUNCTION vrs_inquire_records(" + single.split(
            "-----------------------------------------------------------------------"
        )[0]
        await execute_sql(single)
        await execute_sql(
            bulk.SQL.replace("SELECT vrs_protect_tenant_table('inquiry'::regclass);", "")
        )
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
