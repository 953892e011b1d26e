"""Recording a My Number on one of the area's residents (audited).

An inquiry (F7) is only about the asking municipality's own resident, so a
clerk first records the newcomer's My Number on their resident record. The
number is stored sealed for this area and as its look-up hash; the audit
event names the resident and the masked number, never the number itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from common.identifiers import mask_my_number
from db.audit.queries import record
from db.engine import current_connection
from db.residents.my_number import MyNumberVault


class MyNumberRefused(ValueError):
    """The My Number cannot be recorded; ``key`` names the message."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def record_my_number(
    resident_id: UUID, my_number: str, vault: MyNumberVault, actor: Any
) -> bool:
    """Record a (validated) My Number on a resident of the current area.

    Returns False when no such resident is in the area (RLS hides the others)
    or it is erased. Raises :class:`MyNumberRefused` when another resident of
    the area already holds that number.
    """
    connection = current_connection()
    area = actor.tenant
    hashed = vault.lookup_hash(my_number)
    taken = await connection.fetchval(
        "SELECT 1 FROM resident WHERE my_number_hmac = $1 AND id <> $2 AND status <> 'erased'",
        hashed,
        resident_id,
    )
    if taken:
        raise MyNumberRefused("resident.my_number_taken")
    updated = await connection.fetchval(
        "UPDATE resident SET my_number_ciphertext = $2, my_number_hmac = $3,"
        " version = version + 1, updated_at = now()"
        " WHERE id = $1 AND municipality_code = $4 AND status <> 'erased' RETURNING id",
        resident_id,
        vault.seal(my_number, area),
        hashed,
        area,
    )
    if updated is None:
        return False
    await record(
        "resident.my_number_recorded",
        actor=actor,
        municipality_code=area,
        object_type="resident",
        object_id=str(resident_id),
        details={"my_number": mask_my_number(my_number)},
    )
    return True
