"""The venue save in two statements: one reads what the rules need, one writes and commits.

Both run outside an explicit transaction (each is its own), as the serving
role, and set the area themselves (``set_config(..., true)`` lasts until the
statement's implicit commit), so no BEGIN, ``set_config`` or COMMIT round
trip is needed. Row-level security applies as in any tenant transaction: the
functions have the caller's rights.

- ``vrs_save_context`` answers, for our own area's ticket: the venue's name and
  whether it is open, the ticket's person (active ticket, active resident),
  their active doses (jsonb, the rules' input) and whether the idempotency key
  was used already.
- ``vrs_save_dose`` locks the person for its own short transaction only, checks
  that their active doses are still the ones the rules judged, and writes the
  dose, its audit event and the venue-log line. It answers ``created``, or
  ``stale`` (a dose of this person changed since the read) or ``replayed``
  (the key was used meanwhile), after which the caller takes the locked path.

In the security app, like the other sanctioned functions: its migrations run
after the role ``vrs_app`` exists.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T09:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue save: one read statement, one write statement"

_DOSES = """coalesce((SELECT jsonb_agg(jsonb_build_object('dose_number', d.dose_number,
            'vaccinated_on', d.vaccinated_on, 'product', d.product) ORDER BY d.vaccinated_on, d.dose_number)
        FROM vaccination d
        WHERE d.municipality_code = p_municipality AND d.resident = {person} AND d.status = 'active'),
    '[]'::jsonb)"""

SQL = rf"""
CREATE OR REPLACE FUNCTION vrs_save_context(
    p_municipality text, p_venue uuid, p_ticket text, p_key text
) RETURNS TABLE (
    venue_name text, venue_open boolean, resident_id uuid, name text, name_kana text,
    birth_date date, sex text, moved_out_on date, deceased_on date, needs_care boolean,
    priority_group text, doses jsonb, key_used boolean
)
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('app.municipality_code', p_municipality, true);
    RETURN QUERY
    SELECT v.name::text, coalesce(v.active, p_venue IS NULL),
           r.id, r.name::text, r.name_kana::text, r.birth_date, r.sex::text, r.moved_out_on,
           r.deceased_on, r.needs_care, r.priority_group::text,
           CASE WHEN r.id IS NULL THEN '[]'::jsonb ELSE {_DOSES.format(person="r.id")} END,
           EXISTS (SELECT 1 FROM vaccination k
                   WHERE k.municipality_code = p_municipality AND k.idempotency_key = p_key)
    FROM (SELECT 1) AS one
    LEFT JOIN venue v ON v.id = p_venue
    LEFT JOIN (ticket t JOIN resident r ON r.id = t.resident AND r.status = 'active')
        ON t.municipality_code = p_municipality AND t.ticket_number = p_ticket AND t.status = 'valid';
END
$$;

CREATE OR REPLACE FUNCTION vrs_save_dose(
    p_municipality text, p_resident uuid, p_judged jsonb, p_ticket text, p_ticket_type text,
    p_dose_number integer, p_vaccinated_on date, p_venue_name text, p_venue uuid,
    p_doctor text, p_product text, p_lot text, p_volume numeric, p_quality text,
    p_reasons jsonb, p_source text, p_key text, p_actor uuid, p_actor_role text,
    p_fingerprint text
) RETURNS TABLE (vaccination_id uuid, outcome text)
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM set_config('app.municipality_code', p_municipality, true);
    -- Two tablets saving for one person: the second waits here, for this statement only,
    -- and then sees the first one's dose below (each statement of a function reads anew).
    PERFORM 1 FROM resident WHERE id = p_resident FOR UPDATE;
    IF {_DOSES.format(person="p_resident")} IS DISTINCT FROM p_judged THEN
        RETURN QUERY SELECT NULL::uuid, 'stale'::text;
        RETURN;
    END IF;
    INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type,
        dose_number, vaccinated_on, vaccinated_by_municipality_code, venue_name, venue_id,
        doctor_name, product, lot_number, volume_ml, status, quality, quality_reasons, source,
        idempotency_key, version, recorded_by, recorded_at, updated_at, request_fingerprint)
    VALUES (gen_random_uuid(), p_municipality, p_resident, p_ticket, p_ticket_type,
        p_dose_number, p_vaccinated_on, p_municipality, p_venue_name, p_venue, p_doctor,
        p_product, p_lot, p_volume, 'active', p_quality, p_reasons, p_source, p_key, 1, p_actor,
        now(), now(), p_fingerprint)
    ON CONFLICT (municipality_code, idempotency_key) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT NULL::uuid, 'replayed'::text;
        RETURN;
    END IF;
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
        object_type, object_id, details)
    VALUES (p_municipality, now(), p_actor, p_actor_role, 'vaccination.create', 'vaccination',
        new_id::text, jsonb_build_object('source', p_source, 'quality', p_quality));
    INSERT INTO venue_log (id, municipality_code, venue_id, vaccination_id,
        resident_municipality_code, ticket_number, dose_number, vaccinated_on, product,
        lot_number, volume_ml, doctor_name, recorded_by, recorded_at)
    VALUES (gen_random_uuid(), p_municipality, p_venue, new_id, p_municipality, p_ticket,
        p_dose_number, p_vaccinated_on, p_product, p_lot, p_volume, p_doctor, p_actor, now());
    RETURN QUERY SELECT new_id, 'created'::text;
END
$$;

REVOKE ALL ON FUNCTION vrs_save_context(text, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_save_context(text, uuid, text, text) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_save_dose(text, uuid, jsonb, text, text, integer, date, text, uuid,
    text, text, text, numeric, text, jsonb, text, text, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_save_dose(text, uuid, jsonb, text, text, integer, date, text, uuid,
    text, text, text, numeric, text, jsonb, text, text, uuid, text, text) TO vrs_app;
"""

BACKWARD_SQL = """
DROP FUNCTION IF EXISTS vrs_save_context(text, uuid, text, text);
DROP FUNCTION IF EXISTS vrs_save_dose(text, uuid, jsonb, text, text, integer, date, text, uuid,
    text, text, text, numeric, text, jsonb, text, text, uuid, text, text);
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
