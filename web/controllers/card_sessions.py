"""The app channel (電子交付): card authentication (FORMATS §5), then certificates.

The app authenticates with an app client token (``vrs app-client``:
``Authorization: Bearer vrsapp_...``), asks for a challenge, lets the card sign
it, and posts the proof. The server checks the proof (J-LIS CA, validity, CRL,
signature over its own single-use challenge), the J-LIS linkage of the
certificate to the My Number, then issues one certificate per municipality
that holds records, in one transaction. What the app sends (basic 4 facts,
My Number) is used for this issuance only and never updates resident records
(確認事項 第9条3).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

import anyio
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from common.card_proof import CardProof, CardProofFormatError, ProofRefused, verify_proof
from common.settings import Settings
from db.cards import queries as cards
from db.certificates import queries as certificate_queries
from db.engine import current_connection, tenant_transaction
from db.residents.my_number import MyNumberVault
from signing import shc
from signing.content import new_certificate_id
from web.certificate_issuing import sign
from web.controllers.certificates_api import json_body
from web.errors import AppError, BadInput, NotAllowed, NotFound, SignInRequired
from web.signing_context import SigningContext
from web.suspension_guard import refuse_if_suspended

_JST = dt.timezone(dt.timedelta(hours=9))


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
        client = await cards.app_client_for_token(token)
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
            " kind (domestic|overseas, default domestic). Overseas needs passport data in the"
            " issuance history of every issuing municipality. Refusals are 403 problems whose"
            " code says why (card_proof.*)."
        ),
        status_code=200,
    )
    async def proof(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
        signing: NamedDependency[SigningContext],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """Verify the proof and issue."""
        await refuse_if_suspended(request, "app_issuance")
        kind = (await json_body(request)).get("kind", "domestic")
        if kind not in ("domestic", "overseas"):
            raise BadInput("certificate.kind_invalid", field="kind")
        now = dt.datetime.now(dt.UTC)
        lookup, _ = await verified_card_holder(request, session_id, signing, settings, now)
        async with tenant_transaction(None):
            return {"certificates": await _issue_everywhere(signing, lookup, kind, now)}


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
        state, challenge = await cards.consume_card_session(session_uuid, now)
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


async def records_with_doses(lookup: str) -> list[dict[str, Any]]:
    """The card holder's records in each municipality that has doses to certify, in this
    transaction; refuses when there are none."""
    rows = [
        dict(row)
        for row in await current_connection().fetch(
            "SELECT * FROM vrs_records_for_certificate($1)", lookup
        )
    ]
    rows = [row for row in rows if _doses(row)]
    if not rows:
        raise ProofRefusal("card_proof.no_records")
    return rows


async def _issue_everywhere(
    signing: SigningContext,
    lookup: str,
    kind: str,
    now: dt.datetime,
    channel: str = "app",
    eligible: Callable[[dict[str, Any]], bool] = lambda row: True,
) -> list[dict[str, Any]]:
    """One certificate per municipality holding the person's records, in this transaction."""
    connection = current_connection()
    rows = [row for row in await records_with_doses(lookup) if eligible(row)]
    if not rows:
        raise ProofRefusal("card_proof.no_records")
    if kind == "overseas" and any(not row["passport"] for row in rows):
        raise ProofRefusal("card_proof.no_passport_data")
    today = now.astimezone(_JST).date()
    answers = []
    for row in rows:
        code = row["municipality_code"]
        passport = None
        if kind == "overseas":
            family, given = certificate_queries.split_roman_name(
                _json(row["passport"])["roman_name"]
            )
            passport = {
                "passport_number": _json(row["passport"])["passport_number"],
                "nationality": _json(row["passport"])["nationality"],
                "family_name_roman": family,
                "given_name_roman": given,
            }
        contact = await certificate_queries.certificate_contact(code)
        try:
            content, ids = await certificate_queries.build_content(
                kind=kind,  # type: ignore[arg-type]
                certificate_id=new_certificate_id(),
                issued_on=today,
                municipality_code=code,
                contact=contact,
                resident=row,
                doses=_doses(row),
                passport=passport,
            )
        except ValueError as error:
            raise BadInput("certificate.content_invalid", detail=str(error)) from None
        issued = await anyio.to_thread.run_sync(sign, signing, content)
        stored = await connection.fetchval(
            "SELECT vrs_record_card_issuance($1, $2, $3, $15, $4, $5, $6, $7, $8, $9,"
            " $10::jsonb, $11, $12, $13, $14)",
            lookup, code, row["resident_id"], content.certificate_id, kind,
            "ja" if kind == "domestic" else "ja+en", content.holder.passport_number,
            content.holder.nationality, content.holder.name_roman,
            certificate_queries.source_data(content, ids), signing.keys.shc_signing_key.kid,
            issued.shc_jws, issued.vdsnc_json or "", issued.pdf, channel,
        )  # fmt: skip
        if stored is None:
            raise ProofRefusal("card_proof.no_records")
        answers.append(
            {
                "municipality_code": code,
                "municipality_name": content.issuer.name_ja,
                "certificate_id": content.certificate_id,
                "kind": kind,
                "shc_jws": issued.shc_jws,
                "smart_health_card": shc.file_body([issued.shc_jws]).decode(),
                "vdsnc": _json(issued.vdsnc_json) if issued.vdsnc_json else None,
                "pdf_base64": base64.b64encode(issued.pdf).decode(),
            }
        )
    return answers


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str | bytes) else value


def _doses(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_json(row["doses"]) or [])


ROUTES = [CardSessionsController]
