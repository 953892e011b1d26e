"""Residents and their vaccination tickets (本人情報・接種券), per municipality."""

from piccolo.columns import (
    UUID,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table


class Resident(Table):
    """本人情報 — a person registered by their municipality (seed 記録項目).

    The My Number is optional (the municipality decides whether to provide it,
    確認事項 第3条(1)); it is stored AES-GCM encrypted, with an HMAC beside it
    for exact lookup, and never in clear.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    resident_number = Varchar(length=15)
    """個別宛名番号 — the municipality's own id for the person."""
    my_number_ciphertext = Bytea(null=True, default=None)
    my_number_hmac = Varchar(length=64, null=True, default=None, index=True)
    name = Varchar(length=128)
    """氏名, as on the resident register."""
    name_kana = Varchar(length=128)
    """カナ氏名."""
    former_name = Varchar(length=128, default="")
    """旧姓 shown alongside the name (旧姓併記), where registered."""
    birth_date = Date()
    sex = Varchar(length=1)
    """ISO 5218 as on the card: 1 male, 2 female, 9 not applicable."""
    moved_out_on = Date(null=True, default=None)
    """転出 — the date the person moved out."""
    deceased_on = Date(null=True, default=None)
    """死亡 — the date of death."""
    priority_group = Varchar(length=32, default="")
    """先行接種対象者 — e.g. medical_worker; empty when not in a priority group."""
    needs_care = Boolean(default=False)
    """要配慮者 — needs special care at the venue."""
    version = Integer(default=1)
    status = Varchar(length=16, default="active")
    """active, or erased (personal content removed under 確認事項 第5条)."""
    created_at = Timestamptz()
    updated_at = Timestamptz()

    resident_number_unique = Unique(["municipality_code", "resident_number"])


class Ticket(Table):
    """接種券 — a vaccination ticket a municipality issued to a resident."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    ticket_number = Varchar(length=10)
    resident = ForeignKey(references=Resident, index=True)
    ticket_type = Varchar(length=1, default="1")
    """券種 — 1 接種券, see common.identifiers.TICKET_TYPES."""
    dose_number = Integer(null=True, default=None)
    """回数 the ticket was issued for, when printed on it."""
    issued_on = Date(null=True, default=None)
    status = Varchar(length=16, default="valid")
    """valid, reissued (replaced by a new ticket) or void."""
    created_at = Timestamptz()
    updated_at = Timestamptz()

    ticket_number_unique = Unique(["municipality_code", "ticket_number"])
