"""The inquiry log's RLS, and the bulk inquiry crossing (F7 一括照会).

``vrs_inquire_records_bulk`` answers many My Number hashes in one set-based
query, with exactly the fields of ``vrs_inquire_records`` (the seed's
外部への資料提供) plus the position of the asked person in the request. A
person without a recorded consent basis gets no answer. Each answering
municipality gets one audit event in its own area saying who asked, when,
for which of its residents and on which bases of consent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "inquiries: RLS and the bulk inquiry crossing"

SQL = r"""
SELECT vrs_protect_tenant_table('inquiry'::regclass);
GRANT SELECT, INSERT ON inquiry TO vrs_app;
REVOKE UPDATE, DELETE, TRUNCATE ON inquiry FROM vrs_app;

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
        WHERE coalesce(btrim(q.c), '') <> '' AND r.municipality_code <> caller
          AND r.status = 'active' AND s.provides_records_to_inquiries;
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

REVOKE ALL ON FUNCTION vrs_inquire_records_bulk(text[], text[], uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_inquire_records_bulk(text[], text[], uuid) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="inquiries", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
