"""Sign-in, sessions, bearer tokens and account management."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.accounts.tables import Account
from db.engine import current_connection

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Verified against when the login is unknown, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    """What is stored of a session or bearer token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class SignInRefusal(StrEnum):
    """Why a sign-in failed (the message catalog has the words)."""

    WRONG_CREDENTIALS = "auth.wrong_credentials"
    LOCKED = "auth.locked"
    INACTIVE = "auth.inactive"


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
    )


async def authenticate(
    login: str, password: str, *, threshold: int, lock_minutes: int
) -> SignInResult:
    """Check a login and password; count failures and lock after ``threshold``."""
    connection = current_connection()
    row = await connection.fetchrow("SELECT * FROM vrs_account_for_login($1)", login.strip())
    if row is None:
        _verify(_DUMMY_HASH, password)
        return SignInResult(None, SignInRefusal.WRONG_CREDENTIALS)
    now = datetime.now(UTC)
    if row["locked_until"] is not None and row["locked_until"] > now:
        return SignInResult(None, SignInRefusal.LOCKED, row["locked_until"])
    if not _verify(row["password_hash"], password):
        locked_until = await connection.fetchval(
            "SELECT vrs_record_sign_in($1, false, $2, $3)", row["id"], threshold, lock_minutes
        )
        if locked_until is not None and locked_until > now:
            return SignInResult(None, SignInRefusal.LOCKED, locked_until)
        return SignInResult(None, SignInRefusal.WRONG_CREDENTIALS)
    if not row["active"]:
        return SignInResult(None, SignInRefusal.INACTIVE)
    await connection.execute("SELECT vrs_record_sign_in($1, true, 0, 0)", row["id"])
    return SignInResult(_principal(row))


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def start_session(principal: Principal, idle_hours: int) -> tuple[str, Principal]:
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
        now + timedelta(hours=idle_hours),
    )
    return token, Principal(**{**principal.__dict__, "session_id": session_id})


async def principal_for_session(
    token: str, idle_hours: int, connection: Any = None
) -> Principal | None:
    """The principal of a live session token, sliding its idle expiry."""
    row = await (connection or current_connection()).fetchrow(
        "SELECT * FROM vrs_principal_for_session($1, $2)", token_hash(token), idle_hours
    )
    return _principal(row, row["session_id"]) if row else None


async def end_session(session_id: UUID) -> None:
    """Sign out: the session ends and its token stops working."""
    await current_connection().execute(
        "UPDATE session SET ended_at = now() WHERE id = $1 AND ended_at IS NULL", session_id
    )


async def principal_for_token(token: str, connection: Any = None) -> Principal | None:
    """The principal of a bearer token that has not been revoked."""
    row = await (connection or current_connection()).fetchrow(
        "SELECT * FROM vrs_principal_for_token($1)", token_hash(token)
    )
    return _principal(row) if row else None


async def create_api_token(account_id: UUID, label: str) -> str:
    """Issue a bearer token for an account; only its hash is kept."""
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
) -> UUID:
    """Create an account (in the current transaction's area, under RLS)."""
    login = login.strip()
    if not login or len(login) > 64 or not login.isascii() or " " in login:
        raise AccountError("account.login_invalid")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("account.password_short", length=MIN_PASSWORD_LENGTH)
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
        password_hash=hash_password(password),
        created_by=created_by,
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
