"""Person search and the person record (current area only, under RLS)."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.engine import current_connection

PAGE_SIZE = 20


@dataclass(frozen=True)
class PersonQuery:
    """What the clerk searches by; empty fields are not used."""

    name: str = ""
    """氏名 or カナ氏名, partial."""
    birth_date: dt.date | None = None
    ticket_number: str = ""
    resident_number: str = ""
    my_number_hmac: str = ""
    """The look-up hash of an exact My Number (the number itself never reaches SQL)."""

    @property
    def empty(self) -> bool:
        return not (
            self.name
            or self.birth_date
            or self.ticket_number
            or self.resident_number
            or self.my_number_hmac
        )


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(query: PersonQuery, page: int = 1) -> tuple[list[dict[str, Any]], bool]:
    """One page of matching residents (by kana, then birth date) and whether more follow."""
    conditions = ["TRUE"]
    arguments: list[Any] = []

    def add(sql: str, value: Any) -> None:
        arguments.append(value)
        conditions.append(sql.replace("$?", f"${len(arguments)}"))

    if query.name:
        # Names are stored as imported; both sides are normalised (NFKC, no spaces) here, so
        # finding a person does not depend on how their name was typed (Ａ/A, ｶﾅ/カナ, 　/ ).
        compact = _like(unicodedata.normalize("NFKC", query.name).replace(" ", ""))
        arguments.extend([_like(query.name), compact])
        first, second = len(arguments) - 1, len(arguments)
        conditions.append(
            f"(r.name ILIKE ${first} OR r.name_kana ILIKE ${first}"
            f" OR replace(normalize(r.name, NFKC), ' ', '') ILIKE ${second}"
            f" OR replace(normalize(r.name_kana, NFKC), ' ', '') ILIKE ${second})"
        )
    if query.birth_date:
        add("r.birth_date = $?", query.birth_date)
    if query.resident_number:
        add("r.resident_number = $?", query.resident_number)
    if query.my_number_hmac:
        add("r.my_number_hmac = $?", query.my_number_hmac)
    if query.ticket_number:
        add("EXISTS (SELECT 1 FROM ticket t WHERE t.resident = r.id AND t.ticket_number = $?)",
            query.ticket_number)  # fmt: skip
    arguments.extend([PAGE_SIZE + 1, (max(page, 1) - 1) * PAGE_SIZE])
    rows = await current_connection().fetch(
        "SELECT r.id, r.resident_number, r.name, r.name_kana, r.birth_date, r.sex,"
        " r.moved_out_on, r.deceased_on, r.status,"
        " (SELECT string_agg(t.ticket_number, ' ' ORDER BY t.ticket_number) FROM ticket t"
        "   WHERE t.resident = r.id AND t.status = 'valid') AS tickets"
        f" FROM resident r WHERE {' AND '.join(conditions)}"
        f" ORDER BY r.name_kana, r.birth_date, r.resident_number"
        f" LIMIT ${len(arguments) - 1} OFFSET ${len(arguments)}",
        *arguments,
    )
    found = [dict(r) for r in rows]
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def person(resident_id: UUID) -> dict[str, Any] | None:
    """A resident with tickets, doses (with their earlier versions) and certificate issuances."""
    connection = current_connection()
    resident = await connection.fetchrow("SELECT * FROM resident WHERE id = $1", resident_id)
    if resident is None:
        return None
    tickets = await connection.fetch(
        "SELECT ticket_number, ticket_type, dose_number, issued_on, status, updated_at"
        " FROM ticket WHERE resident = $1 ORDER BY created_at, ticket_number",
        resident_id,
    )
    doses = await connection.fetch(
        "SELECT * FROM vaccination WHERE resident = $1 ORDER BY vaccinated_on, dose_number",
        resident_id,
    )
    versions = await connection.fetch(
        "SELECT vaccination, version, snapshot, changed_at, reason FROM vaccination_version"
        " WHERE vaccination = ANY($1::uuid[]) ORDER BY vaccination, version",
        [d["id"] for d in doses],
    )
    issuances = await connection.fetch(
        "SELECT c.certificate_id, c.kind, c.channel, c.language, c.issued_at, c.revoked_at,"
        " c.revocation_reason, c.source_data -> 'vaccination_ids' AS vaccination_ids,"
        " k.store_id AS kiosk_store, k.terminal_id AS kiosk_terminal,"
        " k.completed_at AS kiosk_completed_at FROM certificate_issuance c"
        " LEFT JOIN kiosk_completion k ON k.certificate_id = c.certificate_id"
        " WHERE c.resident = $1 ORDER BY c.issued_at",
        resident_id,
    )
    history: dict[UUID, list[dict[str, Any]]] = {}
    for v in versions:
        history.setdefault(v["vaccination"], []).append(
            {**dict(v), "snapshot": _json(v["snapshot"])}
        )
    certified: dict[str, list[dict[str, Any]]] = {}
    for i in issuances:
        for dose_id in _json(i["vaccination_ids"]) or []:
            certified.setdefault(str(dose_id), []).append(
                {"certificate_id": i["certificate_id"], "revoked": i["revoked_at"] is not None}
            )
    return {
        "resident": dict(resident),
        "tickets": [dict(t) for t in tickets],
        "doses": [
            {
                **dict(d),
                "quality_reasons": _json(d["quality_reasons"]),
                "versions": history.get(d["id"], []),
                "certificates": certified.get(str(d["id"]), []),
            }
            for d in doses
        ],
        "issuances": [dict(i) for i in issuances],
    }


async def my_number_ciphertext(resident_id: UUID) -> bytes | None:
    """The sealed My Number of a resident, for an explicit, audited reveal."""
    found: bytes | None = await current_connection().fetchval(
        "SELECT my_number_ciphertext FROM resident WHERE id = $1", resident_id
    )
    return found


async def resident_birth_date(resident_id: UUID) -> dt.date | None:
    """A resident's birth date (the edit form checks dates against it), or None if not here."""
    found: dt.date | None = await current_connection().fetchval(
        "SELECT birth_date FROM resident WHERE id = $1", resident_id
    )
    return found


async def dose_certificates(vaccination_id: UUID) -> list[dict[str, Any]]:
    """The certificates that certified a dose (newest first), revoked ones included."""
    rows = await current_connection().fetch(
        "SELECT certificate_id, kind, channel, issued_at, revoked_at, revocation_reason"
        " FROM certificate_issuance WHERE source_data -> 'vaccination_ids' ? $1"
        " ORDER BY issued_at DESC",
        str(vaccination_id),
    )
    return [dict(r) for r in rows]
