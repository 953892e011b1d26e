"""Staff and machine accounts, their sessions and bearer tokens."""

from piccolo.columns import UUID, Boolean, Integer, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table


class Account(Table):
    """A person or device that signs in.

    ``municipality_code`` is empty for national roles; ``prefecture_code`` is
    set for prefecture viewers. Rows of a municipality are under row-level
    security; sign-in finds an account through a narrow SECURITY DEFINER
    function, before the tenant is known.
    """

    id = UUID(primary_key=True)
    login = Varchar(length=64, unique=True)
    display_name = Varchar(length=128)
    role = Varchar(length=32)
    """national_admin, municipal_admin, clerk, venue_operator, prefecture_viewer, national_viewer."""
    municipality_code = Varchar(length=6, null=True, default=None, index=True)
    prefecture_code = Varchar(length=2, null=True, default=None)
    venue_id = UUID(null=True, default=None)
    """For venue operators: the venue they record at."""
    password_hash = Varchar(length=256)
    failed_attempts = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    active = Boolean(default=True)
    must_change_password = Boolean(default=False)
    """Set by an admin's reset (a one-time temporary password): until the account sets a new
    password, its sessions reach only the change-password page (``web/password_change.py``)."""
    created_at = Timestamptz()
    created_by = UUID(null=True, default=None)


class Session(Table):
    """A signed-in browser session; only the token's hash is stored."""

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    account = UUID(index=True)
    csrf_token = Varchar(length=64)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)


class ApiToken(Table):
    """A bearer token for machine clients (integrations, kiosks); hashed at rest."""

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    account = UUID(index=True)
    label = Varchar(length=128, default="")
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)

    api_token_label_unique = Unique(["account", "label"])
