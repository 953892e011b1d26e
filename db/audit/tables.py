"""The append-only audit log: every read of a person's record and every change."""

from piccolo.columns import JSONB, UUID, BigSerial, Timestamptz, Varchar
from piccolo.table import Table


class AuditEvent(Table):
    """One audited event. UPDATE and DELETE are refused by a trigger.

    ``municipality_code`` is the area the event concerns; empty for national
    events (master data, municipalities), which carry no personal data.
    """

    id = BigSerial(primary_key=True)
    municipality_code = Varchar(length=6, null=True, default=None, index=True)
    occurred_at = Timestamptz()
    actor = UUID(null=True, default=None)
    actor_role = Varchar(length=32, default="")
    action = Varchar(length=64)
    """e.g. resident.view, vaccination.create, vaccination.correct, account.sign_in."""
    object_type = Varchar(length=32, default="")
    object_id = Varchar(length=64, default="")
    details = JSONB(default="{}")
