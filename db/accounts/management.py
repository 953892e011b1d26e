"""What an admin does to existing accounts (アカウントの管理).

Disable and enable, unlock, reset the password (a one-time temporary password,
shown once), list and revoke bearer tokens, and change one's own password.
Disabling or resetting ends the account's sessions and revokes its tokens.
Every action is audited. All statements run in the caller's tenant
transaction: ``account`` is under row-level security, and ``session`` and
``api_token`` are reached only through the accounts the caller can see.
"""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

import anyio

from db.accounts.passwords import MIN_PASSWORD_LENGTH, contains_password, password_problem
from db.accounts.principal import Principal
from db.accounts.queries import (
    AccountError,
    create_account,
    forget_sign_in_tries,
    hash_password,
    verify_password,
)
from db.accounts.roles import Role
from db.audit.queries import record
from db.engine import current_connection

#: Accounts of the area, with venue, last sign-in and live tokens.
_LIST = """
SELECT a.id, a.login, a.display_name, a.role, a.active,
       coalesce(a.locked_until > now(), false) AS locked, a.failed_attempts,
       v.name AS venue_name, a.created_at,
       (SELECT max(s.created_at) FROM session s WHERE s.account = a.id) AS last_sign_in,
       (SELECT count(*) FROM api_token t WHERE t.account = a.id AND t.revoked_at IS NULL)
         AS live_tokens
FROM account a LEFT JOIN venue v ON v.id = a.venue_id
WHERE $1::text[] IS NULL OR a.role = ANY($1::text[])
ORDER BY a.role, a.login
"""

#: Which accounts an action may touch: ``None`` for any account the caller's area
#: holds (the municipal admin), or only these roles (the national admin: municipal admins).
Roles = frozenset[Role] | None


def _role_list(roles: Roles) -> list[str] | None:
    return None if roles is None else sorted(str(role) for role in roles)


async def accounts_with_state(roles: Roles = None) -> list[dict[str, Any]]:
    """Every account the caller's area holds (of these roles), with its state and last sign-in."""
    rows = await current_connection().fetch(_LIST, _role_list(roles))
    return [dict(row) for row in rows]


async def _visible(account_id: UUID, roles: Roles = None) -> dict[str, Any]:
    row = await current_connection().fetchrow(
        "SELECT id, login, display_name, municipality_code, active FROM account WHERE id = $1"
        " AND ($2::text[] IS NULL OR role = ANY($2::text[]))",
        account_id,
        _role_list(roles),
    )
    if row is None:
        raise AccountError("account_admin.not_found")
    return dict(row)


async def _end_access(account_id: UUID) -> tuple[int, int]:
    """End the account's sessions and revoke its tokens; returns how many of each."""
    connection = current_connection()
    sessions = await connection.fetch(
        "UPDATE session SET ended_at = now() WHERE ended_at IS NULL"
        " AND account = (SELECT id FROM account WHERE id = $1) RETURNING id",
        account_id,
    )
    tokens = await connection.fetch(
        "UPDATE api_token SET revoked_at = now() WHERE revoked_at IS NULL"
        " AND account = (SELECT id FROM account WHERE id = $1) RETURNING id",
        account_id,
    )
    return len(sessions), len(tokens)


async def _audit(action: str, actor: Principal, account: dict[str, Any], **details: Any) -> None:
    await record(
        action,
        actor=actor,
        municipality_code=account["municipality_code"],
        object_type="account",
        object_id=str(account["id"]),
        details={"login": account["login"], **details},
    )


async def set_active(
    account_id: UUID, active: bool, *, actor: Principal, roles: Roles = None
) -> None:
    """Disable (ending its sessions and tokens) or enable an account; never one's own."""
    if account_id == actor.account_id:
        raise AccountError("account_admin.not_yourself")
    account = await _visible(account_id, roles)
    await current_connection().execute(
        "UPDATE account SET active = $2 WHERE id = $1", account_id, active
    )
    details: dict[str, Any] = {}
    if not active:
        sessions, tokens = await _end_access(account_id)
        details = {"sessions_ended": sessions, "tokens_revoked": tokens}
    await _audit("account.enable" if active else "account.disable", actor, account, **details)


async def unlock(account_id: UUID, *, actor: Principal, roles: Roles = None) -> None:
    """Lift a lockout: the account's own lock and failure count, and the login's paused
    addresses (tries counted per address), so its owner signs in at once."""
    account = await _visible(account_id, roles)
    await current_connection().execute(
        "UPDATE account SET failed_attempts = 0, locked_until = NULL WHERE id = $1", account_id
    )
    paused = await forget_sign_in_tries(account["login"])
    await _audit("account.unlock", actor, account, addresses_unpaused=paused)


def temporary_password() -> str:
    """A one-time password, easy to read out (no 0/O, 1/l/I)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


async def reset_password(account_id: UUID, *, actor: Principal, roles: Roles = None) -> str:
    """Give the account a new temporary password (returned once); its sessions and tokens end.

    The account must change it at its next sign-in (``must_change_password``).
    """
    if account_id == actor.account_id:
        raise AccountError("account_admin.not_yourself")
    account = await _visible(account_id, roles)
    password = temporary_password()
    hashed = await anyio.to_thread.run_sync(hash_password, password)
    await current_connection().execute(
        "UPDATE account SET password_hash = $2, failed_attempts = 0, locked_until = NULL,"
        " must_change_password = true WHERE id = $1",
        account_id,
        hashed,
    )
    sessions, tokens = await _end_access(account_id)
    # The temporary password works at once, also where the forgotten one was mistyped.
    paused = await forget_sign_in_tries(account["login"])
    await _audit("account.reset_password", actor, account, sessions_ended=sessions,
                 tokens_revoked=tokens, addresses_unpaused=paused)  # fmt: skip
    return password


async def change_own_password(actor: Principal, current: str, new: str, repeated: str) -> None:
    """Change the signed-in account's password after checking the current one.

    Through the account's live session (``vrs_own_account``, ``vrs_set_own_password``):
    national accounts have no municipality, so no tenant transaction sees their row.
    Clears a reset's forced change; the account's other sessions end.
    """
    if actor.session_id is None:
        raise AccountError("account_admin.own_needs_session")
    connection = current_connection()
    row = await connection.fetchrow("SELECT * FROM vrs_own_account($1)", actor.session_id)
    if row is None:
        raise AccountError("account_admin.own_not_here")
    if not await verify_password(row["password_hash"], current):
        raise AccountError("account_admin.current_wrong")
    if new != repeated:
        raise AccountError("account_admin.repeat_differs")
    if new == current:
        raise AccountError("account_admin.same_password")
    if contains_password(new, current):
        raise AccountError("account_admin.contains_current")
    problem = password_problem(new, row["login"], row["display_name"])
    if problem is not None:
        raise AccountError(problem, length=MIN_PASSWORD_LENGTH)
    hashed = await anyio.to_thread.run_sync(hash_password, new)
    if await connection.fetchval("SELECT vrs_set_own_password($1, $2)", actor.session_id,
                                 hashed) is None:  # fmt: skip
        raise AccountError("account_admin.own_not_here")
    # Other sessions of the account end; the one in use goes on.
    await connection.execute(
        "UPDATE session SET ended_at = now() WHERE ended_at IS NULL AND account = $1"
        " AND id IS DISTINCT FROM $2",
        actor.account_id,
        actor.session_id,
    )
    await _audit("account.change_own_password", actor, dict(row) | {"id": actor.account_id},
                 was_temporary=row["must_change_password"])  # fmt: skip


async def tokens_of(account_id: UUID) -> list[dict[str, Any]]:
    """An account's bearer tokens (labels and dates only), live first."""
    await _visible(account_id)
    rows = await current_connection().fetch(
        "SELECT id, label, created_at, revoked_at FROM api_token"
        " WHERE account = (SELECT id FROM account WHERE id = $1)"
        " ORDER BY revoked_at IS NOT NULL, created_at DESC",
        account_id,
    )
    return [dict(row) for row in rows]


async def revoke_token(account_id: UUID, token_id: UUID, *, actor: Principal) -> None:
    """Revoke one live token of an account the caller can see."""
    account = await _visible(account_id)
    label = await current_connection().fetchval(
        "UPDATE api_token SET revoked_at = now() WHERE id = $2 AND revoked_at IS NULL"
        " AND account = (SELECT id FROM account WHERE id = $1) RETURNING label",
        account_id,
        token_id,
    )
    if label is None:
        raise AccountError("account_admin.token_not_found")
    await _audit("account.revoke_token", actor, account, label=label)


async def create_with_temporary_password(
    *, login: str, display_name: str, role: Role, municipality_code: str, actor: Principal
) -> tuple[UUID, str]:
    """A new account of the current area with a one-time password (returned once), audited.

    Its owner must set a password of their own at the first sign-in: whoever made
    the account never knows the password it ends up with. The national admin makes
    a municipality's admins this way.
    """
    password = temporary_password()
    account_id = await create_account(
        login=login,
        display_name=display_name,
        password=password,
        role=role,
        municipality_code=municipality_code,
        created_by=actor.account_id,
        must_change_password=True,
    )
    await record(
        "account.create",
        actor=actor,
        municipality_code=municipality_code,
        object_type="account",
        object_id=str(account_id),
        details={"login": login.strip(), "role": str(role), "temporary_password": True},
    )
    return account_id, password
