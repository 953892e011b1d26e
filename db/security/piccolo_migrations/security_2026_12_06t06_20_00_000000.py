"""Sign-in that holds under races, credentials that expire, a shared rate-limit store.

- ``rate_limit_entry``: an UNLOGGED table of counters shared by every server
  process (Litestar's rate-limit middleware and the sign-in throttle count
  here with one atomic upsert; a per-process memory store would double every
  limit with ``--workers 2``). Counters are disposable, hence unlogged.
- ``vrs_reserve_sign_in``: an attempt is counted *before* the password is
  checked, in one UPDATE, so a burst of parallel guesses cannot all pass a
  "not yet locked" check; past the threshold the account is locked.
- ``vrs_account_for_login`` finds a login case-insensitively, and a unique
  index on ``lower(login)`` refuses ``Chiyoda-Clerk`` beside ``chiyoda-clerk``.
- Sessions end ``p_max_hours`` after sign-in however active; bearer tokens
  ``p_max_days`` after they were made.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T06:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "atomic sign-in attempts, credential lifetimes, shared rate-limit store"

SQL = r"""
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_entry (
    key text PRIMARY KEY,
    value bytea,
    hits integer NOT NULL DEFAULT 0,
    expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS rate_limit_entry_expires ON rate_limit_entry (expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit_entry TO vrs_app;

CREATE UNIQUE INDEX IF NOT EXISTS account_login_lower_unique ON account (lower(login));

CREATE OR REPLACE FUNCTION vrs_account_for_login(p_login text)
RETURNS TABLE (id uuid, login text, display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, password_hash text,
               failed_attempts integer, locked_until timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login, a.display_name, a.role, a.municipality_code, a.prefecture_code,
           a.venue_id, a.password_hash, a.failed_attempts, a.locked_until, a.active
    FROM account a WHERE lower(a.login) = lower(p_login)
$$;

-- Count one attempt before the password is checked; false = locked, do not check it.
CREATE OR REPLACE FUNCTION vrs_reserve_sign_in(p_account uuid, p_threshold integer,
                                               p_lock_minutes integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    until timestamptz;
BEGIN
    UPDATE account a
       SET failed_attempts = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now()
                                  THEN 1 ELSE a.failed_attempts + 1 END,
           locked_until = CASE
               WHEN a.locked_until > now() THEN a.locked_until
               WHEN (CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now()
                          THEN 1 ELSE a.failed_attempts + 1 END) > p_threshold
                   THEN now() + make_interval(mins => p_lock_minutes)
               ELSE NULL END
     WHERE a.id = p_account
    RETURNING a.locked_until INTO until;
    RETURN until IS NULL;
END
$$;

DROP FUNCTION IF EXISTS vrs_principal_for_session(text, integer);
CREATE OR REPLACE FUNCTION vrs_principal_for_session(p_token_hash text, p_idle_hours integer,
                                                     p_max_hours integer)
RETURNS TABLE (session_id uuid, csrf_token text, account_id uuid, login text,
               display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid)
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
               a.municipality_code::text, a.prefecture_code::text, a.venue_id
        FROM session s JOIN account a ON a.id = s.account
        WHERE s.token_hash = p_token_hash AND s.ended_at IS NULL
          AND s.expires_at > now()
          AND s.created_at > now() - make_interval(hours => p_max_hours)
          AND a.active;
END
$$;

DROP FUNCTION IF EXISTS vrs_principal_for_token(text);
CREATE OR REPLACE FUNCTION vrs_principal_for_token(p_token_hash text, p_max_days integer)
RETURNS TABLE (token_id uuid, account_id uuid, login text, display_name text, role text,
               municipality_code text, prefecture_code text, venue_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.id, a.id, a.login, a.display_name, a.role, a.municipality_code,
           a.prefecture_code, a.venue_id
    FROM api_token t JOIN account a ON a.id = t.account
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND a.active
      AND t.created_at > now() - make_interval(days => p_max_days)
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'vrs_reserve_sign_in(uuid, integer, integer)',
        'vrs_principal_for_session(text, integer, integer)',
        'vrs_principal_for_token(text, integer)'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO vrs_app', fn);
    END LOOP;
END
$$;
"""

BACKWARD_SQL = r"""
DROP FUNCTION IF EXISTS vrs_reserve_sign_in(uuid, integer, integer);
DROP FUNCTION IF EXISTS vrs_principal_for_session(text, integer, integer);
DROP FUNCTION IF EXISTS vrs_principal_for_token(text, integer);
DROP INDEX IF EXISTS account_login_lower_unique;
DROP TABLE IF EXISTS rate_limit_entry;
CREATE OR REPLACE FUNCTION vrs_account_for_login(p_login text)
RETURNS TABLE (id uuid, login text, display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid, password_hash text,
               failed_attempts integer, locked_until timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.id, a.login, a.display_name, a.role, a.municipality_code, a.prefecture_code,
           a.venue_id, a.password_hash, a.failed_attempts, a.locked_until, a.active
    FROM account a WHERE a.login = p_login
$$;
CREATE OR REPLACE FUNCTION vrs_principal_for_session(p_token_hash text, p_idle_hours integer)
RETURNS TABLE (session_id uuid, csrf_token text, account_id uuid, login text,
               display_name text, role text, municipality_code text,
               prefecture_code text, venue_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
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
REVOKE ALL ON FUNCTION vrs_principal_for_session(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_principal_for_session(text, integer) TO vrs_app;
REVOKE ALL ON FUNCTION vrs_principal_for_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vrs_principal_for_token(text) TO vrs_app;
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
