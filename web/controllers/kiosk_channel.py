"""The kiosk channel (コンビニ交付): see what a card may get, then issue after payment.

The app channel (``card_sessions``) issues in the same request that proves the
card. A kiosk must first show the certificates and the fee, take the payment,
and only then have them issued, so it proves the card twice, each time over a
fresh single-use challenge of ``POST /api/v1/card-sessions``:

- ``.../{session_id}/kiosk-preview``: verify the proof, answer the municipalities
  that take part in kiosk issuance and are within their own kiosk hours now,
  and whether each holds passport data (overseas). Nothing is issued.
- ``.../{session_id}/kiosk-issue``: verify the proof again, issue one certificate
  per such municipality with the channel ``kiosk``.

Only clients registered with ``--kind kiosk`` may call them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from common.settings import Settings
from db.engine import current_connection, tenant_transaction
from db.operations import kiosks
from web.controllers.card_sessions import (
    ProofRefusal,
    _issue_everywhere,
    app_client,
    records_with_doses,
    verified_card_holder,
)
from web.errors import BadInput, NotAllowed
from web.signing_context import SigningContext
from web.suspension_guard import refuse_if_suspended

_JST = dt.timezone(dt.timedelta(hours=9))
_DEFAULT_HOURS = (dt.time(6, 30), dt.time(23, 0))


def kiosk_open(row: dict[str, Any], now: dt.datetime) -> bool:
    """Whether the municipality takes part in kiosk issuance and is within its hours now."""
    if not row["kiosk_issuance"]:
        return False
    start = row["kiosk_hours_start"] or _DEFAULT_HOURS[0]
    end = row["kiosk_hours_end"] or _DEFAULT_HOURS[1]
    return start <= now.astimezone(_JST).time().replace(tzinfo=None) < end


async def _verified_lookup(
    request: Request[Any, Any, Any],
    session_id: str,
    signing: SigningContext,
    settings: Settings,
    now: dt.datetime,
) -> tuple[str, dict[str, Any]]:
    """Check the kiosk client and the proof; the card holder's My Number hash and the body."""
    if request.scope["state"]["app_client"]["kind"] != "kiosk":
        raise NotAllowed("card_session.kiosk_only")
    await refuse_if_suspended(request, "kiosk_issuance")
    return await verified_card_holder(request, session_id, signing, settings, now)


class KioskChannelController(Controller):
    """Preview and issuance for kiosk terminals."""

    path = "/api/v1/card-sessions"
    guards = [app_client]
    tags = ["kiosk channel"]

    @post(
        "/{session_id:str}/kiosk-preview",
        name="api_kiosk_preview",
        summary="Prove the card; answers the municipalities that would issue (nothing issued)",
        status_code=200,
    )
    async def preview(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """``{"municipalities": [{"municipality_code", "municipality_name", "passport_data"}]}``."""
        now = dt.datetime.now(dt.UTC)
        lookup, _ = await _verified_lookup(request, session_id, signing, settings, now)
        async with tenant_transaction(None):
            open_rows = [row for row in await records_with_doses(lookup) if kiosk_open(row, now)]
            if not open_rows:
                raise ProofRefusal("card_proof.kiosk_not_offered")
            names = dict(
                await current_connection().fetch(
                    "SELECT code, name FROM municipality WHERE code = ANY($1::text[])",
                    [row["municipality_code"] for row in open_rows],
                )
            )
        answers = [
            {
                "municipality_code": row["municipality_code"],
                "municipality_name": names.get(row["municipality_code"])
                or row["municipality_code"],
                "passport_data": bool(row["passport"]),
            }
            for row in open_rows
        ]
        return {"municipalities": answers}

    @post(
        "/{session_id:str}/kiosk-issue",
        name="api_kiosk_issue",
        summary="Prove the card again and issue, channel kiosk (after the fee is paid)",
        description="Body: the proof (FORMATS §5), kind (domestic|overseas).",
        status_code=200,
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """``{"certificates": [...]}`` as the app channel answers, issued for the kiosk."""
        now = dt.datetime.now(dt.UTC)
        lookup, body = await _verified_lookup(request, session_id, signing, settings, now)
        kind = body.get("kind", "domestic")
        if kind not in ("domestic", "overseas"):
            raise BadInput("certificate.kind_invalid", field="kind")
        async with tenant_transaction(None):
            certificates = await _issue_everywhere(
                signing,
                lookup,
                kind,
                now,
                channel="kiosk",
                eligible=lambda row: kiosk_open(row, now),
            )
            await kiosks.bind_issuances(
                request.scope["state"]["app_client"]["id"],
                [certificate["certificate_id"] for certificate in certificates],
                now,
            )
        return {"certificates": certificates}


ROUTES = [KioskChannelController]
