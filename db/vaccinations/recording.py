"""Recording a dose (F2, F3, F8): identify the person, judge the dose, save it once.

The same path serves the tablet, the JSON API and CSV rows:

1. find the ticket's person — in our own area, or through the sanctioned
   crossing when the ticket belongs to another municipality (住所地外接種) —
   and confirm it is them: the birth date the person states must equal the
   record's (a misread ticket number that is another registered person's is
   caught here). Another area compares it inside the crossing, so a venue
   learns nothing of a person whose birth date it did not know;
2. lock the person (two tablets cannot race) and look for the idempotency
   key: a retried save returns the record it already made, the same key
   with another body is refused (:class:`IdempotencyConflict`), in any area.
   The key itself is held (an advisory lock on the caller's area and the
   key, taken before anything else) so that two saves with one key for
   tickets of two areas cannot both find it new;
3. judge the dose with :mod:`db.vaccinations.rules` against the person's
   doses and the master data of the dose's date;
4. write the record, its audit event and the venue-log line.

The usual save — our own resident, the stated birth date matches, a new
key — takes two statements and no lock held across round trips
(:func:`save_in_two_statements`): one reads the venue, the person, their
doses and the key; Python judges; one writes the record, its audit event
and the venue-log line and commits, provided the person's doses are still
the ones judged. Saves in flight at the same moment share those statements
(:mod:`db.batches`). Everything else (another area, a mismatch, an unknown
ticket, a replay, a race lost to another tablet, an account whose look-up
budget is spent) goes through
:func:`record_dose`, which runs inside the caller's
:func:`db.engine.tenant_transaction` with the person locked.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from common.identifiers import TicketCode
from db.accounts.principal import Principal
from db.audit.queries import record as audit
from db.batches import SharedStatement, SharedStatementRefused
from db.engine import current_connection, tenantless_statement
from db.security.rate_limits import Budget
from db.vaccinations.dose_input import DoseRequest
from db.vaccinations.rules import (
    DoseInput,
    Effect,
    Finding,
    Person,
    PreviousDose,
    Verdict,
    date_in_range,
    expected_dose_number,
    judge,
    known_product,
    lot_valid,
)
from db.vaccines.master import master_data, recent_master_data


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
    dose_number: int | None = None
    """As stored (a replay answers with the stored record, never the request)."""
    vaccinated_on: dt.date | None = None
    unmatched: bool = False
    """Kept for the clerk, on no person: the stated birth date or the ticket did not match."""


class TicketUnknown(Exception):
    """No valid ticket with that number in that municipality (or it does not accept ours).

    For another municipality's ticket this also means "the stated birth date
    did not match": the crossing does not say which.
    """


class IdentityMismatch(Exception):
    """The stated birth date is not the ticket holder's: a misread ticket, or the wrong card."""

    def __init__(self, identity: Identity) -> None:
        super().__init__(identity.municipality_code)
        self.identity = identity
        """The ticket holder: shown only after the operator gives a reason (registry wrong)."""


class VenueClosed(Exception):
    """The operator's venue is closed: it records nothing more (its log stays readable)."""


class CrossingRefused(Exception):
    """Another municipality's resident is identified and recorded by a venue account only."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request; nothing was written."""

    def __init__(self, key: str, stored: dict[str, Any]) -> None:
        super().__init__(key)
        self.key = key
        self.stored = stored
        """The stored record's fields (our own area's records; empty for another area's)."""


class DoseRefused(Exception):
    """The dose breaks a rule that stops the save; nothing was written."""

    def __init__(
        self, findings: list[Finding], verdict: Verdict, identity: Identity | None = None
    ) -> None:
        super().__init__(", ".join(f.key for f in findings))
        self.findings = findings
        self.verdict = verdict
        self.identity = identity
        """Who the panel shows (the refusal redraws the form only, no second look-up)."""


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


def _own_identity(row: Any, resident_id: UUID, municipality_code: str, doses: Any) -> Identity:
    return Identity(
        resident_id, municipality_code, row["name"], row["name_kana"], row["birth_date"],
        row["sex"], row["moved_out_on"], row["deceased_on"], row["needs_care"],
        row["priority_group"], _doses(doses), elsewhere=False,
    )  # fmt: skip


async def venue_of(principal: Principal) -> Venue:
    """The venue an operator records at (clerks record as their municipality)."""
    if principal.municipality_code is None:
        raise CrossingRefused("no municipality")
    name = ""
    if principal.venue_id is not None:
        name = (
            await current_connection().fetchval(
                "SELECT name FROM venue WHERE id = $1", principal.venue_id
            )
            or ""
        )
    return Venue(principal.municipality_code, principal.venue_id, name)


async def identify(
    ticket: TicketCode, stated_birth: dt.date, *, venue: Venue, actor: Principal, lock: bool = False
) -> Identity | None:
    """The person a ticket names, or None; raises :class:`IdentityMismatch` (own area).

    Our own resident is read (``lock`` holds them until commit; the doses are
    read after the lock is granted, so a save another tablet just committed is
    counted) and their birth date compared here. Another area's resident comes
    through the crossing, which compares the birth date itself and answers
    nothing on a mismatch.
    """
    connection = current_connection()
    if ticket.municipality_code == venue.municipality_code:
        row = await connection.fetchrow(
            _OWN_PERSON + (" FOR UPDATE OF r" if lock else ""),
            ticket.municipality_code,
            ticket.ticket_number,
        )
        if row is None:
            return None
        doses = await connection.fetchval(_OWN_DOSES, ticket.municipality_code, row["id"])
        identity = _own_identity(row, row["id"], ticket.municipality_code, doses)
        if identity.birth_date != stated_birth:
            raise IdentityMismatch(identity)
        return identity
    if venue.venue_id is None:
        raise CrossingRefused(ticket.municipality_code)
    row = await connection.fetchrow(
        "SELECT * FROM vrs_confirm_ticket_elsewhere($1, $2, $3, $4, $5)",
        ticket.municipality_code, ticket.ticket_number, stated_birth, venue.venue_id,
        actor.account_id,
    )  # fmt: skip
    if row is None:
        return None
    return Identity(
        row["resident_id"], ticket.municipality_code, row["name"], row["name_kana"], stated_birth,
        None, None, None, None, None, _doses(row["previous_doses"]), elsewhere=True,
    )  # fmt: skip


async def confirm_ticket(
    ticket: TicketCode, stated_birth: dt.date, *, venue: Venue, actor: Principal,
    identity_reason: str = "",
) -> Identity:  # fmt: skip
    """The tablet's look-up: the person, only once their stated birth date matched.

    Raises :class:`TicketUnknown`, :class:`IdentityMismatch` (counted in the
    venue's log) or :class:`CrossingRefused`. With ``identity_reason`` (the
    registry's birth date is wrong) our own resident is shown anyway, audited.
    """
    try:
        identity = await identify(ticket, stated_birth, venue=venue, actor=actor)
    except IdentityMismatch as mismatch:
        if not identity_reason.strip():
            await _count_mismatch(ticket, venue, actor)
            raise
        identity = mismatch.identity
        await audit("venue.identity_override", actor=actor, municipality_code=venue.municipality_code,
                    object_type="resident", object_id=str(identity.resident_id),
                    details={"venue_id": venue.venue_id, "reason": identity_reason})  # fmt: skip
        return identity
    if identity is None:
        if ticket.municipality_code != venue.municipality_code:
            await _count_mismatch(
                ticket, venue, actor
            )  # unknown or unconfirmed: the venue can't tell
        raise TicketUnknown(ticket.ticket_number)
    await audit(
        "resident.view" if not identity.elsewhere else "ticket.identify_elsewhere",
        actor=actor,
        municipality_code=venue.municipality_code,
        object_type="resident" if not identity.elsewhere else "ticket",
        object_id=str(identity.resident_id) if not identity.elsewhere else ticket.ticket_number,
        details={"channel": "venue", "ticket_municipality": ticket.municipality_code},
    )
    return identity


async def _count_mismatch(ticket: TicketCode, venue: Venue, actor: Principal) -> None:
    await audit("venue.identity_mismatch", actor=actor, municipality_code=venue.municipality_code,
                object_type="ticket", object_id=ticket.ticket_number,
                details={"venue_id": venue.venue_id, "ticket_municipality": ticket.municipality_code})  # fmt: skip


async def identify_limit_reached(
    actor: Principal, *, channel: str, venue_id: Any, **details: Any
) -> None:
    """Audit a save or upload refused because the account's look-up budget is spent.

    ``VRS_RATE_IDENTIFY_PER_HOUR`` counts what could tell a ticket holder's birth date
    (look-ups, saves that are not the usual one, CSV rows that match no holder); the
    refusal is logged in the venue's area, like a mismatch.
    """
    await audit("venue.identify_limit", actor=actor, municipality_code=actor.municipality_code,
                object_type="account", object_id=str(actor.account_id),
                details={"channel": channel, "venue_id": venue_id, **details})  # fmt: skip


async def mismatches_today(venue: Venue, today: dt.date) -> int:
    """How many stated birth dates did not match at this venue today (the venue's log)."""
    count = await current_connection().fetchval(
        "SELECT count(*) FROM audit_event WHERE municipality_code = $1"
        " AND action = 'venue.identity_mismatch' AND occurred_at >= $3::date - interval '9 hours'"
        " AND ($2::uuid IS NULL OR details->>'venue_id' = $2::text)",
        venue.municipality_code,
        venue.venue_id,
        today,
    )
    return int(count)


def default_dose_number(identity: Identity, ticket: TicketCode) -> int | None:
    """The ticket's dose number; our own resident's next dose when the ticket has none.

    Never derived from another area's history: that would tell the venue how
    many doses the person had.
    """
    if ticket.dose_number is not None:
        return ticket.dose_number
    return None if identity.elsewhere else expected_dose_number(identity.person())


_STORED = (
    "SELECT id, quality, quality_reasons, request_fingerprint, dose_number, vaccinated_on,"
    " product, lot_number, volume_ml, doctor_name FROM vaccination"
    " WHERE municipality_code = $1 AND idempotency_key = $2"
)


async def _existing(request: DoseRequest, caller: str) -> dict[str, Any] | None:
    connection = current_connection()
    municipality = request.ticket.municipality_code
    if municipality == caller:
        row = await connection.fetchrow(_STORED, municipality, request.idempotency_key)
        return dict(row) if row else None
    found = await connection.fetchrow(
        "SELECT * FROM vrs_dose_elsewhere_by_key_v2($1, $2)", municipality, request.idempotency_key
    )
    if found is None:
        return None
    return {**dict(found), "quality": "ok", "quality_reasons": "[]"}


async def _key_taken_in_another_area(request: DoseRequest, caller: str) -> bool:
    """This caller used the key for a record of another area than the ticket's.

    Such a record was made for another ticket (a ticket belongs to one area), so the
    key is reused with another body: our own area's records, and the ones this area
    saved elsewhere (F8, ``vrs_key_used_elsewhere``).
    """
    connection = current_connection()
    municipality = request.ticket.municipality_code
    key = request.idempotency_key
    if municipality != caller and await connection.fetchval(
        "SELECT 1 FROM vaccination WHERE municipality_code = $1 AND idempotency_key = $2",
        caller, key,
    ):  # fmt: skip
        return True
    return bool(
        await connection.fetchval("SELECT vrs_key_used_elsewhere($1, $2)", key, municipality)
    )


async def _hold_key(request: DoseRequest, caller: str) -> None:
    """Hold (caller, key) until commit, before the key is looked at and before any person.

    Two saves with one key for tickets of two areas see each other's records only
    through the checks below; ``vrs_save_dose`` takes the same lock. A statement of its
    own: the checks after it read what the save that held the lock committed (READ
    COMMITTED), so the second save replays or is refused as a retry would be.
    """
    await current_connection().execute(
        "SELECT pg_advisory_xact_lock(vrs_idempotency_lock_key($1, $2))",
        caller, request.idempotency_key,
    )  # fmt: skip


_COMPARED = ("product", "lot_number", "volume_ml", "doctor_name", "dose_number", "vaccinated_on")


def _same_request(request: DoseRequest, stored: dict[str, Any]) -> bool:
    """The stored record was made by this very request (fingerprint, else its fields)."""
    if stored.get("request_fingerprint"):
        return bool(stored["request_fingerprint"] == request.fingerprint)
    return all(
        str(stored[name]) == str(getattr(request, name)) for name in _COMPARED if name in stored
    )


def _recorded_again(row: dict[str, Any]) -> Recorded:
    reasons = row["quality_reasons"]
    return Recorded(
        row["id"],
        False,
        row["quality"],
        json.loads(reasons) if isinstance(reasons, str) else list(reasons),
        dose_number=row.get("dose_number"),
        vaccinated_on=row.get("vaccinated_on"),
    )


async def save_in_two_statements(
    request: DoseRequest, *, actor: Principal, today: dt.date, venue_name: str = "",
    budget: Budget | None = None,
) -> tuple[Recorded, Identity] | None:  # fmt: skip
    """The usual save in two statements; None when :func:`record_dose` must decide.

    For a ticket of the operator's own area whose holder's birth date is the
    stated one and a new idempotency key: one statement reads the venue, the
    person, their active doses and whether the key was used
    (``vrs_save_context``); the rules judge here; one statement holds the key
    (as :func:`record_dose` does) and locks the person for its own short
    transaction, checks the key is still new and their doses are still the
    ones judged, writes the record, its audit event and the venue-log line,
    and commits (``vrs_save_dose``). No BEGIN, ``set_config`` or COMMIT trip:
    each function sets the area for its own implicit transaction.

    Everything else returns None without writing: another area's ticket, an
    unknown ticket, a birth date that differs, a key used before, and a race
    lost to another tablet (a dose of the person changed since the read, or
    the key was used meanwhile), and a dose the rules refuse (the refusal would
    tell that the stated birth date matched). The caller then runs
    :func:`record_dose` in a tenant transaction, which decides those with the
    person locked. Raises :class:`VenueClosed` (nothing written).

    ``budget`` is the account's look-up budget (``identify``), which the locked path
    counts in; the read says whether it is spent (``identify_spent``), and a spent one
    returns None whatever the birth date, so the locked path refuses the save as it
    refuses a wrong guess beyond the budget. A right guess would otherwise be stored
    where a wrong one is refused. The usual save does not spend the budget.
    """
    municipality = actor.municipality_code
    if municipality is None or request.ticket.municipality_code != municipality:
        return None
    try:
        row = await _read_context({
            "municipality": municipality, "venue": _text(actor.venue_id),
            "ticket": request.ticket.ticket_number, "key": request.idempotency_key,
            "budget_key": budget.row_key if budget else None,
            "budget_allowed": budget.allowed if budget else None,
        })  # fmt: skip
    except SharedStatementRefused:
        return None  # the locked path reads again
    if not row["venue_open"]:
        raise VenueClosed(actor.venue_id)
    if row["identify_spent"]:
        return None  # the locked path counts it and refuses it, as any save beyond the budget
    if row["resident_id"] is None or row["key_used"] or row["birth_date"] != request.birth_date:
        return None
    identity = _own_identity(row, row["resident_id"], municipality, row["doses"])
    venue = Venue(municipality, actor.venue_id, row["venue_name"] or venue_name)
    try:
        _, quality, reasons = _judged(request, identity, await _master_data(), today)
    except DoseRefused:
        return None  # a refusal answers only after the caller counted it (as a look-up)
    dose = {
        "municipality": municipality, "resident": str(identity.resident_id),
        "judged": json.loads(row["doses"]), "ticket": request.ticket.ticket_number,
        "ticket_type": request.ticket.ticket_type or "1", "dose_number": request.dose_number,
        "vaccinated_on": _text(request.vaccinated_on), "venue_name": venue.name,
        "venue": _text(venue.venue_id), "doctor": request.doctor_name, "product": request.product,
        "lot": request.lot_number, "volume": _text(request.volume_ml), "quality": quality,
        "reasons": reasons, "source": request.source, "key": request.idempotency_key,
        "actor": _text(actor.account_id), "actor_role": str(actor.role),
        "fingerprint": request.fingerprint,
    }  # fmt: skip
    try:
        written = await _write_dose(dose)
    except SharedStatementRefused:
        return None  # e.g. a unique index: another tablet's dose of the same number or day
    # stale or replayed: nothing of this save was written, the locked path decides.
    if written["outcome"] != "created":
        return None
    return Recorded(written["vaccination_id"], True, quality, _shown(reasons, identity),
                    request.dose_number, request.vaccinated_on), identity  # fmt: skip


#: The save's read and write, shared by the saves in flight at the same moment.
_read_context = SharedStatement("vrs_save_contexts")
_write_dose = SharedStatement("vrs_save_doses")


def _text(value: Any) -> str | None:
    """A UUID, date or decimal as JSON text (None stays null)."""
    return None if value is None else str(value)


async def _master_data() -> Any:
    """The master data, on a connection of its own only when the cache must be checked."""
    recent = recent_master_data()
    if recent is not None:
        return recent
    async with tenantless_statement() as connection:
        return await master_data(connection)


async def record_dose(
    request: DoseRequest, *, venue: Venue, actor: Principal, today: dt.date,
    keep_unmatched: bool = False,
) -> tuple[Recorded, Identity | None]:  # fmt: skip
    """Save one dose once.

    Raises :class:`TicketUnknown`, :class:`IdentityMismatch`,
    :class:`IdempotencyConflict` or :class:`DoseRefused`. With
    ``keep_unmatched`` (CSV rows, saves queued offline) a dose whose stated
    birth date does not match is kept as an unmatched 要修正 record instead:
    a real dose is never lost and never put on the wrong person. The identity
    is then None.
    """
    caller = venue.municipality_code
    stated = request.birth_date
    assert stated is not None, "parse_dose requires the stated birth date"
    await _hold_key(request, caller)
    override_identity = False
    try:
        identity = await identify(request.ticket, stated, venue=venue, actor=actor, lock=True)
    except IdentityMismatch as mismatch:
        if request.identity_reason.strip():
            identity, override_identity = mismatch.identity, True
        elif keep_unmatched:
            return await _keep_unmatched_or_again(request, venue, actor, today), None
        else:
            await _count_mismatch(request.ticket, venue, actor)
            raise
    if identity is None:
        if keep_unmatched and request.ticket.municipality_code == caller:
            return await store_unmatched(request, venue, actor, today), None
        if keep_unmatched and request.ticket.municipality_code != caller and venue.venue_id:
            # Another area: only its crossing knows whether the ticket exists; it keeps the
            # dose unmatched in the resident's area when the birth date differs.
            return await _record_unconfirmed_elsewhere(request, venue, actor), None
        raise TicketUnknown(request.ticket.ticket_number)
    existing = await _existing(request, caller)
    if existing is not None:
        if not _same_request(request, existing):
            raise IdempotencyConflict(request.idempotency_key, existing)
        return _recorded_again(existing), identity
    if await _key_taken_in_another_area(request, caller):
        raise IdempotencyConflict(request.idempotency_key, {})  # for another ticket's area
    verdict, quality, reasons = _judged(request, identity, await master_data(), today)
    if override_identity:
        quality = "must_fix"
        reasons.append(
            {"rule": "identity_confirmed", "effect": "must_fix", "key": "quality.birth_date_unconfirmed",
             "params": {"stated": stated.isoformat()}, "override_reason": request.identity_reason}
        )  # fmt: skip
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
        raise DoseRefused(
            _for_venue(verdict.stops or [_duplicate_finding(request)], identity), verdict, identity
        ) from None
    if created:
        await _venue_log(request, venue, actor, vaccination_id)
    return Recorded(vaccination_id, created, quality, _shown(reasons, identity),
                    request.dose_number, request.vaccinated_on), identity  # fmt: skip


def _judged(
    request: DoseRequest, identity: Identity, master: Any, today: dt.date
) -> tuple[Verdict, str, list[dict[str, Any]]]:
    """The rules' verdict, the record's quality and its stored reasons; raises :class:`DoseRefused`."""
    given = DoseInput(request.dose_number, request.vaccinated_on, request.product,
                      request.lot_number, request.volume_ml)  # fmt: skip
    verdict = judge(given, identity.person(), master, today)
    blocking = verdict.blocking(request.override_reason)
    if blocking:
        raise DoseRefused(_for_venue(blocking, identity), verdict, identity)
    return (verdict, verdict.quality(request.override_reason),
            verdict.stored_reasons(request.override_reason))  # fmt: skip


def _shown(recorded_reasons: list[dict[str, Any]], identity: Identity) -> list[dict[str, Any]]:
    return [f.as_dict() for f in _for_venue([_finding(r) for r in recorded_reasons], identity)]


def _finding(stored: dict[str, Any]) -> Finding:
    return Finding(
        stored["rule"], Effect(stored["effect"]), stored["key"], stored.get("params", {})
    )


#: Findings that quote another area's dose history (dates, counts): a venue sees them redacted.
_HISTORY_FINDINGS = {
    "rule.same_day", "rule.same_dose_number", "rule.dose_before_previous", "rule.dose_after_next",
    "rule.interval_too_short", "rule.not_next_dose", "rule.cross_vaccination",
    "rule.interval_unusually_long",
}  # fmt: skip


def _for_venue(findings: list[Finding], identity: Identity) -> list[Finding]:
    """What a venue may be told: another area's dose dates and counts stay there."""
    if not identity.elsewhere:
        return findings
    return [
        Finding(f.rule, f.effect, "rule.conflicts_with_home_records", {}, f.overridable)
        if f.key in _HISTORY_FINDINGS
        else f
        for f in findings
    ]


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
        recorded_by, recorded_at, updated_at, request_fingerprint)
    VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $1, $7, $8, $9, $10, $11, $12, 'active', $13,
        $14::jsonb, $15, $16, 1, $17, now(), now(), $19)
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
    identity: Identity | None,
    quality: str,
    reasons: list[dict[str, Any]],
) -> tuple[UUID, bool]:
    connection = current_connection()
    new_id = await connection.fetchval(
        _INSERT_OWN,
        venue.municipality_code, identity.resident_id if identity else None,
        request.ticket.ticket_number, request.ticket.ticket_type or "1", request.dose_number,
        request.vaccinated_on, venue.name, venue.venue_id, request.doctor_name, request.product,
        request.lot_number, request.volume_ml, quality, json.dumps(reasons, ensure_ascii=False),
        request.source, request.idempotency_key, actor.account_id, str(actor.role),
        request.fingerprint,
    )  # fmt: skip
    if new_id is not None:
        return new_id, True
    existing = await _existing(request, venue.municipality_code)
    assert existing is not None
    if not _same_request(request, existing):
        raise IdempotencyConflict(request.idempotency_key, existing)
    return existing["id"], False


async def _insert_elsewhere(
    request: DoseRequest,
    venue: Venue,
    actor: Principal,
    quality: str,
    reasons: list[dict[str, Any]],
    *,
    keep_unmatched: bool = False,
) -> tuple[UUID, bool]:
    row = await current_connection().fetchrow(
        "SELECT * FROM vrs_record_confirmed_dose_elsewhere($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12, $13::jsonb, $14, $15, $16, $17, $18, $19)",
        request.ticket.municipality_code, request.ticket.ticket_number, request.ticket.ticket_type or "1",
        request.dose_number, request.vaccinated_on, venue.venue_id, venue.name, request.doctor_name,
        request.product, request.lot_number, request.volume_ml, quality,
        json.dumps(reasons, ensure_ascii=False), request.source, request.idempotency_key, actor.account_id,
        request.birth_date, keep_unmatched, request.fingerprint,
    )  # fmt: skip
    return row["vaccination_id"], row["created"]


def _basic_findings(request: DoseRequest, master: Any, today: dt.date) -> list[Finding]:
    """What can be judged without the person: the date, the product, the lot."""
    given = DoseInput(request.dose_number, request.vaccinated_on, request.product,
                      request.lot_number, request.volume_ml)  # fmt: skip
    return [
        finding
        for check in (date_in_range, known_product, lot_valid)
        for finding in check(given, Person(dt.date(1900, 1, 1)), master, today)
    ]


async def store_unmatched(
    request: DoseRequest, venue: Venue, actor: Principal, today: dt.date,
    reason_key: str = "quality.ticket_unknown",
) -> Recorded:  # fmt: skip
    """Keep a dose no registered person was confirmed for, unmatched (要修正), for the clerk (F4).

    Raises :class:`DoseRefused` when the dose itself is impossible (date, product, lot).
    """
    stops = _basic_findings(request, await master_data(), today)
    if stops:
        raise DoseRefused(stops, Verdict(tuple(stops)))
    existing = await _existing(request, venue.municipality_code)
    if existing is not None:
        if not _same_request(request, existing):
            raise IdempotencyConflict(request.idempotency_key, existing)
        return _recorded_again(existing)
    reasons = [{"rule": reason_key.split(".")[-1], "effect": "must_fix", "key": reason_key,
                "params": {}}]  # fmt: skip
    vaccination_id, created = await _insert_own(request, venue, actor, None, "must_fix", reasons)
    return Recorded(vaccination_id, created, "must_fix", reasons, request.dose_number,
                    request.vaccinated_on, unmatched=True)  # fmt: skip


async def _keep_unmatched_or_again(
    request: DoseRequest, venue: Venue, actor: Principal, today: dt.date
) -> Recorded:
    return await store_unmatched(request, venue, actor, today, "quality.identity_mismatch")


async def _record_unconfirmed_elsewhere(
    request: DoseRequest, venue: Venue, actor: Principal
) -> Recorded:
    """Another area's dose whose birth date the crossing did not confirm: kept there, unmatched."""
    try:
        vaccination_id, created = await _insert_elsewhere(
            request, venue, actor, "must_fix", [], keep_unmatched=True
        )
    except asyncpg.RaiseError as exc:
        hint = str(getattr(exc, "hint", ""))
        if hint in ("ticket_unknown", "not_accepting"):
            raise TicketUnknown(request.ticket.ticket_number) from None
        if hint == "venue_only":
            raise CrossingRefused(request.ticket.municipality_code) from None
        raise
    return Recorded(vaccination_id, created, "must_fix", [], request.dose_number,
                    request.vaccinated_on, unmatched=True)  # fmt: skip


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


async def resident_doses(resident_id: UUID) -> list[dict[str, Any]] | None:
    """A resident's records in the caller's own area; None when no such resident (RLS)."""
    connection = current_connection()
    rows = await connection.fetch(
        "SELECT id, dose_number, vaccinated_on, product, lot_number, volume_ml, venue_name,"
        " vaccinated_by_municipality_code, status, quality, version FROM vaccination"
        " WHERE resident = $1 ORDER BY vaccinated_on, dose_number",
        resident_id,
    )
    if not rows and not await connection.fetchval(
        "SELECT count(*) FROM resident WHERE id = $1", resident_id
    ):
        return None
    return [dict(r) for r in rows]
