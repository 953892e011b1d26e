"""Recording a dose (F2, F3, F8): identify the person, judge the dose, save it once.

The same path serves the tablet, the JSON API and CSV rows:

1. find the ticket's person — in our own area, or through the sanctioned
   crossing when the ticket belongs to another municipality (住所地外接種);
2. lock the person (two tablets cannot race) and look for the idempotency
   key: a retried save returns the record it already made;
3. judge the dose with :mod:`db.vaccinations.rules` against the person's
   doses and the master data of the dose's date;
4. write the record, its audit event and the venue-log line in one statement.

Everything runs inside the caller's :func:`db.engine.tenant_transaction`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from db.accounts.principal import Principal
from db.engine import current_connection
from db.vaccinations.dose_input import DoseRequest
from db.vaccinations.rules import DoseInput, Effect, Finding, Person, PreviousDose, Verdict, judge
from db.vaccines.master import master_data


@dataclass(frozen=True)
class Identity:
    """Who a ticket names, as the venue may see them (F8: name, kana, birth date only)."""

    resident_id: UUID
    municipality_code: str
    name: str
    name_kana: str
    birth_date: dt.date
    sex: str | None
    moved_out_on: dt.date | None
    deceased_on: dt.date | None
    needs_care: bool | None
    priority_group: str | None
    doses: tuple[PreviousDose, ...]
    elsewhere: bool
    """The ticket is another municipality's: show identity only, nothing more."""

    def person(self) -> Person:
        """What the rules need."""
        return Person(self.birth_date, self.moved_out_on, self.deceased_on, self.doses)


@dataclass(frozen=True)
class Venue:
    """Where the dose is given."""

    municipality_code: str
    venue_id: UUID | None
    name: str


@dataclass(frozen=True)
class Recorded:
    """The outcome of a save."""

    vaccination_id: UUID
    created: bool
    """False when an earlier save with the same key made the record (a retry)."""
    quality: str
    reasons: list[dict[str, Any]] = field(default_factory=list)


class TicketUnknown(Exception):
    """No valid ticket with that number in that municipality (or it does not accept ours)."""


class DoseRefused(Exception):
    """The dose breaks a rule that stops the save; nothing was written."""

    def __init__(self, findings: list[Finding], verdict: Verdict) -> None:
        super().__init__(", ".join(f.key for f in findings))
        self.findings = findings
        self.verdict = verdict


def _doses(raw: Any) -> tuple[PreviousDose, ...]:
    items = json.loads(raw) if isinstance(raw, str) else (raw or [])
    return tuple(
        PreviousDose(
            int(d["dose_number"]), dt.date.fromisoformat(str(d["vaccinated_on"])), d["product"]
        )
        for d in items
    )


_OWN_PERSON = """
SELECT r.id, r.name, r.name_kana, r.birth_date, r.sex, r.moved_out_on, r.deceased_on,
       r.needs_care, r.priority_group
FROM ticket t JOIN resident r ON r.id = t.resident
WHERE t.municipality_code = $1 AND t.ticket_number = $2 AND t.status = 'valid' AND r.status = 'active'
"""

_OWN_DOSES = """
SELECT coalesce(jsonb_agg(jsonb_build_object('dose_number', dose_number,
         'vaccinated_on', vaccinated_on, 'product', product) ORDER BY vaccinated_on), '[]'::jsonb)
FROM vaccination WHERE municipality_code = $1 AND resident = $2 AND status = 'active'
"""


async def identify(
    municipality_code: str, ticket_number: str, caller: str, *, lock: bool = False
) -> Identity | None:
    """The person a ticket names, or None.

    ``lock`` holds the person until commit; the doses are read after the lock
    is granted, so a save another tablet just committed is counted.
    """
    connection = current_connection()
    if municipality_code == caller:
        row = await connection.fetchrow(
            _OWN_PERSON + (" FOR UPDATE OF r" if lock else ""), municipality_code, ticket_number
        )
        if row is None:
            return None
        doses = await connection.fetchval(_OWN_DOSES, municipality_code, row["id"])
        return Identity(
            row["id"], municipality_code, row["name"], row["name_kana"], row["birth_date"], row["sex"],
            row["moved_out_on"], row["deceased_on"], row["needs_care"], row["priority_group"],
            _doses(doses), elsewhere=False,
        )  # fmt: skip
    row = await connection.fetchrow(
        "SELECT * FROM vrs_identify_ticket_elsewhere($1, $2)", municipality_code, ticket_number
    )
    if row is None:
        return None
    return Identity(
        row["resident_id"], municipality_code, row["name"], row["name_kana"], row["birth_date"],
        None, None, None, None, None, _doses(row["previous_doses"]), elsewhere=True,
    )  # fmt: skip


async def _existing(request: DoseRequest, caller: str) -> asyncpg.Record | None:
    connection = current_connection()
    municipality = request.ticket.municipality_code
    if municipality == caller:
        return await connection.fetchrow(
            "SELECT id, quality, quality_reasons FROM vaccination"
            " WHERE municipality_code = $1 AND idempotency_key = $2",
            municipality,
            request.idempotency_key,
        )
    found = await connection.fetchval(
        "SELECT vrs_dose_elsewhere_by_key($1, $2)", municipality, request.idempotency_key
    )
    return {"id": found, "quality": "ok", "quality_reasons": "[]"} if found else None


def _recorded_again(row: Any) -> Recorded:
    reasons = row["quality_reasons"]
    return Recorded(
        row["id"],
        False,
        row["quality"],
        json.loads(reasons) if isinstance(reasons, str) else list(reasons),
    )


async def record_dose(
    request: DoseRequest, *, venue: Venue, actor: Principal, today: dt.date
) -> tuple[Recorded, Identity]:
    """Save one dose once; raises :class:`TicketUnknown` or :class:`DoseRefused`."""
    caller = venue.municipality_code
    identity = await identify(
        request.ticket.municipality_code, request.ticket.ticket_number, caller, lock=True
    )
    if identity is None:
        raise TicketUnknown(request.ticket.ticket_number)
    existing = await _existing(request, caller)
    if existing is not None:
        return _recorded_again(existing), identity
    verdict = judge(
        DoseInput(
            request.dose_number,
            request.vaccinated_on,
            request.product,
            request.lot_number,
            request.volume_ml,
        ),
        identity.person(),
        await master_data(),
        today,
    )
    blocking = verdict.blocking(request.override_reason)
    if blocking:
        raise DoseRefused(blocking, verdict)
    quality = verdict.quality(request.override_reason)
    reasons = verdict.stored_reasons(request.override_reason)
    try:
        if identity.elsewhere:
            vaccination_id, created = await _insert_elsewhere(
                request, venue, actor, quality, reasons
            )
        else:
            vaccination_id, created = await _insert_own(
                request, venue, actor, identity, quality, reasons
            )
    except asyncpg.UniqueViolationError:
        # Another tablet saved this person's dose between our check and insert.
        raise DoseRefused(verdict.stops or [_duplicate_finding(request)], verdict) from None
    if created:
        await _venue_log(request, venue, actor, vaccination_id)
    return Recorded(vaccination_id, created, quality, reasons), identity


def _duplicate_finding(request: DoseRequest) -> Finding:
    return Finding(
        "no_duplicate",
        Effect.STOP,
        "rule.same_dose_number",
        {"dose": request.dose_number, "date": ""},
    )


_INSERT_OWN = """
WITH v AS (
    INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type, dose_number,
        vaccinated_on, vaccinated_by_municipality_code, venue_name, venue_id, doctor_name, product,
        lot_number, volume_ml, status, quality, quality_reasons, source, idempotency_key, version,
        recorded_by, recorded_at, updated_at)
    VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $1, $7, $8, $9, $10, $11, $12, 'active', $13,
        $14::jsonb, $15, $16, 1, $17, now(), now())
    ON CONFLICT (municipality_code, idempotency_key) DO NOTHING
    RETURNING id
), audited AS (
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action, object_type,
        object_id, details)
    SELECT $1, now(), $17, $18, 'vaccination.create', 'vaccination', id::text,
           jsonb_build_object('source', $15::text, 'quality', $13::text)
    FROM v
)
SELECT id FROM v
"""


async def _insert_own(
    request: DoseRequest,
    venue: Venue,
    actor: Principal,
    identity: Identity,
    quality: str,
    reasons: list[dict[str, Any]],
) -> tuple[UUID, bool]:
    connection = current_connection()
    new_id = await connection.fetchval(
        _INSERT_OWN,
        venue.municipality_code, identity.resident_id, request.ticket.ticket_number,
        request.ticket.ticket_type or "1", request.dose_number, request.vaccinated_on, venue.name,
        venue.venue_id, request.doctor_name, request.product, request.lot_number, request.volume_ml,
        quality, json.dumps(reasons, ensure_ascii=False), request.source, request.idempotency_key,
        actor.account_id, str(actor.role),
    )  # fmt: skip
    if new_id is not None:
        return new_id, True
    existing = await _existing(request, venue.municipality_code)
    assert existing is not None
    return existing["id"], False


async def _insert_elsewhere(
    request: DoseRequest,
    venue: Venue,
    actor: Principal,
    quality: str,
    reasons: list[dict[str, Any]],
) -> tuple[UUID, bool]:
    row = await current_connection().fetchrow(
        "SELECT * FROM vrs_record_dose_elsewhere($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
        " $13::jsonb, $14, $15, $16)",
        request.ticket.municipality_code, request.ticket.ticket_number, request.ticket.ticket_type or "1",
        request.dose_number, request.vaccinated_on, venue.venue_id, venue.name, request.doctor_name,
        request.product, request.lot_number, request.volume_ml, quality,
        json.dumps(reasons, ensure_ascii=False), request.source, request.idempotency_key, actor.account_id,
    )  # fmt: skip
    return row["vaccination_id"], row["created"]


async def _venue_log(
    request: DoseRequest, venue: Venue, actor: Principal, vaccination_id: UUID
) -> None:
    await current_connection().execute(
        "INSERT INTO venue_log (id, municipality_code, venue_id, vaccination_id, resident_municipality_code,"
        " ticket_number, dose_number, vaccinated_on, product, lot_number, volume_ml, doctor_name,"
        " recorded_by, recorded_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12, now()) ON CONFLICT (municipality_code, vaccination_id) DO NOTHING",
        venue.municipality_code, venue.venue_id, vaccination_id, request.ticket.municipality_code,
        request.ticket.ticket_number, request.dose_number, request.vaccinated_on, request.product,
        request.lot_number, request.volume_ml, request.doctor_name, actor.account_id,
    )  # fmt: skip


async def session_defaults(actor: Principal, venue: Venue) -> dict[str, Any] | None:
    """The operator's last save today at this venue: a venue uses one lot for hours."""
    row = await current_connection().fetchrow(
        "SELECT product, lot_number, volume_ml, doctor_name FROM venue_log"
        " WHERE municipality_code = $1 AND recorded_by = $2 AND recorded_at > now() - interval '12 hours'"
        " ORDER BY recorded_at DESC LIMIT 1",
        venue.municipality_code,
        actor.account_id,
    )
    return dict(row) if row else None


async def venue_records(venue: Venue, limit: int = 50) -> list[dict[str, Any]]:
    """The venue's own log: ticket, time, dose and vaccine — no personal details (F8)."""
    rows = await current_connection().fetch(
        "SELECT vaccination_id, resident_municipality_code, ticket_number, dose_number, vaccinated_on,"
        " product, lot_number, volume_ml, recorded_at FROM venue_log"
        " WHERE municipality_code = $1 AND ($2::uuid IS NULL OR venue_id = $2)"
        " ORDER BY recorded_at DESC LIMIT $3",
        venue.municipality_code,
        venue.venue_id,
        limit,
    )
    return [dict(r) for r in rows]
