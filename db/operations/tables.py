"""National operations: suspensions of a function, kiosk heartbeats, faults, completion notices.

``suspension_event``, ``kiosk_status`` and ``kiosk_fault`` belong to no municipality (a
nationwide switch; kiosks are national app clients): plain grants, no RLS.
``kiosk_completion`` is recorded on an issuance and so lives in the issuing
municipality's area (RLS), written only through ``vrs_record_kiosk_completion``.
"""

from piccolo.columns import JSONB, UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class SuspensionEvent(Table):
    """One change of a function's nationwide suspension: append-only, never updated."""

    id = UUID(primary_key=True)
    function = Varchar(length=32, index=True)
    """kiosk_issuance, app_issuance or inquiry."""
    action = Varchar(length=8)
    """suspend or lift."""
    notice_ja = Text(default="")
    notice_en = Text(default="")
    actor = UUID(null=True, default=None)
    actor_login = Varchar(length=64, default="")
    occurred_at = Timestamptz()


class KioskStatus(Table):
    """Each kiosk client's latest heartbeat: when, where, its devices, its last fault."""

    client = UUID(primary_key=True)
    """The kiosk's ``app_client`` id."""
    store_id = Varchar(length=64, default="")
    terminal_id = Varchar(length=64, default="")
    last_seen = Timestamptz()
    interval_seconds = Integer(default=60)
    """The kiosk's heartbeat interval: online while seen within three of them."""
    devices = JSONB(default="{}")
    """Device name (reader, printer, payment) → ok or fault."""
    in_service = Varchar(length=16, default="in_service")
    """in_service or out_of_service (the kiosk's maintenance switch)."""
    pending_notices = Integer(default=0)
    last_fault_device = Varchar(length=16, default="")
    last_fault_message = Text(default="")
    last_fault_at = Timestamptz(null=True, default=None)


class KioskFault(Table):
    """A device fault a kiosk reported (append-only; the kiosk's id makes retries count once)."""

    id = UUID(primary_key=True)
    client = UUID(index=True)
    fault_id = Varchar(length=64)
    """The kiosk's own id of the fault (unique per client)."""
    device = Varchar(length=16)
    message = Text(default="")
    occurred_at = Timestamptz()
    received_at = Timestamptz()


class KioskCompletion(Table):
    """交付完了通知: a kiosk printed this issuance (store, terminal, time)."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    certificate_id = Varchar(length=64, unique=True)
    client = UUID()
    notice_id = Varchar(length=64)
    store_id = Varchar(length=64)
    terminal_id = Varchar(length=64)
    completed_at = Timestamptz()
    received_at = Timestamptz()


class KioskIssuance(Table):
    """Which kiosk a kiosk-channel certificate was issued to (no personal data).

    A completion notice is accepted only from the kiosk the certificate was
    issued to (``vrs_record_kiosk_completion`` checks it).
    """

    certificate_id = Varchar(length=64, primary_key=True)
    client = UUID(index=True)
    """The kiosk's ``app_client`` id."""
    issued_at = Timestamptz()
