"""Registered venue tablets (the table is created by the app's first, raw-SQL migration).

Modelled here so that Piccolo knows it (queries, ``migrations new --auto``); the
second migration records it in Piccolo's schema without touching the database.
What Piccolo does not model stays in that SQL: the foreign keys, the check that an
enrolled device has a credential, the (municipality_code, created_at) index, the
forced row-level security and the ``vrs_device_for_credential`` crossing.
"""

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.table import Table


class VenueDevice(Table, tablename="venue_device"):
    """One tablet of a venue: its enrolment code, then its long-lived credential (hashes)."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6)
    venue = UUID()
    label = Varchar(length=64)
    enrolment_code_hash = Varchar(length=64, null=True, default=None, unique=True)
    """SHA-256 of the one-time enrolment code (valid for a day)."""
    enrolment_expires_at = Timestamptz(null=True, default=None)
    credential_hash = Varchar(length=64, null=True, default=None, unique=True)
    """SHA-256 of the device credential that replaced the code at enrolment."""
    created_at = Timestamptz()
    created_by = UUID(null=True, default=None)
    enrolled_at = Timestamptz(null=True, default=None)
    enrolled_by = UUID(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = UUID(null=True, default=None)
    last_seen_at = Timestamptz(null=True, default=None)
