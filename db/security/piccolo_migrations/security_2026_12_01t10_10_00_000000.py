"""Erasure (確認事項 第5条 消去): the one way personal content leaves a record.

History stays append-only for the serving role; the erasure function, run
with the owner's rights, blanks the record and its versions and writes the
fact to the audit log (which itself is never rewritten).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "erasure of a vaccination record's personal content"

SQL = r"""
CREATE OR REPLACE FUNCTION vrs_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF current_user = 'vrs_app' OR TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;  -- the owner, i.e. vrs_erase_vaccination, may blank a snapshot
END
$fn$;
DROP TRIGGER IF EXISTS vaccination_version_append_only ON vaccination_version;
CREATE TRIGGER vaccination_version_append_only BEFORE UPDATE OR DELETE ON vaccination_version
    FOR EACH ROW EXECUTE FUNCTION vrs_history_append_only();

CREATE OR REPLACE FUNCTION vrs_erase_vaccination(p_id uuid, p_reason text, p_actor uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    caller text := nullif(current_setting('app.municipality_code', true), '');
    area text;
BEGIN
    SELECT municipality_code INTO area FROM vaccination WHERE id = p_id FOR UPDATE;
    IF area IS NULL OR caller IS NULL OR area <> caller THEN
        RETURN false;
    END IF;
    IF coalesce(btrim(p_reason), '') = '' THEN
        RAISE EXCEPTION 'an erasure needs its legal reason' USING ERRCODE = 'P0001', HINT = 'reason_required';
    END IF;
    UPDATE vaccination SET status = 'erased', resident = NULL, ticket_number = '', doctor_name = '',
           lot_number = '', venue_name = '', idempotency_key = NULL, quality = 'ok',
           quality_reasons = '[]'::jsonb, version = version + 1, updated_at = now()
     WHERE id = p_id;
    UPDATE vaccination_version SET snapshot = '{"erased": true}'::jsonb WHERE vaccination = p_id;
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action, object_type,
                             object_id, details)
    VALUES (area, now(), p_actor, 'municipal_admin', 'vaccination.erase', 'vaccination', p_id::text,
            jsonb_build_object('reason', p_reason));
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION vrs_erase_vaccination(uuid, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_erase_vaccination(uuid, text, uuid) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
