"""Municipalities, their agreed terms, and their venues (自治体・会場)."""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Time,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table


class Prefecture(Table):
    """都道府県 — reference data, the same in every installation."""

    code = Varchar(length=2, primary_key=True)
    name = Varchar(length=8)
    name_en = Varchar(length=32)


class Municipality(Table):
    """市区町村 — reference data: one row per municipality using the system.

    ``code`` is the 6-digit 市区町村コード with its check digit.
    """

    code = Varchar(length=6, primary_key=True)
    prefecture = ForeignKey(references=Prefecture)
    name = Varchar(length=64)
    name_en = Varchar(length=128)
    head_title = Varchar(length=64, default="")
    """Title and name of the head of the municipality, printed as issuer (e.g. 千代田区長)."""
    created_at = Timestamptz()


class MunicipalitySetting(Table):
    """What a municipality agreed to take part in (確認事項, kiosk terms).

    Append-only: each change inserts a new row, so who changed what and when
    is the table itself; the current settings are the newest row.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    provides_records_to_inquiries = Boolean(default=True)
    """確認事項 第3条(5): answer other municipalities' inquiries (F7)."""
    accepts_records_from_other_venues = Boolean(default=True)
    """確認事項 第3条(6): accept doses given at other municipalities' venues (F8)."""
    provides_statistics = Boolean(default=True)
    """確認事項 第4条4: contribute to prefecture and national statistics."""
    kiosk_issuance = Boolean(default=False)
    """Kiosk terms 第8条: take part in convenience-store issuance."""
    kiosk_hours_start = Time(default=None, null=True)
    """Kiosk terms 第10条: the municipality's own service hours (within 06:30–23:00)."""
    kiosk_hours_end = Time(default=None, null=True)
    certificate_contact = Text(default="")
    """第19条: the contact printed on certificates for questions about their content."""
    changed_by = UUID(null=True, default=None)
    changed_at = Timestamptz()
    revision = Integer(default=1)
    reason = Text(default="")
    """Why the admin changed the settings (empty for the first revision)."""

    setting_revision_unique = Unique(["municipality_code", "revision"])


class Venue(Table):
    """接種会場 — a vaccination venue or clinic of one municipality."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    code = Varchar(length=16)
    """The municipality's own short code for the venue (printed on logs)."""
    name = Varchar(length=128)
    kind = Varchar(length=16, default="venue")
    """venue (集団接種会場), clinic (個別接種医療機関) or workplace (職域接種)."""
    address = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()

    venue_code_unique = Unique(["municipality_code", "code"])
