"""Certificates over the JSON API: issue for integrations and batch work, fetch the payloads.

``POST /api/v1/certificates`` (clerk, bearer token or session) issues a
certificate for a resident of the caller's municipality and answers the signed
PDF; an ``Idempotency-Key`` header makes a retry answer the same certificate.
A retry after that certificate was revoked answers 410 Gone
(``certificate.idempotency_key_revoked``, naming the certificate and the
reason), never the revoked PDF: a new certificate needs a new key.
``GET /api/v1/certificates/{id}`` answers the SHC JWS and the VDS-NC of the
same certificate and its revocation state (``revoked``, ``revoked_at``,
``revocation_reason``); ``.../smart-health-card`` the wallet file, ``.../pdf`` the PDF.
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from db.accounts.roles import Role
from signing import shc
from signing.content import is_valid_certificate_id
from web.auth import requires
from web.bodies import CertificateRequest
from web.certificate_issuing import (
    issue_for_resident,
    parse_kind,
    parse_passport,
    stored_certificate,
)
from web.controllers.certificates import pdf_response
from web.errors import BadInput, NotFound
from web.signing_context import SigningContext

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request body as a JSON object, or a specific 422."""
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise BadInput("certificate.body_too_large")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadInput("proof.not_json") from None
    if not isinstance(body, dict):
        raise BadInput("proof.wrong_type", field="body")
    return body


class CertificatesApiController(Controller):
    """Certificates for machine clients of a municipality."""

    path = "/api/v1/certificates"
    guards = [requires(Role.CLERK)]
    tags = ["certificates"]

    @post(
        "/",
        name="api_certificates_issue",
        summary="Issue a certificate (answers the signed PDF)",
        description=(
            "JSON body: resident_id, kind (domestic|overseas), and for overseas passport_number,"
            " nationality (ICAO 3 letters), family_name_roman, given_name_roman. Send an"
            " Idempotency-Key header (8-64 characters) to make retries safe; a retry after the"
            " certificate was revoked answers 410 (certificate.idempotency_key_revoked)."
            " The certificate id is in the X-Certificate-Id header."
        ),
        status_code=201,
        response_description="application/pdf",
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CertificateRequest],
        signing: NamedDependency[SigningContext],
    ) -> Response[bytes]:
        """Issue, store and answer the signed PDF."""
        body = data.to_dict()
        try:
            resident_id = UUID(str(body.get("resident_id")))
        except ValueError:
            raise BadInput("certificate.resident_id_invalid", field="resident_id") from None
        kind = parse_kind(body.get("kind"))
        passport = parse_passport(body) if kind == "overseas" else None
        key = request.headers.get("idempotency-key")
        if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
            raise BadInput("certificate.idempotency_key_invalid", field="Idempotency-Key")
        issued = await issue_for_resident(
            signing,
            request.user,
            resident_id,
            kind,
            passport,
            channel="api",
            language="ja" if kind == "domestic" else "ja+en",
            idempotency_key=key,
        )
        response = pdf_response(issued.certificate_id, issued.pdf)
        response.status_code = 201
        response.headers["X-Certificate-Id"] = issued.certificate_id
        response.headers["Location"] = f"/api/v1/certificates/{issued.certificate_id}"
        return response

    @get(
        "/{certificate_id:str}",
        name="api_certificate",
        summary="A certificate's QR payloads and revocation state",
    )
    async def payloads(
        self, request: Request[Any, Any, Any], certificate_id: FromPath[str]
    ) -> dict[str, Any]:
        """The SHC JWS and the VDS-NC (overseas) of an issued certificate."""
        issued = await _stored(request, certificate_id)
        return {
            "certificate_id": issued.certificate_id,
            "kind": issued.kind,
            "shc_jws": issued.shc_jws,
            "shc_qr": shc.to_qr_text(issued.shc_jws),
            "vdsnc": json.loads(issued.vdsnc_json) if issued.vdsnc_json else None,
            "issued_at": issued.issued_at.isoformat() if issued.issued_at else None,
            "revoked": issued.revoked_at is not None,
            "revoked_at": issued.revoked_at.isoformat() if issued.revoked_at else None,
            "revocation_reason": issued.revocation_reason or None,
            "smart_health_card": f"/api/v1/certificates/{issued.certificate_id}/smart-health-card",
            "pdf": f"/api/v1/certificates/{issued.certificate_id}/pdf",
        }

    @get(
        "/{certificate_id:str}/smart-health-card",
        name="api_certificate_shc_file",
        summary="The .smart-health-card file",
        response_description="application/smart-health-card",
    )
    async def shc_file(
        self, request: Request[Any, Any, Any], certificate_id: FromPath[str]
    ) -> Response[bytes]:
        """What wallet apps import."""
        issued = await _stored(request, certificate_id)
        return Response(
            shc.file_body([issued.shc_jws]),
            media_type=shc.MEDIA_TYPE,
            headers={
                "Content-Disposition": (
                    f'attachment; filename="certificate-{issued.certificate_id}{shc.FILE_EXTENSION}"'
                )
            },
        )

    @get(
        "/{certificate_id:str}/pdf",
        name="api_certificate_pdf",
        summary="The signed PDF",
        response_description="application/pdf",
    )
    async def pdf(
        self, request: Request[Any, Any, Any], certificate_id: FromPath[str]
    ) -> Response[bytes]:
        """The signed PDF again."""
        issued = await _stored(request, certificate_id)
        return pdf_response(issued.certificate_id, issued.pdf)


async def _stored(request: Request[Any, Any, Any], certificate_id: str) -> Any:
    if not is_valid_certificate_id(certificate_id):
        raise NotFound("certificate.not_found")
    return await stored_certificate(request.user, certificate_id)


ROUTES = [CertificatesApiController]
