"""Sign-in, sessions, bearer tokens and account management."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db.accounts.passwords import MIN_PASSWORD_LENGTH, password_problem
from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.accounts.tables import Account
from db.batches import SharedStatement, SharedStatementRefused
from db.engine import current_connection, tenantless_statement
from db.security.rate_limits import forget, hit

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Verified against when the login is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

__all__ = ["MIN_PASSWORD_LENGTH"]

#: ``account.display_name`` holds this many characters.
DISPLAY_NAME_MAX = 128


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    """What is stored of a session or bearer token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class SignInRefusal(StrEnum):
    """Why a sign-in failed: kept for the server's own use; the user sees one answer."""

    WRONG_CREDENTIALS = "auth.wrong_credentials"
    LOCKED = "auth.locked"
    INACTIVE = "auth.inactive"
    THROTTLED = "auth.throttled"


@dataclass(frozen=True)
class SignInPolicy:
    """When password tries stop being checked.

    ``source_threshold`` tries for one login from one address (then that
    address waits ``lock_minutes`` for that login: an attacker cannot lock the
    account for its owner elsewhere); ``account_threshold`` wrong passwords in
    a row from anywhere lock the account itself for ``lock_minutes``.
    """

    source_threshold: int = 5
    account_threshold: int = 25
    lock_minutes: int = 15


@dataclass(frozen=True)
class SignInResult:
    """A principal, or the refusal and (when locked) until when."""

    principal: Principal | None
    refusal: SignInRefusal | None = None
    locked_until: datetime | None = None


def _principal(row: Mapping[str, Any], session_id: UUID | None = None) -> Principal:
    return Principal(
        account_id=row["account_id"] if "account_id" in row else row["id"],
        login=row["login"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        municipality_code=row["municipality_code"],
        prefecture_code=row["prefecture_code"],
        venue_id=row["venue_id"],
        session_id=session_id,
        must_change_password=bool(row.get("must_change_password", False)),
    )


async def authenticate(
    login: str, password: str, *, source: str, policy: SignInPolicy
) -> SignInResult:
    """Check a login and password, holding under parallel guesses.

    Each try is counted *before* the password is checked, in single atomic
    statements (per login and address in the shared rate-limit store, per
    account in ``vrs_reserve_sign_in``): a burst of parallel tries gets at most
    the threshold's worth of checks, whatever their order. No connection is
    held while argon2 runs, and it runs in a worker thread, off the event loop.
    Runs its own short statements: call it outside a transaction.
    """
    login = login.strip()
    key = (
        sign_in_key_prefix(login) + hashlib.sha256(f"{login.lower()}|{source}".encode()).hexdigest()
    )
    window = policy.lock_minutes * 60
    async with tenantless_statement() as connection:
        tries, _ = await hit(connection, key, window)
        row = await connection.fetchrow("SELECT * FROM vrs_account_for_login($1)", login)
        refusal = None if tries <= policy.source_threshold else SignInRefusal.THROTTLED
        if refusal is None and row is not None:
            allowed = await connection.fetchval(
                "SELECT vrs_reserve_sign_in($1, $2, $3)",
                row["id"],
                policy.account_threshold,
                policy.lock_minutes,
            )
            refusal = None if allowed else SignInRefusal.LOCKED
    if row is None or refusal is not None:
        await verify_password(_DUMMY_HASH, password)  # the same work whatever the reason
        return SignInResult(None, refusal or SignInRefusal.WRONG_CREDENTIALS)
    if not await verify_password(row["password_hash"], password):
        return SignInResult(None, SignInRefusal.WRONG_CREDENTIALS)
    if not row["active"]:
        return SignInResult(None, SignInRefusal.INACTIVE)
    async with tenantless_statement() as connection:
        await connection.execute("SELECT vrs_record_sign_in($1, true, 0, 0)", row["id"])
        await forget(connection, key)
    return SignInResult(_principal(row))


def sign_in_key_prefix(login: str) -> str:
    """How the rate-limit keys of one login's sign-in tries begin, whatever the address.

    A key is this prefix and a hash of login and address: no login is stored in clear,
    and an admin's unlock or reset can lift the login's pauses at every address.
    """
    return "sign-in:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32] + ":"


async def forget_sign_in_tries(login: str) -> int:
    """Lift a login's per-address pauses (an admin's unlock or reset); returns how many."""
    result: str = await current_connection().execute(
        "DELETE FROM rate_limit_entry WHERE starts_with(key, $1)", sign_in_key_prefix(login)
    )
    return int(result.split()[-1])


#: argon2 checks at once per process: each takes 64 MiB and its lanes keep the cores busy
#: for a moment, so a burst of sign-ins queues here (holding no database connection) and
#: the event loop keeps a core for everyone else (/healthz, pages, tablets).
HASHING_THREADS = 2
_hashing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _hashing_limiter() -> anyio.CapacityLimiter:
    """The limiter of the running event loop (a limiter cannot serve two loops)."""
    loop = asyncio.get_running_loop()
    limiter = _hashing.get(loop)
    if limiter is None:
        limiter = _hashing[loop] = anyio.CapacityLimiter(HASHING_THREADS)
    return limiter


async def verify_password(stored_hash: str, password: str) -> bool:
    """Check a password against its argon2 hash in a worker thread (never on the event loop)."""
    return await anyio.to_thread.run_sync(
        _verify, stored_hash, password, limiter=_hashing_limiter()
    )


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def start_session(
    principal: Principal, idle_hours: int, max_hours: int | None = None
) -> tuple[str, Principal]:
    """Create a new session (a fresh token at every sign-in); returns the token."""
    token = secrets.token_urlsafe(32)
    session_id = uuid4()
    now = datetime.now(UTC)
    await current_connection().execute(
        "INSERT INTO session (id, token_hash, account, csrf_token, created_at, last_seen_at,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        session_id,
        token_hash(token),
        principal.account_id,
        secrets.token_urlsafe(32),
        now,
        now + timedelta(hours=min(idle_hours, max_hours or idle_hours)),
    )
    return token, Principal(**{**principal.__dict__, "session_id": session_id})


async def principal_for_session(
    token: str, idle_hours: int, connection: Any = None, max_hours: int = 12
) -> Principal | None:
    """The principal of a live session token, sliding its idle expiry up to its absolute end."""
    row = await (connection or current_connection()).fetchrow(
        "SELECT * FROM vrs_principal_for_session($1, $2, $3)",
        token_hash(token),
        idle_hours,
        max_hours,
    )
    return _principal(row, row["session_id"]) if row else None


async def end_session(session_id: UUID) -> None:
    """Sign out: the session ends and its token stops working."""
    await current_connection().execute(
        "UPDATE session SET ended_at = now() WHERE id = $1 AND ended_at IS NULL", session_id
    )


async def principal_for_token(
    token: str, connection: Any = None, max_days: int = 90
) -> Principal | None:
    """The principal of a bearer token neither revoked nor older than ``max_days``."""
    row = await (connection or current_connection()).fetchrow(
        "SELECT * FROM vrs_principal_for_token($1, $2)", token_hash(token), max_days
    )
    return _principal(row) if row else None


#: The bearer look-ups of requests arriving together, in one statement (db.batches).
_principals_for_tokens = SharedStatement("vrs_principals_for_tokens")


async def principal_for_bearer(token: str, max_days: int = 90) -> Principal | None:
    """:func:`principal_for_token` for a request: shared with the requests arriving with it."""
    try:
        row = await _principals_for_tokens({"hash": token_hash(token), "max_days": max_days})
    except SharedStatementRefused:  # a malformed item of another request: look up alone
        async with tenantless_statement() as connection:
            return await principal_for_token(token, connection, max_days=max_days)
    return _principal(row) if row else None


async def create_api_token(account_id: UUID, label: str) -> str:
    """Issue a bearer token for an account; only its hash is kept.

    Never for an account whose password is a temporary one: a reset revokes the
    account's tokens, and none is issued again until its owner has set a password
    (a bearer token would otherwise skip the forced change).
    """
    pending = await current_connection().fetchval(
        "SELECT must_change_password FROM account WHERE id = $1", account_id
    )
    if pending:
        raise AccountError("account.password_change_pending")
    token = "vrs_" + secrets.token_urlsafe(32)
    await current_connection().execute(
        "INSERT INTO api_token (id, token_hash, account, label, created_at)"
        " VALUES ($1, $2, $3, $4, now())",
        uuid4(),
        token_hash(token),
        account_id,
        label,
    )
    return token


async def revoke_api_token(account_id: UUID, label: str) -> bool:
    """Revoke an account's token by label; True if one was live."""
    result: str = await current_connection().execute(
        "UPDATE api_token SET revoked_at = now()"
        " WHERE account = $1 AND label = $2 AND revoked_at IS NULL",
        account_id,
        label,
    )
    return result.endswith(" 1")


class AccountError(ValueError):
    """An account cannot be created as asked; ``key`` names the message."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def account_id_by_login(login: str) -> UUID | None:
    """The id of the account with this login, or None (owner transaction: any area)."""
    row = await Account.select(Account.id).where(Account.login == login).first()
    found: UUID | None = None if row is None else row["id"]
    return found


async def create_account(
    *,
    login: str,
    display_name: str,
    password: str,
    role: Role,
    municipality_code: str | None = None,
    prefecture_code: str | None = None,
    venue_id: UUID | None = None,
    created_by: UUID | None = None,
    must_change_password: bool = False,
) -> UUID:
    """Create an account (in the current transaction's area, under RLS).

    ``must_change_password``: the password is a one-time one its owner must
    replace at the first sign-in (a national admin's new municipal admin, the password
    ``vrs create-user --generate-password`` prints).
    """
    login = login.strip()
    if not login or len(login) > 64 or not login.isascii() or " " in login:
        raise AccountError("account.login_invalid")
    if len(display_name.strip()) > DISPLAY_NAME_MAX:
        raise AccountError("account.display_name_too_long", length=DISPLAY_NAME_MAX)
    problem = password_problem(password, login, display_name)
    if problem is not None:
        raise AccountError(problem, length=MIN_PASSWORD_LENGTH)
    if role.is_municipal and not municipality_code:
        raise AccountError("account.municipality_required")
    if role is Role.VENUE_OPERATOR and venue_id is None:
        raise AccountError("account.venue_required")
    if role is Role.PREFECTURE_VIEWER and not prefecture_code:
        raise AccountError("account.prefecture_required")
    connection = current_connection()
    taken = await connection.fetchval("SELECT count(*) FROM vrs_account_for_login($1)", login)
    if taken:
        raise AccountError("account.login_taken", login=login)
    account = Account(
        login=login,
        display_name=display_name.strip() or login,
        role=str(role),
        municipality_code=municipality_code if role.is_municipal else None,
        prefecture_code=prefecture_code,
        venue_id=venue_id,
        password_hash=await anyio.to_thread.run_sync(
            hash_password, password, limiter=_hashing_limiter()
        ),
        created_by=created_by,
        must_change_password=must_change_password,
    )
    await account.save()
    account_id = account.id
    return account_id


async def list_accounts() -> list[dict[str, object]]:
    """Accounts of the current area (RLS limits it to the tenant)."""
    rows = await Account.select(
        Account.id,
        Account.login,
        Account.display_name,
        Account.role,
        Account.active,
        Account.locked_until,
    ).order_by(Account.role, Account.login)
    now = datetime.now(UTC)
    return [
        {**row, "locked": bool(row["locked_until"] and row["locked_until"] > now)} for row in rows
    ]
