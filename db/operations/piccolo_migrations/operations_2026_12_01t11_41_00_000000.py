"""Grants, RLS and the crossing of the operations tables.

- ``suspension_event``, ``kiosk_fault``: append-only (``vrs_refuse_change``); ``vrs_app``
  may read and add, never change or delete.
- ``kiosk_status``: one row per kiosk client, updated by each heartbeat.
- ``kiosk_completion``: a tenant table (RLS); the kiosk, which belongs to no
  municipality, records a notice only through ``vrs_record_kiosk_completion``,
  which finds the kiosk issuance, records the notice in its municipality's area
  once (a second notice for the same issuance changes nothing) and logs it there.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T11:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations: grants, RLS, append-only, the completion-notice crossing"

SQL = r"""
GRANT SELECT, INSERT ON suspension_event, kiosk_fault TO vrs_app;
GRANT SELECT, INSERT, UPDATE ON kiosk_status TO vrs_app;
CREATE UNIQUE INDEX IF NOT EXISTS kiosk_fault_client_fault ON kiosk_fault (client, fault_id);
CREATE INDEX IF NOT EXISTS suspension_event_function_time
    ON suspension_event (function, occurred_at DESC);

DROP TRIGGER IF EXISTS suspension_event_append_only ON suspension_event;
CREATE TRIGGER suspension_event_append_only BEFORE UPDATE OR DELETE ON suspension_event
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();
DROP TRIGGER IF EXISTS kiosk_fault_append_only ON kiosk_fault;
CREATE TRIGGER kiosk_fault_append_only BEFORE UPDATE OR DELETE ON kiosk_fault
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

SELECT vrs_protect_tenant_table('kiosk_completion'::regclass);
GRANT SELECT ON kiosk_completion TO vrs_app;
DROP TRIGGER IF EXISTS kiosk_completion_append_only ON kiosk_completion;
CREATE TRIGGER kiosk_completion_append_only BEFORE UPDATE OR DELETE ON kiosk_completion
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
    SELECT c.municipality_code INTO area FROM certificate_issuance c
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

REVOKE ALL ON FUNCTION vrs_record_kiosk_completion(uuid, text, text, text, text, timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_record_kiosk_completion(uuid, text, text, text, text, timestamptz)
    TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="operations", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
