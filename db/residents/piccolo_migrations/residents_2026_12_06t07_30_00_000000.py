"""``resident_version``: the previous values of a resident, kept at every change.

Like ``vaccination_version`` for doses: a clerk's edit (with its reason) and a
CSV re-import that changes a resident each write the values as they were
before, with who, when, why and from where (``edit``, ``import``). Never
rewritten or deleted: the only change allowed is blanking a snapshot when the
resident is erased (the personal content goes, the fact of a change stays).

Row-level security and the serving role's grants come in the security app's
migration of the same time: on a new database this app's migrations run
before the security app creates ``vrs_protect_tenant_table`` and ``vrs_app``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents: history of a resident's own items"

SQL = r"""
CREATE TABLE resident_version (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    municipality_code varchar(6) NOT NULL,
    resident uuid NOT NULL REFERENCES resident (id),
    version integer NOT NULL,
    snapshot jsonb NOT NULL,
    source varchar(16) NOT NULL,
    import_job uuid,
    changed_by uuid,
    changed_at timestamptz NOT NULL DEFAULT now(),
    reason varchar(512) NOT NULL,
    UNIQUE (resident, version)
);
CREATE INDEX resident_version_municipality ON resident_version (municipality_code);

-- Append-only, except that an erasure may blank the personal content of a snapshot.
CREATE OR REPLACE FUNCTION vrs_resident_version_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.snapshot = '{"erased": true}'::jsonb
       AND (NEW.id, NEW.municipality_code, NEW.resident, NEW.version, NEW.source,
            NEW.import_job, NEW.changed_by, NEW.changed_at, NEW.reason)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.municipality_code, OLD.resident, OLD.version, OLD.source,
            OLD.import_job, OLD.changed_by, OLD.changed_at, OLD.reason) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'resident_version is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER resident_version_append_only BEFORE UPDATE OR DELETE ON resident_version
    FOR EACH ROW EXECUTE FUNCTION vrs_resident_version_guard();
"""

BACKWARDS_SQL = r"""
DROP TABLE IF EXISTS resident_version;
DROP FUNCTION IF EXISTS vrs_resident_version_guard();
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="residents", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARDS_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
