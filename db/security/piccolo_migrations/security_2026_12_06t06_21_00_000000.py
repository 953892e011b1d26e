"""Identity confirmed at entry; F8 answers only a confirmed, audited venue question.

- ``vrs_confirm_ticket_elsewhere``: F8 identify. Answers only a venue account
  of one of the caller's venues, only when the birth date the person stated
  equals the record's (compared here, so a mismatch tells the venue nothing it
  did not know), writes an audit event in the answering area either way, and
  returns no birth date (the venue typed it) and never a default dose number.
- ``vrs_record_confirmed_dose_elsewhere``: F8 save. Compares the stated birth
  date again, judges death and moving out here (the venue is not told the
  dates; the record is flagged in the home area's queue) and, when asked,
  keeps a mismatching dose unmatched (要修正) instead of refusing it.
- ``vrs_dose_elsewhere_by_key_v2``: a retried F8 save finds its record and
  fingerprint.
The earlier F8 functions (a look-up service for any ticket) are dropped; the
backward step restores them from their migrations.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "identity confirmed at entry: F8 with stated birth date, request fingerprints"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_f8_caller_is_venue(p_venue uuid, p_actor uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM account a JOIN venue v ON v.id = a.venue_id
        WHERE a.id = p_actor AND a.active AND a.role = 'venue_operator'
          AND a.venue_id = p_venue
          AND a.municipality_code = nullif(current_setting('app.municipality_code', true), '')
          AND v.municipality_code = a.municipality_code)
$$;

CREATE OR REPLACE FUNCTION vrs_confirm_ticket_elsewhere(
    p_municipality text, p_ticket text, p_birth_date date, p_venue uuid, p_actor uuid)
RETURNS TABLE (resident_id uuid, name text, name_kana text, previous_doses jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
    person uuid;
    matched boolean := false;
BEGIN
    IF caller IS NULL OR caller = p_municipality THEN
        RAISE EXCEPTION 'vrs_confirm_ticket_elsewhere is for another municipality''s ticket'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT vrs_f8_caller_is_venue(p_venue, p_actor) THEN
        RAISE EXCEPTION 'another municipality''s resident is identified by a venue account only'
            USING ERRCODE = 'P0001', HINT = 'venue_only';
    END IF;
    IF NOT coalesce((SELECT accepts_records_from_other_venues FROM current_municipality_setting
                     WHERE municipality_code = p_municipality), false) THEN
        RETURN;
    END IF;
    SELECT r.id, r.birth_date = p_birth_date INTO person, matched
      FROM ticket t JOIN resident r ON r.id = t.resident
     WHERE t.municipality_code = p_municipality AND t.ticket_number = p_ticket
       AND t.status = 'valid' AND r.status = 'active';
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    VALUES (p_municipality, now(), p_actor, 'venue_operator', 'ticket.identify_from_elsewhere',
            'ticket', p_ticket, jsonb_build_object('asked_by', caller, 'venue', p_venue,
            'confirmed', coalesce(matched, false)));
    IF person IS NULL OR NOT coalesce(matched, false) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT r.id, r.name::text, r.name_kana::text,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'dose_number', v.dose_number, 'vaccinated_on', v.vaccinated_on,
                            'product', v.product) ORDER BY v.vaccinated_on)
                         FROM vaccination v
                         WHERE v.municipality_code = p_municipality AND v.resident = r.id
                           AND v.status = 'active'), '[]'::jsonb)
        FROM resident r WHERE r.id = person;
END
$$;

CREATE OR REPLACE FUNCTION vrs_record_confirmed_dose_elsewhere(
    p_municipality text, p_ticket text, p_ticket_type text, p_dose_number integer,
    p_vaccinated_on date, p_venue_id uuid, p_venue_name text, p_doctor text,
    p_product text, p_lot text, p_volume numeric, p_quality text, p_quality_reasons jsonb,
    p_source text, p_idempotency_key text, p_recorded_by uuid, p_birth_date date,
    p_keep_unmatched boolean, p_fingerprint text)
RETURNS TABLE (vaccination_id uuid, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
    person uuid;
    born date;
    moved date;
    died date;
    quality text := p_quality;
    reasons jsonb := coalesce(p_quality_reasons, '[]'::jsonb);
    new_id uuid;
BEGIN
    IF caller IS NULL OR caller = p_municipality THEN
        RAISE EXCEPTION 'vrs_record_confirmed_dose_elsewhere is for another municipality''s resident'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT vrs_f8_caller_is_venue(p_venue_id, p_recorded_by) THEN
        RAISE EXCEPTION 'another municipality''s resident is recorded by a venue account only'
            USING ERRCODE = 'P0001', HINT = 'venue_only';
    END IF;
    IF NOT coalesce((SELECT accepts_records_from_other_venues FROM current_municipality_setting
                     WHERE municipality_code = p_municipality), false) THEN
        RAISE EXCEPTION 'municipality % does not accept records from other venues', p_municipality
            USING ERRCODE = 'P0001', HINT = 'not_accepting';
    END IF;
    SELECT r.id, r.birth_date, r.moved_out_on, r.deceased_on INTO person, born, moved, died
      FROM ticket t JOIN resident r ON r.id = t.resident
     WHERE t.municipality_code = p_municipality AND t.ticket_number = p_ticket
       AND t.status = 'valid' AND r.status = 'active';
    IF person IS NULL THEN
        RAISE EXCEPTION 'no such ticket' USING ERRCODE = 'P0001', HINT = 'ticket_unknown';
    END IF;
    IF born IS DISTINCT FROM p_birth_date THEN
        IF NOT p_keep_unmatched THEN
            RAISE EXCEPTION 'the stated birth date does not match'
                USING ERRCODE = 'P0001', HINT = 'identity_mismatch';
        END IF;
        person := NULL;  -- a real dose is kept, never on a person it was not confirmed for
        quality := 'must_fix';
        reasons := jsonb_build_array(jsonb_build_object('rule', 'identity_confirmed',
            'effect', 'must_fix', 'key', 'quality.identity_mismatch', 'params', '{}'::jsonb));
    ELSIF died IS NOT NULL AND p_vaccinated_on > died THEN
        quality := CASE WHEN quality = 'ok' THEN 'must_check' ELSE quality END;
        reasons := reasons || jsonb_build_array(jsonb_build_object('rule', 'still_resident',
            'effect', 'must_check', 'key', 'rule.after_death', 'params',
            jsonb_build_object('date', died)));
    ELSIF moved IS NOT NULL AND p_vaccinated_on > moved THEN
        quality := CASE WHEN quality = 'ok' THEN 'must_check' ELSE quality END;
        reasons := reasons || jsonb_build_array(jsonb_build_object('rule', 'still_resident',
            'effect', 'must_check', 'key', 'rule.after_moving_out', 'params',
            jsonb_build_object('date', moved)));
    END IF;
    INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type,
        dose_number, vaccinated_on, vaccinated_by_municipality_code, venue_name, venue_id,
        doctor_name, product, lot_number, volume_ml, status, quality, quality_reasons, source,
        idempotency_key, request_fingerprint, version, recorded_by, recorded_at, updated_at)
    VALUES (gen_random_uuid(), p_municipality, person, p_ticket, p_ticket_type, p_dose_number,
        p_vaccinated_on, caller, p_venue_name, p_venue_id, p_doctor, p_product, p_lot, p_volume,
        'active', quality, reasons, p_source, p_idempotency_key, p_fingerprint, 1, p_recorded_by,
        now(), now())
    ON CONFLICT (municipality_code, idempotency_key) DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT v.id, false FROM vaccination v
            WHERE v.municipality_code = p_municipality AND v.idempotency_key = p_idempotency_key;
        RETURN;
    END IF;
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    VALUES (p_municipality, now(), p_recorded_by, 'venue_operator', 'vaccination.create',
            'vaccination', new_id::text, jsonb_build_object('vaccinated_by', caller,
            'quality', quality));
    RETURN QUERY SELECT new_id, true;
END
$$;

CREATE OR REPLACE FUNCTION vrs_dose_elsewhere_by_key_v2(p_municipality text, p_key text)
RETURNS TABLE (id uuid, request_fingerprint text, dose_number integer, vaccinated_on date)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT v.id, v.request_fingerprint::text, v.dose_number, v.vaccinated_on FROM vaccination v
    WHERE v.municipality_code = p_municipality AND v.idempotency_key = p_key
      AND v.vaccinated_by_municipality_code = nullif(current_setting('app.municipality_code', true), '')
$$;

DO $$
DECLARE fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_f8_caller_is_venue(uuid, uuid)',
        'vrs_confirm_ticket_elsewhere(text, text, date, uuid, uuid)',
        'vrs_record_confirmed_dose_elsewhere(text, text, text, integer, date, uuid, text, text, text, text, numeric, text, jsonb, text, text, uuid, date, boolean, text)',
        'vrs_dose_elsewhere_by_key_v2(text, text)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;

-- The unconfirmed look-up service is closed.
DROP FUNCTION IF EXISTS vrs_identify_ticket_elsewhere(text, text);
DROP FUNCTION IF EXISTS vrs_record_dose_elsewhere(text, text, text, integer, date, uuid,
    text, text, text, text, numeric, text, jsonb, text, text, uuid);
DROP FUNCTION IF EXISTS vrs_dose_elsewhere_by_key(text, text);
"""


def _earlier_functions() -> str:
    """The F8 functions as the earlier migrations created them (the backward step restores them)."""
    from db.security.piccolo_migrations import (
        security_2026_12_01t09_20_00_000000 as crossings,
        security_2026_12_01t10_00_00_000000 as integrity,
    )

    start = crossings.SQL.index("CREATE OR REPLACE FUNCTION vrs_identify_ticket_elsewhere")
    end = crossings.SQL.index("CREATE OR REPLACE FUNCTION vrs_inquire_records")
    end = crossings.SQL.rindex("-----", start, end)
    by_key = integrity.SQL[integrity.SQL.index("CREATE OR REPLACE FUNCTION vrs_dose_elsewhere_by_key") :]
    return (
        crossings.SQL[start:end]
        + by_key
        + """
REVOKE ALL ON FUNCTION vrs_identify_ticket_elsewhere(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vrs_record_dose_elsewhere(text, text, text, integer, date, uuid,
    text, text, text, text, numeric, text, jsonb, text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_identify_ticket_elsewhere(text, text) TO vrs_app;
GRANT EXECUTE ON FUNCTION vrs_record_dose_elsewhere(text, text, text, integer, date, uuid,
    text, text, text, text, numeric, text, jsonb, text, text, uuid) TO vrs_app;
"""
    )


BACKWARD_SQL = r"""
DROP FUNCTION IF EXISTS vrs_dose_elsewhere_by_key_v2(text, text);
DROP FUNCTION IF EXISTS vrs_record_confirmed_dose_elsewhere(text, text, text, integer, date, uuid,
    text, text, text, text, numeric, text, jsonb, text, text, uuid, date, boolean, text);
DROP FUNCTION IF EXISTS vrs_confirm_ticket_elsewhere(text, text, date, uuid, uuid);
DROP FUNCTION IF EXISTS vrs_f8_caller_is_venue(uuid, uuid);
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL + _earlier_functions())

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
