"""A completion notice is accepted only from the kiosk the certificate was issued to.

- ``kiosk_issuance`` (certificate id → kiosk client; no personal data, no
  municipality): written by the kiosk channel in the issuing transaction;
  ``vrs_app`` may read and add, never change or delete.
- ``vrs_record_kiosk_completion`` now answers ``unknown`` for a certificate
  issued to another kiosk (or before this binding existed), so a kiosk cannot
  confirm, or learn of, another kiosk's issuance.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T13:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations: bind kiosk issuances to their kiosk; notices only from it"

SQL = r"""
GRANT SELECT, INSERT ON kiosk_issuance TO vrs_app;
DROP TRIGGER IF EXISTS kiosk_issuance_append_only ON kiosk_issuance;
CREATE TRIGGER kiosk_issuance_append_only BEFORE UPDATE OR DELETE ON kiosk_issuance
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

CREATE OR REPLACE FUNCTION vrs_record_kiosk_completion(
    p_client uuid, p_notice_id text, p_certificate_id text, p_store text, p_terminal text,
    p_completed_at timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    area text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM app_client a
                   WHERE a.id = p_client AND a.kind = 'kiosk' AND a.revoked_at IS NULL) THEN
        RETURN 'not_kiosk';
    END IF;
    SELECT c.municipality_code INTO area
    FROM certificate_issuance c
    JOIN kiosk_issuance k ON k.certificate_id = c.certificate_id AND k.client = p_client
    WHERE c.certificate_id = p_certificate_id AND c.channel = 'kiosk';
    IF area IS NULL THEN
        RETURN 'unknown';
    END IF;
    INSERT INTO kiosk_completion (id, municipality_code, certificate_id, client, notice_id,
                                  store_id, terminal_id, completed_at, received_at)
    VALUES (gen_random_uuid(), area, p_certificate_id, p_client, p_notice_id, p_store,
            p_terminal, p_completed_at, now())
    ON CONFLICT (certificate_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'already';
    END IF;
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    VALUES (area, now(), NULL, 'kiosk', 'certificate.kiosk_completed', 'certificate',
            p_certificate_id, jsonb_build_object('store_id', p_store, 'terminal_id', p_terminal,
                                                 'completed_at', p_completed_at));
    RETURN 'recorded';
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="operations", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
