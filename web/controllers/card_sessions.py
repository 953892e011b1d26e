"""The app channel (電子交付): card authentication (FORMATS §5), then certificates.

The app authenticates with an app client token (``vrs app-client``:
``Authorization: Bearer vrsapp_...``), asks for a challenge, lets the card sign
it, and posts the proof. The server checks the proof (J-LIS CA, validity, CRL,
signature over its own single-use challenge), the J-LIS linkage of the
certificate to the My Number, then issues one certificate per municipality
that holds records and whose record matches the card's birth date, through
the one issuance service (:mod:`db.certificates.issuance`: read, sign outside
any transaction, record). What the app sends (basic 4 facts, My Number) is
used for this issuance only and never updates resident records (確認事項
第9条3); passport data the app sends is kept in the issuance history as the
counter's is (※海外用: counter or app).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody

from common.card_proof import CardProof, CardProofFormatError, ProofRefused, verify_proof
from common.settings import Settings
from db.cards import queries as cards
from db.certificates import issuance
from db.certificates.issuance import Issued
from db.engine import tenant_transaction
from db.residents.my_number import MyNumberVault
from signing import shc
from web.bodies import CardProofBody
from web.certificate_issuing import answered, parse_kind, parse_passport, signer
from web.controllers.certificates_api import json_body
from web.errors import AppError, BadInput, NotAllowed, NotFound, SignInRequired
from web.signing_context import SigningContext
from web.suspension_guard import refuse_if_suspended

_MAX_MUNICIPALITIES = 50


class ProofRefusal(AppError):
    """The card proof is refused; ``key`` says why (card_proof.*)."""

    status_code = 403


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def app_client(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only registered app (or kiosk) clients, by their bearer token."""
    token = _bearer(connection)
    if token is None:
        raise SignInRequired("card_session.client_required")
    async with tenant_transaction(None):
        max_days = connection.scope["litestar_app"].state["settings"].app_client_days
        client = await cards.app_client_for_token(token, max_days)
    if client is None:
        raise NotAllowed("card_session.client_unknown")
    connection.scope.setdefault("state", {})["app_client"] = client


class CardSessionsController(Controller):
    """Card sessions and the certificates they unlock."""

    path = "/api/v1/card-sessions"
    guards = [app_client]
    tags = ["app channel"]

    @post("/", name="api_card_session", summary="A single-use card challenge", status_code=201)
    async def open(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        """``{"session_id", "challenge" (base64url of 32 bytes), "expires_at"}``."""
        client = request.scope["state"]["app_client"]
        async with tenant_transaction(None):
            row = await cards.open_card_session(client["id"], dt.datetime.now(dt.UTC))
        return {
            "session_id": str(row["id"]),
            "challenge": base64.urlsafe_b64encode(row["challenge"]).rstrip(b"=").decode(),
            "expires_at": row["expires_at"].isoformat(),
        }

    @post(
        "/{session_id:str}/proof",
        name="api_card_session_proof",
        summary="Prove the card; answers one certificate per issuing municipality",
        description=(
            "Body: auth_certificate, signature, my_number, basic4 (FORMATS §5), and optionally"
            " kind (domestic|overseas, default domestic), municipalities (the codes chosen;"
            " default every municipality that can issue) and passport (passport_number,"
            " nationality, family_name_roman, given_name_roman: registered into the issuance"
            " history with the overseas certificates). A municipality whose record's birth date"
            " differs from the card's is not offered. Without passport data a municipality"
            " issues no overseas certificate; not_issued says which and why. Refusals are 403"
            " problems whose code says why (card_proof.*)."
        ),
        status_code=200,
    )
    async def proof(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
        data: JSONBody[CardProofBody],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """Verify the proof and issue."""
        if request.scope["state"]["app_client"]["kind"] != "app":  # a kiosk obeys kiosk rules
            raise NotAllowed("card_session.wrong_channel")
        await refuse_if_suspended(request, "app_issuance")
        body = data.to_dict()
        kind = parse_kind(body.get("kind", "domestic"))
        selected = parse_selection(body)
        passport = (
            parse_passport(body["passport"]) if isinstance(body.get("passport"), dict) else None
        )
        now = dt.datetime.now(dt.UTC)
        lookup, body = await verified_card_holder(request, session_id, signing, settings, now)
        with answered():
            result = await issuance.issue_for_card(
                lookup, body.get("basic4"), kind, signer(signing),
                channel="app", selected=selected, passport=passport,
            )  # fmt: skip
        return {
            "certificates": [certificate_answer(issued) for issued in result.issued],
            "not_issued": result.not_issued,
        }


async def verified_card_holder(
    request: Request[Any, Any, Any],
    session_id: str,
    signing: SigningContext,
    settings: Settings,
    now: dt.datetime,
) -> tuple[str, dict[str, Any]]:
    """Check a card proof (FORMATS §5) for the app and kiosk channels alike.

    The challenge is consumed (single use), the certificate chains to a trusted
    J-LIS CA and is valid and unrevoked, the signature is over our challenge,
    and the certificate is linked to the My Number the card gave. Returns the
    holder's My Number look-up hash and the request body; raises a specific
    refusal otherwise.
    """
    try:
        session_uuid = UUID(session_id)
    except ValueError:
        raise NotFound("card_proof.challenge_unknown") from None
    body = await json_body(request)
    try:
        proof = CardProof.from_dict(body)
    except CardProofFormatError as error:
        raise BadInput(error.key, field=error.field) from None
    async with tenant_transaction(None):
        state, challenge = await cards.consume_card_session(
            session_uuid, now, client_id=request.scope["state"]["app_client"]["id"]
        )
    if state != "ok" or challenge is None:
        raise ProofRefusal(f"card_proof.challenge_{state}")
    cas, crls = signing.card_cas_and_crls()
    try:
        fingerprint = verify_proof(proof, challenge, cas, crls, now)
    except ProofRefused as refusal:
        raise ProofRefusal(f"card_proof.{refusal.reason}") from None
    lookup = MyNumberVault(settings.my_number_key).lookup_hash(proof.my_number)
    async with tenant_transaction(None):
        linked = await cards.linked_my_number_hmac(fingerprint)
    if linked is None or linked != lookup:
        raise ProofRefusal("card_proof.not_linked")
    return lookup, body


def parse_selection(body: dict[str, Any]) -> list[str] | None:
    """The municipalities the resident chose (``municipalities``: codes), else ``None`` (all)."""
    chosen = body.get("municipalities")
    if chosen is None:
        return None
    if (
        not isinstance(chosen, list)
        or not chosen
        or len(chosen) > _MAX_MUNICIPALITIES
        or not all(isinstance(code, str) and code.isdigit() and len(code) == 6 for code in chosen)
    ):
        raise BadInput("card_proof.municipalities_invalid", field="municipalities")
    return list(chosen)


def certificate_answer(issued: Issued) -> dict[str, Any]:
    """One issued certificate as the app and kiosk get it."""
    return {
        "municipality_code": issued.municipality_code,
        "municipality_name": issued.municipality_name,
        "record_name": issued.record_name,
        "certificate_id": issued.certificate_id,
        "kind": issued.kind,
        "shc_jws": issued.shc_jws,
        "smart_health_card": shc.file_body([issued.shc_jws]).decode(),
        "vdsnc": json.loads(issued.vdsnc_json) if issued.vdsnc_json else None,
        "pdf_base64": base64.b64encode(issued.pdf).decode(),
    }


ROUTES = [CardSessionsController]
