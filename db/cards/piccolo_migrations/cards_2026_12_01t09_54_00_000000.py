"""Grants for the card tables and the crossings certificates need (F10/F11).

- ``card_session``, ``card_link``, ``app_client`` carry no ``municipality_code``
  (a challenge, a certificate fingerprint, a machine credential belong to no
  area): plain grants, no RLS. ``vrs_app`` never deletes.
- ``vrs_revoked_certificates()``: the public revocation lists (SHC CRL, VDS-NC
  UVCI list) — certificate ids, keys and dates only, no personal field.
- ``vrs_certificate_contact(code)``: the contact a municipality prints on its
  certificates (第19条), public by nature.
- ``vrs_record_card_issuance(...)``: the app / kiosk channel records one
  issuance in the issuing municipality's area, only for a resident of that
  municipality whose My Number HMAC is the card holder's, and logs it there.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:54:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "card tables' grants; certificate crossings"

SQL = r"""
GRANT SELECT, INSERT, UPDATE ON card_session TO vrs_app;
GRANT SELECT ON card_link, app_client TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_revoked_certificates()
RETURNS TABLE (certificate_id text, shc_kid text, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT c.certificate_id::text, c.shc_kid::text, c.revoked_at
    FROM certificate_issuance c
    WHERE c.revoked_at IS NOT NULL
    ORDER BY c.revoked_at, c.certificate_id
$$;

CREATE OR REPLACE FUNCTION vrs_certificate_contact(p_municipality text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT certificate_contact FROM current_municipality_setting
                      WHERE municipality_code = p_municipality), '')
$$;

CREATE OR REPLACE FUNCTION vrs_record_card_issuance(
    p_my_number_hmac text, p_municipality text, p_resident uuid, p_channel text,
    p_certificate_id text, p_kind text, p_language text, p_passport_number text,
    p_nationality text, p_roman_name text, p_source_data jsonb, p_shc_kid text,
    p_shc_jws text, p_vdsnc_json text, p_pdf bytea)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    new_id uuid;
BEGIN
    IF p_channel NOT IN ('app', 'kiosk') THEN
        RAISE EXCEPTION 'vrs_record_card_issuance is for the app and kiosk channels';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM resident r
                   WHERE r.id = p_resident AND r.municipality_code = p_municipality
                     AND r.my_number_hmac = p_my_number_hmac AND r.status = 'active') THEN
        RETURN NULL;
    END IF;
    new_id := gen_random_uuid();
    INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id, kind,
        channel, language, passport_number, nationality, roman_name, source_data, shc_rid,
        issued_by, issued_at, revoked_at, revocation_reason, shc_kid, shc_jws, vdsnc_json, pdf,
        idempotency_key)
    VALUES (new_id, p_municipality, p_resident, p_certificate_id, p_kind, p_channel, p_language,
        p_passport_number, p_nationality, p_roman_name, p_source_data, p_certificate_id, NULL,
        now(), NULL, '', p_shc_kid, p_shc_jws, p_vdsnc_json, p_pdf, NULL);
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    VALUES (p_municipality, now(), NULL, p_channel, 'certificate.issue', 'certificate',
            p_certificate_id, jsonb_build_object('kind', p_kind, 'channel', p_channel,
                                                 'resident', p_resident));
    RETURN new_id;
END
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_revoked_certificates()',
        'vrs_certificate_contact(text)',
        'vrs_record_card_issuance(text, text, uuid, text, text, text, text, text, text, text, jsonb, text, text, text, bytea)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
