"""A kiosk sale that failed (printer failure, refund) voids its certificates.

Kiosk terms 第7条6 asks for the result of every transaction: beside the
completion notices (``kiosk_completion``: printed) the kiosk now reports a
failure (``kiosk_failure``: not delivered, with the reason). Recording one
revokes the certificate ("未交付") in its issuing municipality's area, so a
certificate the resident never received and was refunded for is not valid.

- ``kiosk_failure``: a tenant table (RLS), append-only, written only through
  ``vrs_record_kiosk_failure``; no personal data (certificate id, kiosk, time).
- ``vrs_record_kiosk_failure(client, notice, certificate, store, terminal, at,
  reason)``: only for a certificate issued to that kiosk; answers ``recorded``,
  ``already`` (this failure was recorded before), ``completed`` (a completion
  notice said it was printed: nothing voided) or ``unknown``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations: kiosk failure results void their certificates"

SQL = r"""
CREATE TABLE kiosk_failure (
    id uuid PRIMARY KEY,
    municipality_code varchar(6) NOT NULL,
    certificate_id varchar(64) NOT NULL UNIQUE,
    client uuid NOT NULL,
    notice_id varchar(64) NOT NULL,
    store_id varchar(64) NOT NULL,
    terminal_id varchar(64) NOT NULL,
    reason varchar(64) NOT NULL,
    failed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX kiosk_failure_municipality ON kiosk_failure (municipality_code);
SELECT vrs_protect_tenant_table('kiosk_failure'::regclass);
GRANT SELECT ON kiosk_failure TO vrs_app;
CREATE TRIGGER kiosk_failure_append_only BEFORE UPDATE OR DELETE ON kiosk_failure
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

CREATE OR REPLACE FUNCTION vrs_record_kiosk_failure(
    p_client uuid, p_notice_id text, p_certificate_id text, p_store text, p_terminal text,
    p_failed_at timestamptz, p_reason text)
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
    IF EXISTS (SELECT 1 FROM kiosk_completion WHERE certificate_id = p_certificate_id) THEN
        RETURN 'completed';
    END IF;
    INSERT INTO kiosk_failure (id, municipality_code, certificate_id, client, notice_id,
                               store_id, terminal_id, reason, failed_at, received_at)
    VALUES (gen_random_uuid(), area, p_certificate_id, p_client, p_notice_id, p_store,
            p_terminal, p_reason, p_failed_at, now())
    ON CONFLICT (certificate_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'already';
    END IF;
    UPDATE certificate_issuance
       SET revoked_at = now(), revocation_reason = '未交付（キオスク: ' || p_reason || '）'
     WHERE municipality_code = area AND certificate_id = p_certificate_id AND revoked_at IS NULL;
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    VALUES (area, now(), NULL, 'kiosk', 'certificate.kiosk_failed', 'certificate',
            p_certificate_id, jsonb_build_object('store_id', p_store, 'terminal_id', p_terminal,
                                                 'failed_at', p_failed_at, 'reason', p_reason));
    RETURN 'recorded';
END
$$;
REVOKE ALL ON FUNCTION vrs_record_kiosk_failure(uuid, text, text, text, text, timestamptz, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_record_kiosk_failure(uuid, text, text, text, text, timestamptz, text)
    TO vrs_app;
"""

BACKWARDS_SQL = r"""
DROP FUNCTION IF EXISTS vrs_record_kiosk_failure(uuid, text, text, text, text, timestamptz, text);
DROP TABLE IF EXISTS kiosk_failure;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="operations", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
