"""Maintenance mode (kiosk terms annex 4): behind its own credential, apart from the customer screens.

The maintenance secret is kept only as an argon2 hash in ``VRS_KIOSK_MAINTENANCE_HASH``
(``python -m kiosk hash-secret`` makes one). Signing in at ``/maintenance/sign-in``
sets a cookie naming a random session known only to this process, valid for
:data:`SESSION_LIFETIME`; five wrong secrets in a row close the sign-in for
:data:`LOCKOUT`. No customer screen links here.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "kiosk_maintenance"
SESSION_LIFETIME = dt.timedelta(minutes=15)
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=5)

_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    """The argon2id hash to put into ``VRS_KIOSK_MAINTENANCE_HASH``."""
    if len(secret) < 8:
        raise ValueError("the maintenance secret needs at least 8 characters")
    return _hasher.hash(secret)


@dataclass
class MaintenanceSessions:
    """Who is signed in to maintenance on this kiosk (in memory: a restart signs out)."""

    secret_hash: str
    sessions: dict[str, dt.datetime] = field(default_factory=dict)
    failures: int = 0
    locked_until: dt.datetime | None = None

    @property
    def configured(self) -> bool:
        """Whether a maintenance secret is set at all."""
        return bool(self.secret_hash)

    def sign_in(self, secret: str, now: dt.datetime) -> str:
        """A new session token, or raise ``ValueError`` naming the message key."""
        if not self.configured:
            raise ValueError("maintenance.not_configured")
        if self.locked_until is not None and now < self.locked_until:
            raise ValueError("maintenance.locked")
        try:
            _hasher.verify(self.secret_hash, secret)
        except (VerificationError, InvalidHashError):
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                self.failures = 0
                self.locked_until = now + LOCKOUT
                raise ValueError("maintenance.locked") from None
            raise ValueError("maintenance.wrong_secret") from None
        self.failures = 0
        self.locked_until = None
        token = secrets.token_urlsafe(32)
        self.sessions[token] = now + SESSION_LIFETIME
        return token

    def valid(self, token: str | None, now: dt.datetime) -> bool:
        """Whether ``token`` names a live session."""
        for stale in [t for t, until in self.sessions.items() if until <= now]:
            del self.sessions[stale]
        return token is not None and token in self.sessions

    def sign_out(self, token: str | None) -> None:
        """End the session."""
        if token is not None:
            self.sessions.pop(token, None)
