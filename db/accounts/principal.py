"""The signed-in account a request acts for."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from db.accounts.roles import Role


@dataclass(frozen=True)
class Principal:
    """Who is acting, and in which area."""

    account_id: UUID
    login: str
    display_name: str
    role: Role
    municipality_code: str | None
    prefecture_code: str | None
    venue_id: UUID | None
    session_id: UUID | None = None
    """Set for browser sessions; ``None`` for bearer tokens."""
    must_change_password: bool = False
    """The password is an admin's one-time temporary one: only the password page until changed."""

    @property
    def tenant(self) -> str | None:
        """The municipality whose area this principal's transactions see."""
        return self.municipality_code if self.role.is_municipal else None
