"""Corrections (F5) and the data-quality queue (F4): every change keeps what was before.

A correction, a deletion or a resolution writes the record's previous state
to ``vaccination_version`` (who, when, why) and bumps ``version``; deletion is
``status = 'deleted'``, never a lost row. Corrections are judged by the same
rules as a new dose (the record itself left out of the person's doses), and
revoke the certificates that certified the old content.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from db.accounts.principal import Principal
from db.audit.queries import record as audit
from db.engine import current_connection
from db.vaccinations.rules import (
    DoseInput,
    Finding,
    Person,
    PreviousDose,
    Verdict,
    date_in_range,
    judge,
    known_product,
    lot_valid,
)
from db.vaccines.master import master_data

#: Fields a clerk may correct, with their types.
CORRECTABLE = {
    "dose_number": int,
    "vaccinated_on": dt.date,
    "product": str,
    "lot_number": str,
    "volume_ml": Decimal,
    "doctor_name": str,
    "venue_name": str,
}


class CorrectionRefused(Exception):
    """The corrected record would break a rule that stops a save."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(", ".join(f.key for f in findings))
        self.findings = findings


class RecordNotFound(Exception):
    """No such record in the caller's area."""


def _snapshot(row: Any) -> str:
    return json.dumps({k: v for k, v in dict(row).items()}, ensure_ascii=False, default=str)


async def _lock(vaccination_id: UUID) -> Any:
    row = await current_connection().fetchrow(
        "SELECT * FROM vaccination WHERE id = $1 FOR UPDATE", vaccination_id
    )
    if row is None:
        raise RecordNotFound(str(vaccination_id))
    return row


async def _keep_version(row: Any, actor: Principal, reason: str) -> None:
    await current_connection().execute(
        "INSERT INTO vaccination_version (id, municipality_code, vaccination, version, snapshot, changed_by,"
        " changed_at, reason) VALUES (gen_random_uuid(), $1, $2, $3, $4::jsonb, $5, now(), $6)",
        row["municipality_code"], row["id"], row["version"], _snapshot(row), actor.account_id, reason,
    )  # fmt: skip


async def _revoke_certificates(vaccination_id: UUID, reason: str) -> list[str]:
    """Revoke what certified the old content (the certificates module does the work)."""
    try:
        from db.certificates.queries import revoke_certificates_for_vaccination
    except ImportError:  # certificates not installed in this build
        return []
    return await revoke_certificates_for_vaccination(vaccination_id, reason)


async def _person_without(row: Any) -> Person | None:
    if row["resident"] is None:
        return None
    connection = current_connection()
    person = await connection.fetchrow(
        "SELECT birth_date, moved_out_on, deceased_on FROM resident WHERE id = $1", row["resident"]
    )
    doses = await connection.fetch(
        "SELECT dose_number, vaccinated_on, product FROM vaccination"
        " WHERE resident = $1 AND status = 'active' AND id <> $2",
        row["resident"],
        row["id"],
    )
    return Person(
        person["birth_date"], person["moved_out_on"], person["deceased_on"],
        tuple(PreviousDose(d["dose_number"], d["vaccinated_on"], d["product"]) for d in doses),
    )  # fmt: skip


async def correct(
    vaccination_id: UUID, changes: dict[str, Any], *, reason: str, actor: Principal, today: dt.date,
    override_reason: str = "",
) -> tuple[int, list[str]]:  # fmt: skip
    """Apply a clerk's correction; returns the new version number and the revoked certificates."""
    row = await _lock(vaccination_id)
    if row["status"] != "active":
        raise RecordNotFound(str(vaccination_id))  # deleted or erased records are not corrected
    new = {**{k: row[k] for k in CORRECTABLE}, **changes}
    person = await _person_without(row)
    quality, reasons = row["quality"], row["quality_reasons"]
    if person is not None:
        verdict = judge(
            DoseInput(new["dose_number"], new["vaccinated_on"], new["product"], new["lot_number"], new["volume_ml"]),
            person, await master_data(), today,
        )  # fmt: skip
        blocking = verdict.blocking(override_reason)
        if blocking:
            raise CorrectionRefused(blocking)
        quality = verdict.quality(override_reason)
        reasons = json.dumps(verdict.stored_reasons(override_reason), ensure_ascii=False)
    else:
        # An unmatched record (no person yet): what can be judged without one still holds,
        # as when it was kept (the date, a product and lot of the master data).
        given = DoseInput(new["dose_number"], new["vaccinated_on"], new["product"],
                          new["lot_number"], new["volume_ml"])  # fmt: skip
        master = await master_data()
        stops = [finding for check in (date_in_range, known_product, lot_valid)
                 for finding in check(given, Person(dt.date(1900, 1, 1)), master, today)]  # fmt: skip
        blocking = Verdict(tuple(stops)).blocking(override_reason)
        if blocking:
            raise CorrectionRefused(blocking)
    await _keep_version(row, actor, reason)
    await current_connection().execute(
        "UPDATE vaccination SET dose_number = $2, vaccinated_on = $3, product = $4, lot_number = $5,"
        " volume_ml = $6, doctor_name = $7, venue_name = $8, quality = $9, quality_reasons = $10::jsonb,"
        " version = version + 1, updated_at = now() WHERE id = $1",
        vaccination_id, new["dose_number"], new["vaccinated_on"], new["product"], new["lot_number"],
        new["volume_ml"], new["doctor_name"], new["venue_name"], quality,
        reasons if isinstance(reasons, str) else json.dumps(reasons, ensure_ascii=False),
    )  # fmt: skip
    changed = sorted(k for k in CORRECTABLE if str(new[k]) != str(row[k]))
    revoked = await _revoke_certificates(vaccination_id, reason)
    await audit(
        "vaccination.correct", actor=actor, municipality_code=row["municipality_code"], object_type="vaccination",
        object_id=str(vaccination_id), details={"fields": changed, "reason": reason, "revoked_certificates": revoked},
    )  # fmt: skip
    version: int = row["version"] + 1
    return version, revoked


async def delete(vaccination_id: UUID, *, reason: str, actor: Principal) -> None:
    """Mark a record deleted (a recorded state, with its reason); the row stays."""
    row = await _lock(vaccination_id)
    if row["status"] != "active":
        return
    await _keep_version(row, actor, reason)
    await current_connection().execute(
        "UPDATE vaccination SET status = 'deleted', version = version + 1, updated_at = now() WHERE id = $1",
        vaccination_id,
    )
    revoked = await _revoke_certificates(vaccination_id, reason)
    await audit(
        "vaccination.delete", actor=actor, municipality_code=row["municipality_code"], object_type="vaccination",
        object_id=str(vaccination_id), details={"reason": reason, "revoked_certificates": revoked},
    )  # fmt: skip


async def resolve(vaccination_ids: Iterable[UUID], *, reason: str, actor: Principal) -> int:
    """Mark queued records as checked (quality → ok), keeping the flags in history."""
    count = 0
    for vaccination_id in vaccination_ids:
        row = await _lock(vaccination_id)
        if row["quality"] == "ok" or row["resident"] is None:
            continue  # unmatched records are resolved by matching, not by a tick
        await _keep_version(row, actor, reason)
        await current_connection().execute(
            "UPDATE vaccination SET quality = 'ok', version = version + 1, updated_at = now() WHERE id = $1",
            vaccination_id,
        )
        await audit(
            "vaccination.resolve", actor=actor, municipality_code=row["municipality_code"],
            object_type="vaccination", object_id=str(vaccination_id), details={"reason": reason},
        )  # fmt: skip
        count += 1
    return count


async def match_unmatched(*, actor: Principal) -> int:
    """Attach unmatched records to residents whose tickets have since been registered."""
    rows = await current_connection().fetch(
        "SELECT v.id, t.resident FROM vaccination v JOIN ticket t"
        " ON t.municipality_code = v.municipality_code AND t.ticket_number = v.ticket_number AND t.status = 'valid'"
        " WHERE v.resident IS NULL AND v.status = 'active' FOR UPDATE OF v"
    )
    for row in rows:
        current = await _lock(row["id"])
        await _keep_version(current, actor, "matched to a registered ticket")
        await current_connection().execute(
            "UPDATE vaccination SET resident = $2, quality = 'must_check',"
            ' quality_reasons = \'[{"rule": "matched_later", "effect": "must_check",'
            ' "key": "quality.matched_later", "params": {}}]\'::jsonb,'
            " version = version + 1, updated_at = now() WHERE id = $1",
            row["id"],
            row["resident"],
        )
    if rows:
        await audit("vaccination.match", actor=actor, municipality_code=actor.municipality_code,
                    details={"matched": len(rows)})  # fmt: skip
    return len(rows)


async def queue(
    quality: str | None = None, rule: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Records needing attention in the caller's area, newest first."""
    rows = await current_connection().fetch(
        "SELECT v.id, v.ticket_number, v.dose_number, v.vaccinated_on, v.product, v.lot_number, v.quality,"
        " v.quality_reasons, v.resident, v.recorded_at, r.name, r.name_kana"
        " FROM vaccination v LEFT JOIN resident r ON r.id = v.resident"
        " WHERE v.status = 'active' AND v.quality <> 'ok'"
        " AND ($1::text IS NULL OR v.quality = $1)"
        " AND ($2::text IS NULL OR v.quality_reasons @> jsonb_build_array(jsonb_build_object('rule', $2::text)))"
        " ORDER BY v.recorded_at DESC LIMIT $3",
        quality,
        rule,
        limit,
    )
    return [{**dict(r), "quality_reasons": json.loads(r["quality_reasons"])} for r in rows]


async def record_with_history(vaccination_id: UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A record and its previous versions, newest first."""
    row = await current_connection().fetchrow(
        "SELECT v.*, r.name, r.name_kana, r.birth_date FROM vaccination v"
        " LEFT JOIN resident r ON r.id = v.resident WHERE v.id = $1",
        vaccination_id,
    )
    if row is None:
        raise RecordNotFound(str(vaccination_id))
    history = await current_connection().fetch(
        "SELECT h.version, h.snapshot, h.changed_at, h.reason, a.display_name AS changed_by"
        " FROM vaccination_version h LEFT JOIN account a ON a.id = h.changed_by"
        " WHERE h.vaccination = $1 ORDER BY h.version DESC",
        vaccination_id,
    )
    return (
        {**dict(row), "quality_reasons": json.loads(row["quality_reasons"])},
        [{**dict(h), "snapshot": json.loads(h["snapshot"])} for h in history],
    )


async def erase(vaccination_id: UUID, *, reason: str, actor: Principal) -> None:
    """Erase a record's personal content where the law requires it (確認事項 第5条 消去).

    Runs through a SECURITY DEFINER function: history rows are append-only for
    the serving role, and only erasure may blank them. The fact of the erasure
    (who, when, why, which record) stays in the audit log.
    """
    erased = await current_connection().fetchval(
        "SELECT vrs_erase_vaccination($1, $2, $3)", vaccination_id, reason, actor.account_id
    )
    if not erased:
        raise RecordNotFound(str(vaccination_id))
