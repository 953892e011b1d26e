"""Reissuing a resident's ticket at the counter (接種券の再発行: a lost ticket).

The old ticket is not deleted: it becomes ``reissued`` (a recorded state), so a
venue scanning it finds nobody and is told why. The new ticket gets an unused
10-digit number of the area, drawn at random (ticket numbers carry no check
digit; the 18-digit line adds the type, the dose and the municipality code with
its check digit), with the old one's type and dose number. Who, when and why go
to the resident's history (``resident_version``, source ``ticket``: the items
unchanged, the snapshot naming the old and new numbers) and to the audit log.

Posting the same reissue twice (a double click, a resent form) issues one
ticket: the resident is locked, and an old ticket already replaced at the
counter answers with the ticket that replaced it.

A later CSV re-import that still names the old number does not bring it back:
see the guard in ``residents_2026_12_07t10_10_00_000000``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.audit.queries import record as audit
from db.engine import current_connection
from db.residents.editing import snapshot

#: The ``resident_version.source`` of a counter reissue.
SOURCE = "ticket"
#: Draws before giving up on finding an unused number (10^10 numbers: never reached).
_DRAWS = 20


class ReissueRefused(ValueError):
    """The reissue cannot be made; ``key`` names the message, ``field`` the form field."""

    def __init__(self, key: str, field: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.field = field


@dataclass(frozen=True)
class Reissued:
    """The replaced ticket, the new one, and whether this request issued it."""

    old: str
    new: str
    issued_now: bool


async def _replaced_by(resident_id: UUID, ticket_number: str) -> str | None:
    """The ticket that replaced ``ticket_number`` at the counter, if it was."""
    found = await current_connection().fetchval(
        "SELECT snapshot -> 'ticket_reissued' ->> 'new' FROM resident_version"
        " WHERE resident = $1 AND source = $2 AND snapshot -> 'ticket_reissued' ->> 'old' = $3"
        " ORDER BY version DESC LIMIT 1",
        resident_id,
        SOURCE,
        ticket_number,
    )
    return None if found is None else str(found)


async def _insert_new_ticket(old: Any, today: dt.date) -> str:
    connection = current_connection()
    for _ in range(_DRAWS):
        number = f"{secrets.randbelow(10**10):010d}"
        inserted = await connection.fetchval(
            "INSERT INTO ticket (municipality_code, ticket_number, resident, ticket_type,"
            " dose_number, issued_on, status) VALUES ($1, $2, $3, $4, $5, $6, 'valid')"
            " ON CONFLICT (municipality_code, ticket_number) DO NOTHING RETURNING ticket_number",
            old["municipality_code"], number, old["resident"], old["ticket_type"],
            old["dose_number"], today,
        )  # fmt: skip
        if inserted:
            return str(inserted)
    raise RuntimeError("no unused ticket number found")


async def reissue_ticket(
    resident_id: UUID, ticket_number: str, *, reason: str, today: dt.date, actor: Any
) -> Reissued | None:
    """Replace one of the resident's valid tickets by a new number; None if no such resident here.

    Raises :class:`ReissueRefused` for an erased resident or a ticket that is not one of the
    resident's valid tickets (and was not replaced at the counter already).
    """
    connection = current_connection()
    row = await connection.fetchrow("SELECT * FROM resident WHERE id = $1 FOR UPDATE", resident_id)
    if row is None:
        return None
    if row["status"] != "active":
        raise ReissueRefused("residents.edit_erased")
    old = await connection.fetchrow(
        "SELECT * FROM ticket WHERE resident = $1 AND ticket_number = $2 FOR UPDATE",
        resident_id,
        ticket_number,
    )
    if old is None:
        raise ReissueRefused("residents.reissue_no_ticket", "ticket_number")
    if old["status"] != "valid":
        replaced = await _replaced_by(resident_id, ticket_number)
        if replaced is None:
            raise ReissueRefused("residents.reissue_not_valid", "ticket_number")
        return Reissued(ticket_number, replaced, issued_now=False)
    new = await _insert_new_ticket(old, today)
    await connection.execute(
        "UPDATE ticket SET status = 'reissued', updated_at = now() WHERE id = $1", old["id"]
    )
    kept = {**snapshot(row), "ticket_reissued": {"old": ticket_number, "new": new}}
    await connection.execute(
        "INSERT INTO resident_version (municipality_code, resident, version, snapshot, source,"
        " changed_by, reason) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
        row["municipality_code"], resident_id, row["version"],
        json.dumps(kept, ensure_ascii=False), SOURCE, actor.account_id, reason,
    )  # fmt: skip
    version: int = row["version"] + 1
    await connection.execute(
        "UPDATE resident SET version = $2, updated_at = now() WHERE id = $1", resident_id, version
    )
    await audit(
        "resident.ticket_reissue",
        actor=actor,
        municipality_code=row["municipality_code"],
        object_type="resident",
        object_id=str(resident_id),
        details={"old": ticket_number, "new": new, "reason": reason, "version": version},
    )
    return Reissued(ticket_number, new, issued_now=True)


async def ticket_state(municipality_code: str, ticket_number: str) -> str | None:
    """A ticket's recorded state in the current area (``valid``, ``reissued``, ``void``)."""
    state = await current_connection().fetchval(
        "SELECT status FROM ticket WHERE municipality_code = $1 AND ticket_number = $2",
        municipality_code,
        ticket_number,
    )
    return None if state is None else str(state)
