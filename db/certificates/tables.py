"""Certificate issuance history (接種証明書の交付履歴)."""

from piccolo.columns import JSONB, UUID, Bytea, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table


class CertificateIssuance(Table):
    """One issued certificate and the data it certified (its issuance source data).

    Passport data entered at the counter is kept here, which is what lets the
    kiosk issue an overseas certificate later (briefing: 海外用の接種証明書).
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    """The issuing municipality (the one managing the records)."""
    resident = UUID(index=True)
    certificate_id = Varchar(length=32)
    kind = Varchar(length=16)
    """domestic (国内用) or overseas (海外用)."""
    channel = Varchar(length=16)
    """counter (窓口), app (電子交付) or kiosk (コンビニ交付)."""
    language = Varchar(length=8, default="ja")
    passport_number = Varchar(length=20, default="")
    nationality = Varchar(length=3, default="")
    roman_name = Varchar(length=64, default="")
    source_data = JSONB()
    """The content the certificate certified, as issued."""
    shc_rid = Varchar(length=24, default="")
    issued_by = UUID(null=True, default=None)
    issued_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    revocation_reason = Varchar(length=256, default="")
    shc_kid = Varchar(length=64, default="")
    """The SHC issuer key that signed it: its CRL (``/.well-known/crl/{kid}.json``) lists it."""
    shc_jws = Text(default="")
    """The SMART Health Card as issued (for the API and the file download)."""
    vdsnc_json = Text(default="")
    """The VDS-NC as issued (overseas), else empty."""
    pdf = Bytea(null=True, default=None)
    """The signed PDF, so a retried request gets the same certificate."""
    idempotency_key = Varchar(length=64, null=True, default=None)
    """The API client's Idempotency-Key, unique per municipality."""

    certificate_id_unique = Unique(["municipality_code", "certificate_id"])
    certificate_idempotency_unique = Unique(["municipality_code", "idempotency_key"])
