"""Vaccination records (接種記録) and every previous version of them."""

from piccolo.columns import (
    JSONB,
    UUID,
    Date,
    Integer,
    Numeric,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table


class Vaccination(Table):
    """接種記録 — one dose, stored in the area of the resident's municipality.

    ``municipality_code`` is the ticket's municipality (the tenant), which may
    differ from ``vaccinated_by_municipality_code`` (住所地外接種, F8).
    ``resident`` is empty while the ticket is not matched to a pre-registered
    resident (F4 queue). A change bumps ``version`` and writes the previous
    state to :class:`VaccinationVersion`; deletion is ``status = 'deleted'``.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    resident = UUID(null=True, default=None, index=True)
    ticket_number = Varchar(length=10, index=True)
    ticket_type = Varchar(length=1, default="1")
    """券種."""
    dose_number = Integer()
    """接種回数."""
    vaccinated_on = Date()
    """接種日."""
    vaccinated_by_municipality_code = Varchar(length=6)
    """接種自治体 — the municipality whose venue gave the dose."""
    venue_name = Varchar(length=128)
    """接種会場名, as it was when the dose was given."""
    venue_id = UUID(null=True, default=None)
    doctor_name = Varchar(length=64)
    """接種医師名."""
    product = Varchar(length=48)
    """Vaccine product code (vaccine master); the maker follows from it."""
    lot_number = Varchar(length=32)
    """ワクチンロット番号."""
    volume_ml = Numeric(digits=(4, 2))
    """ワクチン接種量 (mL)."""
    status = Varchar(length=16, default="active")
    """active, deleted (a recorded state, never a lost row) or erased."""
    quality = Varchar(length=16, default="ok")
    """ok, must_fix (要修正) or must_check (要確認)."""
    quality_reasons = JSONB(default="[]")
    source = Varchar(length=16, default="tablet")
    """tablet, csv, api, inquiry (copied from another municipality) or import."""
    idempotency_key = Varchar(length=64, null=True, default=None)
    request_fingerprint = Varchar(length=64, null=True, default=None)
    """What the save under ``idempotency_key`` asked for: the same key, another body is refused."""
    version = Integer(default=1)
    recorded_by = UUID(null=True, default=None)
    recorded_at = Timestamptz()
    updated_at = Timestamptz()

    vaccination_idempotency_unique = Unique(["municipality_code", "idempotency_key"])


class VaccinationVersion(Table):
    """A previous version of a vaccination record, with who changed it, when and why."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    vaccination = UUID(index=True)
    version = Integer()
    snapshot = JSONB()
    changed_by = UUID(null=True, default=None)
    changed_at = Timestamptz()
    reason = Varchar(length=512)

    vaccination_version_unique = Unique(["vaccination", "version"])


class VenueLog(Table):
    """接種会場の記録 — what a venue recorded, kept in the venue's own area.

    For doses given to another municipality's residents (F8) the record
    itself lives in their area; the venue keeps only this line: ticket
    number, time, dose and vaccine, never the person's details.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    """The venue's municipality."""
    venue_id = UUID(null=True, default=None, index=True)
    vaccination_id = UUID()
    resident_municipality_code = Varchar(length=6)
    ticket_number = Varchar(length=10)
    dose_number = Integer()
    vaccinated_on = Date()
    product = Varchar(length=48)
    lot_number = Varchar(length=32)
    volume_ml = Numeric(digits=(4, 2))
    doctor_name = Varchar(length=64)
    recorded_by = UUID(null=True, default=None)
    recorded_at = Timestamptz()

    venue_log_vaccination_unique = Unique(["municipality_code", "vaccination_id"])
