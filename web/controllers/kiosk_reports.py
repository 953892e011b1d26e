"""What kiosks report to the server: heartbeats with device states and faults, and
completion notices (交付完了通知).

- ``POST /api/v1/kiosk/heartbeat``: store/terminal id, interval, device states
  (reader, printer, payment), whether the kiosk is in service, how many notices
  it still holds, and device faults it has not reported yet (each with its own
  id, so a retried heartbeat records a fault once). The answer tells the kiosk
  whether kiosk issuance is suspended nationwide, with the notice.
- ``POST /api/v1/kiosk/completions``: after printing, the notice id, store,
  terminal, time and the certificate ids printed; recorded once per issuance
  (the same notice again records nothing new and answers the same).

Only clients registered with ``--kind kiosk`` may call them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from db.engine import tenant_transaction
from db.operations.kiosks import (
    DEVICE_STATES,
    DEVICES,
    Fault,
    Heartbeat,
    record_completion,
    record_heartbeat,
)
from db.operations.suspensions import active_suspension
from web.bodies import CompletionBody, HeartbeatBody
from web.controllers.card_sessions import app_client
from web.errors import BadInput, NotAllowed

_MAX_FAULTS = 100
_MAX_CERTIFICATES = 50


async def kiosk_client(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A registered kiosk client (``vrs app-client --kind kiosk``)."""
    await app_client(connection, handler)
    if connection.scope["state"]["app_client"]["kind"] != "kiosk":
        raise NotAllowed("card_session.kiosk_only")


def _text(body: dict[str, Any], name: str, limit: int = 64, required: bool = True) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise BadInput("kiosk_report.field_invalid", field=name, name=name)
    return value.strip()


def _time(value: Any, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise BadInput("kiosk_report.time_invalid", field=name, name=name) from None
    if moment.tzinfo is None:
        raise BadInput("kiosk_report.time_invalid", field=name, name=name)
    return moment


def certificate_ids(body: dict[str, Any]) -> list[str]:
    """The notice's ``certificate_ids`` (1 to 50 ids, each once), or a specific 422."""
    ids = body.get("certificate_ids")
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > _MAX_CERTIFICATES
        or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)
    ):
        raise BadInput("kiosk_report.certificates_invalid", field="certificate_ids")
    return list(dict.fromkeys(ids))


#: ``kiosk_status.pending_notices`` is a PostgreSQL integer; no kiosk holds more notices.
_MAX_PENDING_NOTICES = 1_000_000


def parse_heartbeat(body: dict[str, Any]) -> Heartbeat:
    """The heartbeat of a kiosk's JSON body; a specific :class:`BadInput` otherwise."""
    interval = body.get("interval_seconds", 60)
    if not isinstance(interval, int) or isinstance(interval, bool) or not 1 <= interval <= 3600:
        raise BadInput("kiosk_report.interval_invalid", field="interval_seconds")
    devices = body.get("devices", {})
    if not isinstance(devices, dict) or any(
        name not in DEVICES or state not in DEVICE_STATES for name, state in devices.items()
    ):
        raise BadInput("kiosk_report.devices_invalid", field="devices", devices=", ".join(DEVICES))
    raw_faults = body.get("faults", [])
    if not isinstance(raw_faults, list) or len(raw_faults) > _MAX_FAULTS:
        raise BadInput("kiosk_report.faults_invalid", field="faults")
    faults = []
    for raw in raw_faults:
        if not isinstance(raw, dict) or raw.get("device") not in DEVICES:
            raise BadInput("kiosk_report.faults_invalid", field="faults")
        faults.append(
            Fault(
                _text(raw, "id"),
                raw["device"],
                _text(raw, "message", 500, required=False),
                _time(raw.get("occurred_at"), "occurred_at"),
            )
        )
    pending = body.get("pending_notices", 0)
    if (
        not isinstance(pending, int)
        or isinstance(pending, bool)
        or not 0 <= pending <= _MAX_PENDING_NOTICES
    ):
        raise BadInput(
            "kiosk_report.field_invalid", field="pending_notices", name="pending_notices"
        )
    return Heartbeat(
        store_id=_text(body, "store_id"),
        terminal_id=_text(body, "terminal_id"),
        interval_seconds=interval,
        devices={str(k): str(v) for k, v in devices.items()},
        in_service=body.get("in_service", True) is not False,
        pending_notices=pending,
        faults=tuple(faults),
    )


class KioskReportsController(Controller):
    """Heartbeats, device faults and completion notices of kiosk terminals."""

    path = "/api/v1/kiosk"
    guards = [kiosk_client]
    tags = ["kiosk channel"]

    @post(
        "/heartbeat",
        name="api_kiosk_heartbeat",
        summary="A kiosk's heartbeat: device states, new faults; answers any suspension",
        status_code=200,
    )
    async def heartbeat(
        self, request: Request[Any, Any, Any], data: JSONBody[HeartbeatBody]
    ) -> dict[str, Any]:
        """``{"faults_recorded", "suspension": null | {notice_ja, notice_en, since}}``."""
        beat = parse_heartbeat(data.to_dict())
        client = request.scope["state"]["app_client"]["id"]
        async with tenant_transaction(None):
            new = await record_heartbeat(client, beat, dt.datetime.now(dt.UTC))
        suspension = await active_suspension("kiosk_issuance")
        return {
            "faults_recorded": new,
            "suspension": suspension.to_dict() if suspension else None,
        }

    @post(
        "/completions",
        name="api_kiosk_completion",
        summary="交付完了通知: the kiosk printed these issuances (idempotent)",
        description="Body: notice_id, store_id, terminal_id, completed_at, certificate_ids.",
        status_code=200,
    )
    async def completion(
        self, request: Request[Any, Any, Any], data: JSONBody[CompletionBody]
    ) -> dict[str, Any]:
        """``{"recorded": [...], "already": [...]}``; unknown ids refuse the notice (422)."""
        body = data.to_dict()
        ids = certificate_ids(body)
        notice_id = _text(body, "notice_id")
        store_id, terminal_id = _text(body, "store_id"), _text(body, "terminal_id")
        completed_at = _time(body.get("completed_at"), "completed_at")
        client = request.scope["state"]["app_client"]["id"]
        async with tenant_transaction(None):
            outcome = await record_completion(
                client, notice_id, ids, store_id, terminal_id, completed_at
            )
            if outcome.get("unknown") or outcome.get("not_kiosk"):
                raise BadInput(
                    "kiosk_report.certificate_unknown",
                    field="certificate_ids",
                    ids=", ".join(outcome.get("unknown", [])),
                )
        return {"recorded": outcome["recorded"], "already": outcome["already"]}


ROUTES = [KioskReportsController]
