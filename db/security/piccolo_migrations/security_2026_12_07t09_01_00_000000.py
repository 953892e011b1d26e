"""A forced password change after a reset, and one's own password for every account (issue 14).

- ``vrs_account_for_login`` and ``vrs_principal_for_session`` also answer
  ``must_change_password``: sign-in sends such an account to the password
  page, and every request of its sessions knows it must go there first.
- ``vrs_own_account(session)`` and ``vrs_set_own_password(session, hash)``:
  the account of a live session reads its own row and sets its own password
  (clearing ``must_change_password``). National accounts have no municipality,
  so row-level security hides their row from every tenant transaction: these
  two functions are the way to their own row, and only through a live session
  of that very account (a session id is never sent to a client).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-07T09:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "forced password change; own password through the session"

SQL = r"""
DROP FUNCTION IF EXISTS vrs_account_for_login(text);
CREATE FUNCTION vrs_account_for_login(p_login text)
RETURNS TABLE (id uuid, login text, display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, password_hash text,
               failed_attempts integer, locked_until timestamptz, active boolean,
               must_change_password boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login, a.display_name, a.role, a.municipality_code, a.prefecture_code,
           a.venue_id, a.password_hash, a.failed_attempts, a.locked_until, a.active,
           a.must_change_password
    FROM account a WHERE lower(a.login) = lower(p_login)
$$;

DROP FUNCTION IF EXISTS vrs_principal_for_session(text, integer, integer);
CREATE FUNCTION vrs_principal_for_session(p_token_hash text, p_idle_hours integer,
                                          p_max_hours integer)
RETURNS TABLE (session_id uuid, csrf_token text, account_id uuid, login text,
               display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, must_change_password boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Slide the idle expiry, at most once a minute per session, never past the absolute end.
    UPDATE session s
       SET last_seen_at = now(),
           expires_at = least(now() + make_interval(hours => p_idle_hours),
                              s.created_at + make_interval(hours => p_max_hours))
     WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at < now() - interval '1 minute';
    RETURN QUERY
        SELECT s.id, s.csrf_token::text, a.id, a.login::text, a.display_name::text, a.role::text,
               a.municipality_code::text, a.prefecture_code::text, a.venue_id,
               a.must_change_password
        FROM session s JOIN account a ON a.id = s.account
        WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL
          AND s.expires_at > now()
          AND s.created_at > now() - make_interval(hours => p_max_hours)
          AND a.active;
END
$$;

CREATE FUNCTION vrs_own_account(p_session uuid)
RETURNS TABLE (id uuid, login text, display_name text, municipality_code text,
               password_hash text, must_change_password boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login::text, a.display_name::text, a.municipality_code::text,
           a.password_hash::text, a.must_change_password
    FROM session s JOIN account a ON a.id = s.account
    WHERE s.id = p_session AND s.ended_at IS NULL AND s.expires_at > now() AND a.active
$$;

CREATE FUNCTION vrs_set_own_password(p_session uuid, p_password_hash text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    changed uuid;
BEGIN
    UPDATE account a
       SET password_hash = p_password_hash, failed_attempts = 0, locked_until = NULL,
           must_change_password = false
     WHERE a.active AND a.id = (SELECT s.account FROM session s
                                 WHERE s.id = p_session AND s.ended_at IS NULL
                                   AND s.expires_at > now())
    RETURNING a.id INTO changed;
    RETURN changed;
END
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_account_for_login(text)',
        'vrs_principal_for_session(text, integer, integer)',
        'vrs_own_account(uuid)',
        'vrs_set_own_password(uuid, text)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;
"""

BACKWARD_SQL = r"""
DROP FUNCTION IF EXISTS vrs_own_account(uuid);
DROP FUNCTION IF EXISTS vrs_set_own_password(uuid, text);
DROP FUNCTION IF EXISTS vrs_account_for_login(text);
CREATE FUNCTION vrs_account_for_login(p_login text)
RETURNS TABLE (id uuid, login text, display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, password_hash text,
               failed_attempts integer, locked_until timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login, a.display_name, a.role, a.municipality_code, a.prefecture_code,
           a.venue_id, a.password_hash, a.failed_attempts, a.locked_until, a.active
    FROM account a WHERE lower(a.login) = lower(p_login)
$$;
DROP FUNCTION IF EXISTS vrs_principal_for_session(text, integer, integer);
CREATE FUNCTION vrs_principal_for_session(p_token_hash text, p_idle_hours integer,
                                          p_max_hours integer)
RETURNS TABLE (session_id uuid, csrf_token text, account_id uuid, login text,
               display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE session s
       SET last_seen_at = now(),
           expires_at = least(now() + make_interval(hours => p_idle_hours),
                              s.created_at + make_interval(hours => p_max_hours))
     WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at < now() - interval '1 minute';
    RETURN QUERY
        SELECT s.id, s.csrf_token::text, a.id, a.login::text, a.display_name::text, a.role::text,
               a.municipality_code::text, a.prefecture_code::text, a.venue_id
        FROM session s JOIN account a ON a.id = s.account
        WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL
          AND s.expires_at > now()
          AND s.created_at > now() - make_interval(hours => p_max_hours)
          AND a.active;
END
$$;
REVOKE ALL ON FUNCTION vrs_account_for_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_account_for_login(text) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_principal_for_session(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_principal_for_session(text, integer, integer) TO vrs_app;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
