"""The sanctioned crossings: narrow SECURITY DEFINER functions, one per need.

Nothing else crosses a tenant boundary. Each function is owned by the
migration role, pins ``search_path`` and is executable by ``vrs_app`` only.
- sign-in and session/token look-ups, before the tenant is known;
- F8: identify a ticket of another municipality and write a dose into its area;
- F7: answer an inquiry for a My Number with exactly the seed's fields;
- F10/F11: a person's records in every municipality, for certificates;
- F6: aggregate counts for prefecture and national viewers, no personal data.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sanctioned crossings (SECURITY DEFINER functions)"

SQL = r"""
-- The newest settings row of each municipality (settings are append-only history).
CREATE OR REPLACE VIEW current_municipality_setting WITH (security_invoker = true) AS
    SELECT DISTINCT ON (municipality_code) *
    FROM municipality_setting
    ORDER BY municipality_code, revision DESC;
GRANT SELECT ON current_municipality_setting TO vrs_app;

---------------------------------------------------------------------------
-- Sign-in, sessions, tokens
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION vrs_account_for_login(p_login text)
RETURNS TABLE (id uuid, login text, display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, password_hash text,
               failed_attempts integer, locked_until timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login, a.display_name, a.role, a.municipality_code, a.prefecture_code,
           a.venue_id, a.password_hash, a.failed_attempts, a.locked_until, a.active
    FROM account a WHERE a.login = p_login
$$;

CREATE OR REPLACE FUNCTION vrs_record_sign_in(p_account uuid, p_success boolean,
                                              p_threshold integer, p_lock_minutes integer)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    result timestamptz;
BEGIN
    IF p_success THEN
        UPDATE account SET failed_attempts = 0, locked_until = NULL WHERE id = p_account;
        RETURN NULL;
    END IF;
    UPDATE account
       SET failed_attempts = failed_attempts + 1,
           locked_until = CASE WHEN failed_attempts + 1 >= p_threshold
                               THEN now() + make_interval(mins => p_lock_minutes)
                               ELSE locked_until END
     WHERE id = p_account
    RETURNING locked_until INTO result;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION vrs_principal_for_session(p_token_hash text, p_idle_hours integer)
RETURNS TABLE (session_id uuid, csrf_token text, account_id uuid, login text,
               display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Slide the idle expiry, at most once a minute per session.
    UPDATE session s
       SET last_seen_at = now(), expires_at = now() + make_interval(hours => p_idle_hours)
     WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at < now() - interval '1 minute';
    RETURN QUERY
        SELECT s.id, s.csrf_token::text, a.id, a.login::text, a.display_name::text, a.role::text,
               a.municipality_code::text, a.prefecture_code::text, a.venue_id
        FROM session s JOIN account a ON a.id = s.account
        WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL
          AND s.expires_at > now() AND a.active;
END
$$;

CREATE OR REPLACE FUNCTION vrs_principal_for_token(p_token_hash text)
RETURNS TABLE (token_id uuid, account_id uuid, login text, display_name text, role text,
               municipality_code text, prefecture_code text, venue_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.id, a.id, a.login, a.display_name, a.role, a.municipality_code,
           a.prefecture_code, a.venue_id
    FROM api_token t JOIN account a ON a.id = t.account
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND a.active
$$;

---------------------------------------------------------------------------
-- F8 住所地外接種: a venue of the current municipality vaccinates a resident
-- of p_municipality. Identity confirmation sees name, kana, birth date only.
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION vrs_identify_ticket_elsewhere(p_municipality text, p_ticket text)
RETURNS TABLE (resident_id uuid, name text, name_kana text, birth_date date,
               previous_doses jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
BEGIN
    IF caller IS NULL OR caller = p_municipality THEN
        RAISE EXCEPTION 'vrs_identify_ticket_elsewhere is for another municipality''s ticket'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT coalesce((SELECT accepts_records_from_other_venues FROM current_municipality_setting
                     WHERE municipality_code = p_municipality), false) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT r.id, r.name::text, r.name_kana::text, r.birth_date,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'dose_number', v.dose_number, 'vaccinated_on', v.vaccinated_on,
                            'product', v.product) ORDER BY v.vaccinated_on)
                         FROM vaccination v
                         WHERE v.municipality_code = p_municipality AND v.resident = r.id
                           AND v.status = 'active'), '[]'::jsonb)
        FROM ticket t JOIN resident r ON r.id = t.resident
        WHERE t.municipality_code = p_municipality AND t.ticket_number = p_ticket
          AND t.status = 'valid' AND r.status = 'active';
END
$$;

CREATE OR REPLACE FUNCTION vrs_record_dose_elsewhere(
    p_municipality text, p_ticket text, p_ticket_type text, p_dose_number integer,
    p_vaccinated_on date, p_venue_id uuid, p_venue_name text, p_doctor text,
    p_product text, p_lot text, p_volume numeric, p_quality text, p_quality_reasons jsonb,
    p_source text, p_idempotency_key text, p_recorded_by uuid)
RETURNS TABLE (vaccination_id uuid, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
    person uuid;
    new_id uuid;
BEGIN
    IF caller IS NULL OR caller = p_municipality THEN
        RAISE EXCEPTION 'vrs_record_dose_elsewhere is for another municipality''s resident'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT coalesce((SELECT accepts_records_from_other_venues FROM current_municipality_setting
                     WHERE municipality_code = p_municipality), false) THEN
        RAISE EXCEPTION 'municipality % does not accept records from other venues', p_municipality
            USING ERRCODE = 'P0001', HINT = 'not_accepting';
    END IF;
    SELECT t.resident INTO person FROM ticket t
     WHERE t.municipality_code = p_municipality AND t.ticket_number = p_ticket
       AND t.status = 'valid';
    INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type,
        dose_number, vaccinated_on, vaccinated_by_municipality_code, venue_name, venue_id,
        doctor_name, product, lot_number, volume_ml, status, quality, quality_reasons, source,
        idempotency_key, version, recorded_by, recorded_at, updated_at)
    VALUES (gen_random_uuid(), p_municipality, person, p_ticket, p_ticket_type, p_dose_number,
        p_vaccinated_on, caller, p_venue_name, p_venue_id, p_doctor, p_product, p_lot, p_volume,
        'active', p_quality, p_quality_reasons, p_source, p_idempotency_key, 1, p_recorded_by,
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
            'vaccination', new_id::text, jsonb_build_object('vaccinated_by', caller));
    RETURN QUERY SELECT new_id, true;
END
$$;

---------------------------------------------------------------------------
-- F7 接種記録の照会: exactly the seed's fields (外部への資料提供), from
-- municipalities that agreed to provide them; the caller records consent.
---------------------------------------------------------------------------
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
    IF coalesce(btrim(p_consent_basis), '') = '' THEN
        RAISE EXCEPTION 'an inquiry needs the resident''s recorded consent'
            USING ERRCODE = 'P0001', HINT = 'consent_required';
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
                jsonb_build_object('inquiring_municipality', caller, 'consent_basis', p_consent_basis));
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

---------------------------------------------------------------------------
-- F10/F11: a person's records in every municipality, for certificates
-- (app and kiosk channels, after the card proof has been verified).
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION vrs_records_for_certificate(p_my_number_hmac text)
RETURNS TABLE (municipality_code text, resident_id uuid, name text, name_kana text,
               former_name text, birth_date date, sex text, kiosk_issuance boolean,
               kiosk_hours_start time, kiosk_hours_end time, doses jsonb, passport jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.municipality_code, r.id, r.name, r.name_kana, r.former_name, r.birth_date, r.sex,
           coalesce(s.kiosk_issuance, false), s.kiosk_hours_start, s.kiosk_hours_end,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'vaccination_id', v.id, 'dose_number', v.dose_number,
                        'vaccinated_on', v.vaccinated_on, 'product', v.product,
                        'lot_number', v.lot_number,
                        'vaccinated_by_municipality_code', v.vaccinated_by_municipality_code,
                        'venue_name', v.venue_name) ORDER BY v.vaccinated_on, v.dose_number)
                     FROM vaccination v
                     WHERE v.municipality_code = r.municipality_code AND v.resident = r.id
                       AND v.status = 'active'), '[]'::jsonb),
           (SELECT jsonb_build_object('passport_number', c.passport_number,
                                      'nationality', c.nationality, 'roman_name', c.roman_name)
              FROM certificate_issuance c
             WHERE c.municipality_code = r.municipality_code AND c.resident = r.id
               AND c.passport_number <> ''
             ORDER BY c.issued_at DESC LIMIT 1)
    FROM resident r
    LEFT JOIN current_municipality_setting s ON s.municipality_code = r.municipality_code
    WHERE r.my_number_hmac = p_my_number_hmac AND r.status = 'active'
    ORDER BY r.municipality_code
$$;

---------------------------------------------------------------------------
-- F6: counts for prefecture and national viewers; no personal field leaves.
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION vrs_statistics(p_prefecture text)
RETURNS TABLE (municipality_code text, vaccinated_on date, dose_number integer, doses bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT v.municipality_code, v.vaccinated_on, v.dose_number, count(*)
    FROM vaccination v
    JOIN current_municipality_setting s ON s.municipality_code = v.municipality_code
    WHERE v.status = 'active' AND s.provides_statistics
      AND (p_prefecture IS NULL OR left(v.municipality_code, 2) = p_prefecture)
    GROUP BY 1, 2, 3
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_account_for_login(text)',
        'vrs_record_sign_in(uuid, boolean, integer, integer)',
        'vrs_principal_for_session(text, integer)',
        'vrs_principal_for_token(text)',
        'vrs_identify_ticket_elsewhere(text, text)',
        'vrs_record_dose_elsewhere(text, text, text, integer, date, uuid, text, text, text, text, numeric, text, jsonb, text, text, uuid)',
        'vrs_inquire_records(text, uuid, text)',
        'vrs_records_for_certificate(text)',
        'vrs_statistics(text)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
