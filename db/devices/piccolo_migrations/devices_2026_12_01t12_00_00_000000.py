"""Venue devices: the credential that binds a venue tablet to its venue.

- ``venue_device`` (tenant table, forced RLS): one row per registered tablet.
  The admin issues it (an enrolment code, stored as its SHA-256, valid for a
  day, usable once); the tablet enrols (a long-lived device credential, also
  stored as its SHA-256, replaces the code); the admin may revoke it. Rows are
  never deleted (``vrs_app`` has no DELETE): issued, enrolled and revoked are
  recorded states with who and when, and the audit log has each step.
- ``vrs_device_for_credential(hash)``: the request's device before the tenant
  is known (like the session look-up); only live devices, and it notes
  ``last_seen_at`` at most once a minute.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-01T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue devices and their credential look-up"

SQL = r"""
CREATE TABLE venue_device (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    municipality_code varchar(6) NOT NULL REFERENCES municipality (code),
    venue uuid NOT NULL REFERENCES venue (id),
    label varchar(64) NOT NULL,
    enrolment_code_hash varchar(64) UNIQUE,
    enrolment_expires_at timestamptz,
    credential_hash varchar(64) UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid REFERENCES account (id),
    enrolled_at timestamptz,
    enrolled_by uuid REFERENCES account (id),
    revoked_at timestamptz,
    revoked_by uuid REFERENCES account (id),
    last_seen_at timestamptz,
    CHECK (enrolled_at IS NULL OR credential_hash IS NOT NULL)
);
CREATE INDEX venue_device_municipality ON venue_device (municipality_code, created_at);

SELECT vrs_protect_tenant_table('venue_device');
GRANT SELECT, INSERT, UPDATE ON venue_device TO vrs_app;

CREATE OR REPLACE FUNCTION vrs_device_for_credential(p_credential_hash text)
RETURNS TABLE (device_id uuid, municipality_code text, venue uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE venue_device d SET last_seen_at = now()
     WHERE d.credential_hash = p_credential_hash AND d.revoked_at IS NULL
       AND (d.last_seen_at IS NULL OR d.last_seen_at < now() - interval '1 minute');
    RETURN QUERY
        SELECT d.id, d.municipality_code::text, d.venue
        FROM venue_device d
        WHERE d.credential_hash = p_credential_hash AND d.revoked_at IS NULL;
END
$$;

REVOKE ALL ON FUNCTION vrs_device_for_credential(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_device_for_credential(text) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="devices", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    manager.add_raw(run)
    return manager
