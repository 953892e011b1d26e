"""Inter-municipality inquiry (F7 接種記録の照会): single, bulk, the log, prior doses.

Answers come only through the crossings ``vrs_inquire_records`` and
``vrs_inquire_records_bulk``, which return exactly the seed's provided fields
(外部への資料提供) from municipalities that agreed to provide them and log the
inquiry in each answering area. The asking side logs here (:class:`Inquiry`)
and in its audit log. My Numbers are hashed before any query and kept only
masked in the log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from common.clock import JAPAN_ZONE_NAME
from common.identifiers import mask_my_number
from db.engine import current_connection

#: The seed's provided fields, in its order (氏名 … 接種会場), as the result keys.
PERSON_FIELDS = ("name", "birth_date", "sex", "ticket_numbers", "priority_group", "needs_care")
DOSE_FIELDS = (
    "dose_number", "vaccinated_on", "product", "lot_number", "volume_ml",
    "vaccinated_by_municipality_code", "venue_name",
)  # fmt: skip


class InquiryRefused(Exception):
    """The inquiry cannot be made; ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class Answer:
    """What one municipality returned about one person."""

    municipality_code: str
    municipality_name: str
    person: dict[str, Any]
    doses: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "municipality_code": self.municipality_code,
            "municipality_name": self.municipality_name,
            **self.person,
            "doses": self.doses,
        }


def _answers(rows: list[Any]) -> list[Answer]:
    blocks: dict[str, Answer] = {}
    for r in rows:
        block = blocks.get(r["municipality_code"])
        if block is None:
            block = blocks[r["municipality_code"]] = Answer(
                r["municipality_code"],
                r["municipality_name"],
                {k: (list(r[k]) if k == "ticket_numbers" else r[k]) for k in PERSON_FIELDS},
            )
        if r["dose_number"] is not None:
            block.doses.append({k: r[k] for k in DOSE_FIELDS})
    return list(blocks.values())


async def _local_resident(my_number_hmac: str) -> UUID | None:
    """This area's resident holding that My Number (any state but erased), if any."""
    found: UUID | None = await current_connection().fetchval(
        "SELECT id FROM resident WHERE my_number_hmac = $1 AND status <> 'erased'"
        " ORDER BY status = 'active' DESC LIMIT 1",
        my_number_hmac,
    )
    return found


async def _own_numbers(my_number_hmacs: list[str]) -> set[str]:
    """Which of these My Numbers this area holds on its own resident records."""
    rows = await current_connection().fetch(
        "SELECT DISTINCT my_number_hmac FROM resident"
        " WHERE my_number_hmac = ANY($1::text[]) AND status <> 'erased'",
        my_number_hmacs,
    )
    return {r["my_number_hmac"] for r in rows}


async def _reserve_daily(municipality_code: str, persons: int, daily_max: int) -> None:
    """Refuse when today's persons (Japan time) plus these would pass the daily cap.

    An advisory lock per municipality makes check-and-log one step: two
    parallel requests cannot both fit under the cap.
    """
    connection = current_connection()
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtext('vrs-inquiry-day:' || $1))", municipality_code
    )
    today = await connection.fetchval(
        "SELECT coalesce(sum(subject_count), 0) FROM inquiry WHERE made_at >="
        " (date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1)",
        JAPAN_ZONE_NAME,
    )
    if today + persons > daily_max:
        raise InquiryRefused("inquiry.daily_limit", limit=daily_max)


async def _log(
    municipality_code: str,
    kind: str,
    actor: Any,
    consent_basis: str,
    subjects: list[dict[str, Any]],
    answering: set[str],
) -> UUID:
    connection = current_connection()
    inquiry_id: UUID = await connection.fetchval(
        "INSERT INTO inquiry (municipality_code, kind, actor, actor_login, consent_basis,"
        " subjects, subject_count, answered_count, answering_municipalities, made_at)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::jsonb, now()) RETURNING id",
        municipality_code,
        kind,
        actor.account_id,
        actor.login,
        consent_basis[:512],
        json.dumps(subjects, default=str),
        len(subjects),
        sum(1 for s in subjects if s.get("answers")),
        json.dumps(sorted(answering)),
    )
    await connection.execute(
        "INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,"
        " object_type, object_id, details) VALUES ($1, now(), $2, $3, 'inquiry.made',"
        " 'inquiry', $4, $5::jsonb)",
        municipality_code,
        actor.account_id,
        str(actor.role),
        str(inquiry_id),
        json.dumps({"kind": kind, "persons": len(subjects), "answering": sorted(answering)}),
    )
    return inquiry_id


async def inquire(
    municipality_code: str,
    my_number: str,
    my_number_hmac: str,
    consent_basis: str,
    actor: Any,
    *,
    daily_max: int = 3000,
) -> list[Answer]:
    """A single inquiry for one (validated) My Number, with a recorded consent basis.

    Only about this area's own resident (the person moved here): a My Number
    not on one of its resident records is refused, here and in the crossing.
    """
    basis = consent_basis.strip()
    if not basis:
        raise InquiryRefused("inquiry.consent_listed")
    local = await _local_resident(my_number_hmac)
    if local is None:
        raise InquiryRefused("inquiry.not_own_resident")
    await _reserve_daily(municipality_code, 1, daily_max)
    rows = await current_connection().fetch(
        "SELECT * FROM vrs_inquire_records($1, $2, $3)", my_number_hmac, actor.account_id, basis
    )
    answers = _answers(rows)
    subject = {
        "my_number": mask_my_number(my_number),
        "resident": str(local) if local else None,
        "answers": len(answers),
    }
    await _log(
        municipality_code, "single", actor, basis, [subject], {a.municipality_code for a in answers}
    )
    return answers


@dataclass
class BulkRequest:
    """One line of a bulk inquiry file, checked."""

    line: int
    my_number: str | None
    my_number_hmac: str | None
    consent_basis: str
    problem: str = ""
    """A message key when the line is not inquired (bad number, no consent)."""


async def inquire_bulk(
    municipality_code: str, requests: list[BulkRequest], actor: Any, *, daily_max: int = 3000
) -> list[tuple[BulkRequest, list[Answer]]]:
    """Many persons in one set-based crossing; lines with a problem are not sent.

    A My Number this area does not hold on its own resident records is a
    problem of its line (``inquiry.not_own_resident``), not an inquiry.
    """
    own = await _own_numbers([r.my_number_hmac for r in requests if r.my_number_hmac])
    for r in requests:
        if not r.problem and r.my_number_hmac not in own:
            r.problem = "inquiry.not_own_resident"
    await _reserve_daily(municipality_code, len(requests), daily_max)  # every line counts
    asked = [r for r in requests if not r.problem]
    rows = await current_connection().fetch(
        "SELECT * FROM vrs_inquire_records_bulk($1::text[], $2::text[], $3)",
        [r.my_number_hmac for r in asked],
        [r.consent_basis for r in asked],
        actor.account_id,
    )
    by_ordinal: dict[int, list[Any]] = {}
    for row in rows:
        by_ordinal.setdefault(row["ordinal"], []).append(row)
    results = {id(r): _answers(by_ordinal.get(i, [])) for i, r in enumerate(asked, start=1)}
    subjects = [
        {
            "line": r.line,
            "my_number": mask_my_number(r.my_number) if r.my_number else "",
            "answers": len(results.get(id(r), [])),
            "refused": r.problem or None,
        }
        for r in requests
    ]
    answering = {a.municipality_code for answers in results.values() for a in answers}
    bases = sorted({r.consent_basis for r in asked})
    await _log(municipality_code, "bulk", actor, " / ".join(bases)[:512], subjects, answering)
    return [(r, results.get(id(r), [])) for r in requests]


async def register_prior_doses(
    municipality_code: str, my_number_hmac: str, answers: list[Answer], actor: Any
) -> tuple[int, bool]:
    """Record the returned doses as the local resident's prior doses (source 'inquiry').

    Idempotent: each dose is keyed by where it came from, so registering twice
    adds nothing. Returns (doses added, whether a local resident was found).
    """
    connection = current_connection()
    resident = await _local_resident(my_number_hmac)
    if resident is None:
        return 0, False
    ticket = await connection.fetchval(
        "SELECT ticket_number FROM ticket WHERE resident = $1"
        " ORDER BY (status = 'valid') DESC, created_at DESC LIMIT 1",
        resident,
    )
    added = 0
    for answer in answers:
        for dose in answer.doses:
            origin = "|".join(
                str(x)
                for x in (
                    answer.municipality_code,
                    dose["dose_number"],
                    dose["vaccinated_on"],
                    dose["lot_number"],
                )
            )
            key = "inquiry:" + hashlib.sha256(f"{resident}|{origin}".encode()).hexdigest()[:48]
            new_id = await connection.fetchval(
                "INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number,"
                " vaccinated_on, vaccinated_by_municipality_code, venue_name, doctor_name,"
                " product, lot_number, volume_ml, source, idempotency_key, recorded_by,"
                " quality_reasons) VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $9, $10,"
                " 'inquiry', $11, $12, $13::jsonb) ON CONFLICT DO NOTHING RETURNING id",
                municipality_code,
                resident,
                ticket or (answer.person["ticket_numbers"] or [""])[0],
                dose["dose_number"],
                dose["vaccinated_on"],
                dose["vaccinated_by_municipality_code"],
                dose["venue_name"],
                dose["product"],
                dose["lot_number"],
                dose["volume_ml"],
                key,
                actor.account_id,
                json.dumps([{"source": "inquiry", "from": answer.municipality_code}]),
            )
            if new_id is not None:
                added += 1
                await connection.execute(
                    "INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role,"
                    " action, object_type, object_id, details) VALUES ($1, now(), $2, $3,"
                    " 'vaccination.create', 'vaccination', $4, $5::jsonb)",
                    municipality_code,
                    actor.account_id,
                    str(actor.role),
                    str(new_id),
                    json.dumps({"source": "inquiry", "from": answer.municipality_code}),
                )
    return added, True


async def inquiry_log(limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    """Inquiries this area made, and inquiries it answered (from its audit log)."""
    connection = current_connection()
    made = await connection.fetch(
        "SELECT id, kind, actor_login, consent_basis, subject_count, answered_count,"
        " answering_municipalities, subjects, made_at FROM inquiry ORDER BY made_at DESC LIMIT $1",
        limit,
    )
    answered = await connection.fetch(
        "SELECT occurred_at, actor, object_id AS inquiring_municipality, details FROM audit_event"
        " WHERE action = 'inquiry.answered' ORDER BY occurred_at DESC LIMIT $1",
        limit,
    )

    def decoded(row: Any) -> dict[str, Any]:
        values = dict(row)
        for k in ("answering_municipalities", "subjects", "details"):
            if isinstance(values.get(k), str):
                values[k] = json.loads(values[k])
        return values

    return {"made": [decoded(r) for r in made], "answered": [decoded(r) for r in answered]}
