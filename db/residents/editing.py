"""A clerk's edit of a resident's own items, with a reason and the old values kept.

Every change writes the resident as it was to ``resident_version`` (who,
when, why, from where) and bumps ``version``, like a dose correction; the
My Number goes through :func:`db.residents.my_number_record.record_my_number`
(the one place that checks it is not another resident's). The snapshot keeps
the old items; of the My Number only whether one was held, its masked form
when the clerk replaces it, and its sealed value (readable only with this
area's key), never the number in clear.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from common.identifiers import mask_my_number
from db.audit.queries import record as audit
from db.engine import current_connection
from db.residents.my_number import MyNumberVault
from db.residents.my_number_record import MyNumberRefused, record_my_number

#: A resident's own items a clerk may edit (the My Number is handled beside them).
EDITABLE = (
    "name",
    "name_kana",
    "former_name",
    "moved_out_on",
    "deceased_on",
    "priority_group",
    "needs_care",
)

#: Items a snapshot keeps (the edited ones and what identifies the person).
SNAPSHOT_ITEMS = (*EDITABLE, "birth_date", "sex", "status")


@dataclass(frozen=True)
class ResidentItems:
    """The edited items as the clerk submitted them (already checked)."""

    name: str
    name_kana: str
    former_name: str
    moved_out_on: dt.date | None
    deceased_on: dt.date | None
    priority_group: str
    needs_care: bool


class ResidentEditRefused(ValueError):
    """The edit cannot be saved; ``key`` names the message, ``field`` the form field."""

    def __init__(self, key: str, field: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.field = field


def snapshot(row: Any) -> dict[str, Any]:
    """The items of a resident row as history keeps them (dates as ISO text)."""
    kept = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k in SNAPSHOT_ITEMS
            for v in (row[k],)}  # fmt: skip
    kept["has_my_number"] = row["my_number_hmac"] is not None
    return kept


async def edit_resident(
    resident_id: UUID,
    items: ResidentItems,
    *,
    my_number: str | None,
    reason: str,
    vault: MyNumberVault,
    actor: Any,
) -> int | None:
    """Save a clerk's edit; returns the new version, or None when no such resident is here.

    Raises :class:`ResidentEditRefused` when nothing changed, the resident is
    erased, or the My Number is another resident's.
    """
    connection = current_connection()
    row = await connection.fetchrow("SELECT * FROM resident WHERE id = $1 FOR UPDATE", resident_id)
    if row is None:
        return None
    if row["status"] != "active":
        raise ResidentEditRefused("residents.edit_erased")
    new = vars(items)
    changed = [k for k in EDITABLE if new[k] != row[k]]
    new_hash = vault.lookup_hash(my_number) if my_number else None
    number_changed = new_hash is not None and new_hash != row["my_number_hmac"]
    if not changed and not number_changed:
        raise ResidentEditRefused("residents.nothing_changed")
    kept = snapshot(row)
    if number_changed and row["my_number_ciphertext"] is not None:
        old = vault.open(row["my_number_ciphertext"], row["municipality_code"])
        kept["my_number"] = mask_my_number(old)
        kept["my_number_sealed"] = bytes(row["my_number_ciphertext"]).hex()
    await connection.execute(
        "INSERT INTO resident_version (municipality_code, resident, version, snapshot, source,"
        " changed_by, reason) VALUES ($1, $2, $3, $4::jsonb, 'edit', $5, $6)",
        row["municipality_code"], resident_id, row["version"],
        json.dumps(kept, ensure_ascii=False), actor.account_id, reason,
    )  # fmt: skip
    if number_changed:
        assert my_number is not None
        try:
            await record_my_number(resident_id, my_number, vault, actor)
        except MyNumberRefused as refused:  # another resident of the area holds it
            raise ResidentEditRefused(refused.key, "my_number") from None
    version: int = row["version"] + 1
    await connection.execute(
        "UPDATE resident SET name = $2, name_kana = $3, former_name = $4, moved_out_on = $5,"
        " deceased_on = $6, priority_group = $7, needs_care = $8, version = $9,"
        " updated_at = now() WHERE id = $1",
        resident_id, items.name, items.name_kana, items.former_name, items.moved_out_on,
        items.deceased_on, items.priority_group, items.needs_care, version,
    )  # fmt: skip
    await audit(
        "resident.edit",
        actor=actor,
        municipality_code=row["municipality_code"],
        object_type="resident",
        object_id=str(resident_id),
        details={
            "fields": changed + (["my_number"] if number_changed else []),
            "reason": reason,
            "version": version,
        },
    )
    return version


async def resident_history(resident_id: UUID) -> list[dict[str, Any]]:
    """The resident's earlier versions, oldest first, with who changed them."""
    rows = await current_connection().fetch(
        "SELECT h.version, h.snapshot, h.source, h.import_job, h.changed_at, h.reason,"
        " a.display_name AS changed_by FROM resident_version h"
        " LEFT JOIN account a ON a.id = h.changed_by"
        " WHERE h.resident = $1 ORDER BY h.version",
        resident_id,
    )
    return [
        {
            **dict(r),
            "snapshot": json.loads(r["snapshot"])
            if isinstance(r["snapshot"], str)
            else r["snapshot"],
        }  # fmt: skip
        for r in rows
    ]


def changes_between(history: list[dict[str, Any]], current: Any) -> list[dict[str, Any]]:
    """Each earlier version with what changed from it to the next (newest first).

    ``changes`` lists (item, old, new); the My Number shows only as registered
    or replaced, never as a number.
    """
    if not history:
        return []
    now = snapshot(current)
    later = [h["snapshot"] for h in history[1:]] + [now]
    shown = []
    for entry, after in zip(history, later, strict=True):
        before = entry["snapshot"]
        if before.get("erased"):
            changes: list[tuple[str, Any, Any]] = []
        else:
            changes = [(k, before.get(k), after.get(k)) for k in SNAPSHOT_ITEMS
                       if k in after and before.get(k) != after.get(k)]  # fmt: skip
            if "my_number_sealed" in before or (
                not before.get("has_my_number") and after.get("has_my_number")
            ):
                changes.append(("my_number", before.get("my_number", ""), "****"))
            if "ticket_reissued" in before:  # a reissue at the counter (db.residents.reissue)
                reissued = before["ticket_reissued"]
                changes.append(("ticket_number", reissued["old"], reissued["new"]))
        shown.append({**entry, "changes": changes})
    return list(reversed(shown))
