"""What the server keeps of each kiosk: its heartbeats, device faults and completion notices."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.engine import current_connection

#: Device names a kiosk reports, and their states.
DEVICES = ("reader", "printer", "payment")
DEVICE_STATES = ("ok", "fault", "unknown")
#: A kiosk is online while its last heartbeat is younger than this many of its intervals.
ONLINE_INTERVALS = 3
MIN_WINDOW = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Fault:
    """One device fault as the kiosk reports it (``fault_id`` is the kiosk's own)."""

    fault_id: str
    device: str
    message: str
    occurred_at: dt.datetime


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat: where the kiosk stands, its devices, faults not yet reported."""

    store_id: str
    terminal_id: str
    interval_seconds: int
    devices: dict[str, str]
    in_service: bool
    pending_notices: int
    faults: tuple[Fault, ...] = ()


async def record_heartbeat(client: UUID, beat: Heartbeat, now: dt.datetime) -> int:
    """Keep the kiosk's latest state and add its new faults; returns how many were new."""
    connection = current_connection()
    new = 0
    for fault in beat.faults:
        inserted = await connection.fetchval(
            "INSERT INTO kiosk_fault (id, client, fault_id, device, message, occurred_at,"
            " received_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (client, fault_id) DO NOTHING RETURNING 1",
            client, fault.fault_id, fault.device, fault.message, fault.occurred_at, now,
        )  # fmt: skip
        new += inserted or 0
    last = await connection.fetchrow(
        "SELECT device, message, occurred_at FROM kiosk_fault WHERE client = $1"
        " ORDER BY occurred_at DESC, received_at DESC LIMIT 1",
        client,
    )
    await connection.execute(
        "INSERT INTO kiosk_status (client, store_id, terminal_id, last_seen, interval_seconds,"
        " devices, in_service, pending_notices, last_fault_device, last_fault_message,"
        " last_fault_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)"
        " ON CONFLICT (client) DO UPDATE SET store_id = excluded.store_id,"
        " terminal_id = excluded.terminal_id, last_seen = excluded.last_seen,"
        " interval_seconds = excluded.interval_seconds, devices = excluded.devices,"
        " in_service = excluded.in_service, pending_notices = excluded.pending_notices,"
        " last_fault_device = excluded.last_fault_device,"
        " last_fault_message = excluded.last_fault_message, last_fault_at = excluded.last_fault_at",
        client, beat.store_id, beat.terminal_id, now, beat.interval_seconds,
        json.dumps(beat.devices), "in_service" if beat.in_service else "out_of_service",
        beat.pending_notices, last["device"] if last else "", last["message"] if last else "",
        last["occurred_at"] if last else None,
    )  # fmt: skip
    return new


def connection_state(last_seen: dt.datetime | None, interval: int, now: dt.datetime) -> str:
    """``online`` if seen within the window (three heartbeat intervals), else ``offline``."""
    if last_seen is None:
        return "never"
    window = max(dt.timedelta(seconds=interval * ONLINE_INTERVALS), MIN_WINDOW)
    return "online" if now - last_seen <= window else "offline"


async def kiosks(now: dt.datetime) -> list[dict[str, Any]]:
    """Every kiosk client (revoked ones too, marked) with its state and last fault."""
    rows = await current_connection().fetch(
        "SELECT a.id, a.label, a.revoked_at, s.store_id, s.terminal_id, s.last_seen,"
        " s.interval_seconds, s.devices, s.in_service, s.pending_notices, s.last_fault_device,"
        " s.last_fault_message, s.last_fault_at FROM app_client a"
        " LEFT JOIN kiosk_status s ON s.client = a.id WHERE a.kind = 'kiosk'"
        " ORDER BY s.store_id NULLS LAST, s.terminal_id, a.label"
    )
    answers = []
    for row in rows:
        item = dict(row)
        devices = item["devices"]
        item["devices"] = json.loads(devices) if isinstance(devices, str) else (devices or {})
        item["state"] = connection_state(item["last_seen"], item["interval_seconds"] or 60, now)
        answers.append(item)
    return answers


async def record_completion(
    client: UUID,
    notice_id: str,
    certificate_ids: list[str],
    store_id: str,
    terminal_id: str,
    completed_at: dt.datetime,
) -> dict[str, list[str]]:
    """Record a completion notice on each issuance: ``recorded``, ``already`` and ``unknown`` ids."""
    outcome: dict[str, list[str]] = {"recorded": [], "already": [], "unknown": []}
    for certificate_id in certificate_ids:
        state = await current_connection().fetchval(
            "SELECT vrs_record_kiosk_completion($1, $2, $3, $4, $5, $6)",
            client, notice_id, certificate_id, store_id, terminal_id, completed_at,
        )  # fmt: skip
        outcome.setdefault(state, []).append(certificate_id)
    return outcome


async def bind_issuances(client: UUID, certificate_ids: list[str], issued_at: dt.datetime) -> None:
    """Note which kiosk the certificates were issued to: only it may confirm their printing."""
    await current_connection().executemany(
        "INSERT INTO kiosk_issuance (certificate_id, client, issued_at) VALUES ($1, $2, $3)",
        [(certificate_id, client, issued_at) for certificate_id in certificate_ids],
    )
