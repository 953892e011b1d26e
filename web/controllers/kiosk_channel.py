"""The kiosk channel (コンビニ交付): see what a card may get, then issue after payment.

The app channel (``card_sessions``) issues in the same request that proves the
card. A kiosk must first show the certificates and the fee, take the payment,
and only then have them issued, so it proves the card twice, each time over a
fresh single-use challenge of ``POST /api/v1/card-sessions``:

- ``.../{session_id}/kiosk-preview``: verify the proof, answer the municipalities
  that take part in kiosk issuance, are within their own kiosk hours now and
  whose record has the card's birth date, each with the name as it holds it and
  whether it holds passport data (overseas); and the others, each with why it is
  not offered and whom to contact. Nothing is issued.
- ``.../{session_id}/kiosk-issue``: verify the proof again, issue one certificate
  per municipality the resident chose (and paid for), channel ``kiosk``, through
  the one issuance service (:mod:`db.certificates.issuance`).

Only clients registered with ``--kind kiosk`` may call them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from common.settings import Settings
from db.certificates import issuance
from db.certificates.kiosk_results import FAILURE_REASONS, record_failure
from web.bodies import CardProofBody, FailureBody
from web.certificate_issuing import answered, parse_kind, signer
from web.controllers.card_sessions import (
    app_client,
    certificate_answer,
    parse_selection,
    verified_card_holder,
)
from web.controllers.kiosk_reports import _text as report_text
from web.controllers.kiosk_reports import _time as report_time
from web.controllers.kiosk_reports import certificate_ids, kiosk_client
from web.errors import BadInput, NotAllowed
from web.signing_context import SigningContext
from web.suspension_guard import refuse_if_suspended


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
        data: JSONBody[CardProofBody],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """``{"municipalities": [offered], "not_offered": [with reason and contact]}``.

        Each entry: ``municipality_code``, ``municipality_name``, ``record_name`` (the
        name as that municipality holds it), ``name_matches``, ``passport_data``,
        ``doses``, ``contact``, and for the others ``reason`` (``not_taking_part``,
        ``outside_hours``, ``identity_mismatch``).
        """
        now = dt.datetime.now(dt.UTC)
        lookup, body = await _verified_lookup(request, session_id, signing, settings, now)
        with answered():
            offers = await issuance.card_offers(lookup, body.get("basic4"), "kiosk", lambda: now)
        return {
            "municipalities": [offer.to_dict() for offer in offers if offer.offered],
            "not_offered": [offer.to_dict() for offer in offers if not offer.offered],
        }

    @post(
        "/{session_id:str}/kiosk-issue",
        name="api_kiosk_issue",
        summary="Prove the card again and issue, channel kiosk (after the fee is paid)",
        description=(
            "Body: the proof (FORMATS §5), kind (domestic|overseas), municipalities (the codes"
            " the resident chose and paid for; default every offered one)."
        ),
        status_code=200,
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
        data: JSONBody[CardProofBody],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """``{"certificates": [...]}`` as the app channel answers, issued for the kiosk."""
        now = dt.datetime.now(dt.UTC)
        body = data.to_dict()
        kind = parse_kind(body.get("kind", "domestic"))
        selected = parse_selection(body)
        lookup, body = await _verified_lookup(request, session_id, signing, settings, now)
        with answered():
            result = await issuance.issue_for_card(
                lookup, body.get("basic4"), kind, signer(signing), channel="kiosk",
                selected=selected, kiosk_client=request.scope["state"]["app_client"]["id"],
                now=lambda: now,
            )  # fmt: skip
        return {"certificates": [certificate_answer(issued) for issued in result.issued]}


class KioskFailuresController(Controller):
    """Failure results of kiosk sales, beside the completion notices (kiosk terms 第7条6)."""

    path = "/api/v1/kiosk"
    guards = [kiosk_client]
    tags = ["kiosk channel"]

    @post(
        "/failures",
        name="api_kiosk_failure",
        summary="A sale failed after issuance (printer failure, refund): void its certificates",
        description=(
            "Body: notice_id, store_id, terminal_id, failed_at, reason (print_failed | refunded"
            " | card_removed | aborted), certificate_ids. Each certificate issued to this kiosk"
            " and not reported printed is revoked (未交付) and the failure recorded; the same"
            " notice again records nothing new. Unknown ids refuse the notice (422)."
        ),
        status_code=200,
    )
    async def failure(
        self, request: Request[Any, Any, Any], data: JSONBody[FailureBody]
    ) -> dict[str, Any]:
        """``{"recorded": [...], "already": [...], "completed": [...]}``."""
        body = data.to_dict()
        ids = certificate_ids(body)
        reason = body.get("reason")
        if reason not in FAILURE_REASONS:
            raise BadInput("kiosk_report.reason_invalid", field="reason")
        with answered():
            return await record_failure(
                request.scope["state"]["app_client"]["id"],
                report_text(body, "notice_id"),
                ids,
                report_text(body, "store_id"),
                report_text(body, "terminal_id"),
                report_time(body.get("failed_at"), "failed_at"),
                str(reason),
            )


ROUTES = [KioskChannelController, KioskFailuresController]
