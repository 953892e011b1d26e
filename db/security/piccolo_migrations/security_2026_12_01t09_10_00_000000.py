"""Tenant isolation: the serving role, grants, row-level security, append-only audit.

Raw SQL, because Piccolo does not model roles or policies.
- ``vrs_app`` is the role every serving connection runs as: NOLOGIN, not a
  superuser, no BYPASSRLS. Roles are cluster-wide and parallel test databases
  race to create it, so creation tolerates "already exists".
- Every table with ``municipality_code`` gets RLS enabled and FORCE'd with a
  policy comparing it, as text, with the transaction's ``app.municipality_code``
  setting. ``nullif(..., '')`` because a pooled connection that once held the
  setting reads '' rather than NULL; no cast, which would turn '' into an error.
- ``vrs_protect_tenant_table(table)`` does this for one table; later migrations
  call it for the tables they add.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T09:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "serving role, grants, row-level security, append-only audit"

SQL = r"""
DO $$
BEGIN
    CREATE ROLE vrs_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this cluster created it first
END
$$;

DO $$
BEGIN
    -- The owner must be able to switch to vrs_app (superusers always can).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT vrs_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_protect_tenant_table(target regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', target);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s '
        'USING (municipality_code::text = nullif(current_setting(''app.municipality_code'', true), '''')) '
        'WITH CHECK (municipality_code::text = nullif(current_setting(''app.municipality_code'', true), ''''))',
        target);
END
$fn$;

-- Tenant tables: read and write within the tenant; nothing is ever deleted.
SELECT vrs_protect_tenant_table(t::regclass) FROM unnest(ARRAY[
    'municipality_setting', 'venue', 'account', 'resident', 'ticket',
    'vaccination', 'vaccination_version', 'certificate_issuance'
]) AS t;
GRANT SELECT, INSERT, UPDATE ON
    municipality_setting, venue, account, resident, ticket,
    vaccination, vaccination_version, certificate_issuance
TO vrs_app;
REVOKE DELETE, TRUNCATE ON
    municipality_setting, venue, account, resident, ticket,
    vaccination, vaccination_version, certificate_issuance
FROM vrs_app;

-- Settings rows are history: never rewritten.
REVOKE UPDATE ON municipality_setting FROM vrs_app;
REVOKE UPDATE ON vaccination_version FROM vrs_app;

-- Audit log: insert only; national events (no municipality) may be written
-- without a tenant, but tenant events are only readable inside their tenant.
ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_event FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON audit_event;
CREATE POLICY tenant_isolation ON audit_event
    USING (municipality_code::text = nullif(current_setting('app.municipality_code', true), ''))
    WITH CHECK (municipality_code::text IS NOT DISTINCT FROM
                nullif(current_setting('app.municipality_code', true), ''));
GRANT SELECT, INSERT ON audit_event TO vrs_app;
GRANT USAGE ON SEQUENCE audit_event_id_seq TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();
DROP TRIGGER IF EXISTS vaccination_version_append_only ON vaccination_version;
CREATE TRIGGER vaccination_version_append_only BEFORE UPDATE OR DELETE ON vaccination_version
    FOR EACH ROW EXECUTE FUNCTION vrs_refuse_change();

-- Reference data, the same for every tenant (Citus reference tables later).
GRANT SELECT ON prefecture, municipality, maker, vaccine_product, product_name,
    vaccine_lot, vaccine_rule TO vrs_app;
-- The national admin edits master data and municipalities through the app.
GRANT INSERT, UPDATE ON municipality, maker, vaccine_product, product_name,
    vaccine_lot, vaccine_rule TO vrs_app;
GRANT SELECT, INSERT ON master_data_change TO vrs_app;

-- Sessions and tokens hold only hashes and no personal data; lookups that
-- need the account go through the functions of the next migration.
GRANT SELECT, INSERT, UPDATE ON session, api_token TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
