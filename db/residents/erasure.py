"""Erasing a resident (確認事項 第5条 消去), municipal admin only, audited.

The personal items go: name, kana, former name, the My Number (sealed value
and look-up hash), the 転出/死亡 dates, the flags, and the personal content of
every earlier version; the birth date keeps only its year (the population
statistics count by age band) and the sex stays. Each dose goes through
``vrs_erase_vaccination`` (ticket, lot, doctor, venue and the link to the
person blanked; dose number, date, product and volume kept as anonymous facts
for statistics). The person's certificates are revoked and their personal
content (passport, roman name, PDF, signed payloads) blanked. The tickets are
voided. The resident number (the municipality's own key) stays, so a later
CSV re-import of the person is refused (``import.resident_erased``) rather
than bringing the person back.

Past inquiry answers: the doses an inquiry copied into this area are the
resident's doses here and are erased like the others; the inquiry log
(who asked, on which consent, the masked My Number) is kept unchanged as the
record of a lawful query; what another municipality holds is its own.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from db.audit.queries import record as audit
from db.engine import current_connection

ERASED_REVOCATION = "本人情報の消去"


async def erase_resident(resident_id: UUID, *, reason: str, actor: Any) -> dict[str, Any] | None:
    """Erase a resident of the current area; returns what was done, None if not here.

    Raises ``ValueError("residents.already_erased")`` for a resident erased before.
    """
    connection = current_connection()
    row = await connection.fetchrow("SELECT * FROM resident WHERE id = $1 FOR UPDATE", resident_id)
    if row is None:
        return None
    if row["status"] == "erased":
        raise ValueError("residents.already_erased")
    doses = await connection.fetch(
        "SELECT id FROM vaccination WHERE resident = $1 AND status <> 'erased'", resident_id
    )
    for dose in doses:  # a person has a handful of doses: each through the sanctioned function
        await connection.fetchval(
            "SELECT vrs_erase_vaccination($1, $2, $3)", dose["id"], reason, actor.account_id
        )
    revoked = await connection.fetch(
        "UPDATE certificate_issuance SET revoked_at = coalesce(revoked_at, now()),"
        " revocation_reason = CASE WHEN revoked_at IS NULL THEN $2 ELSE revocation_reason END,"
        " passport_number = '', nationality = '', roman_name = '', pdf = NULL, shc_jws = '',"
        " vdsnc_json = '', source_data = jsonb_build_object('vaccination_ids',"
        "   coalesce(source_data -> 'vaccination_ids', '[]'::jsonb))"
        " WHERE resident = $1 RETURNING certificate_id",
        resident_id,
        ERASED_REVOCATION,
    )
    await connection.execute(
        "UPDATE ticket SET status = 'void', updated_at = now() WHERE resident = $1", resident_id
    )
    await connection.execute(
        "UPDATE resident_version SET snapshot = '{\"erased\": true}'::jsonb WHERE resident = $1",
        resident_id,
    )
    await connection.execute(
        "INSERT INTO resident_version (municipality_code, resident, version, snapshot, source,"
        " changed_by, reason) VALUES ($1, $2, $3, '{\"erased\": true}'::jsonb, 'erase', $4, $5)",
        row["municipality_code"], resident_id, row["version"], actor.account_id, reason,
    )  # fmt: skip
    await connection.execute(
        "UPDATE resident SET status = 'erased', name = '', name_kana = '', former_name = '',"
        " my_number_ciphertext = NULL, my_number_hmac = NULL, moved_out_on = NULL,"
        " deceased_on = NULL, priority_group = '', needs_care = false,"
        " birth_date = date_trunc('year', birth_date)::date, version = version + 1,"
        " updated_at = now() WHERE id = $1",
        resident_id,
    )
    done = {
        "doses": len(doses),
        "revoked_certificates": [r["certificate_id"] for r in revoked],
        "reason": reason,
    }
    await audit(
        "resident.erase",
        actor=actor,
        municipality_code=row["municipality_code"],
        object_type="resident",
        object_id=str(resident_id),
        details=done,
    )
    return done
