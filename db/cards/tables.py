"""Card authentication (個人番号カードによる本人確認): challenges, the J-LIS linkage, app clients."""

from piccolo.columns import Bytea, Timestamptz, Varchar
from piccolo.columns.column_types import UUID
from piccolo.table import Table


class CardSession(Table):
    """One card-authentication challenge (FORMATS §5): single-use, short-lived."""

    id = UUID(primary_key=True)
    challenge = Bytea()
    """The 32 random bytes the card must sign."""
    client = UUID(null=True, default=None)
    """The app client (or kiosk) that asked for it."""
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    """Set when a proof consumed it; a second proof is a replay."""


class CardLink(Table):
    """紐付け: which authentication certificate belongs to which My Number, as J-LIS keeps it.

    The My Number is kept only as its look-up HMAC (the same as the resident
    table's), so this table never holds it in clear.
    """

    certificate_fingerprint = Varchar(length=64, primary_key=True)
    """SHA-256 of the authentication certificate's DER, lower-case hex."""
    my_number_hmac = Varchar(length=64)
    linked_at = Timestamptz()


class AppClient(Table):
    """A machine credential of the app channel (電子交付) or a kiosk: a bearer token's hash."""

    id = UUID(primary_key=True)
    label = Varchar(length=128, unique=True)
    kind = Varchar(length=16, default="app")
    """app (電子交付) or kiosk (コンビニ交付)."""
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
