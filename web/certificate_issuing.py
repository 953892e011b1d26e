"""Issuing a certificate for a resident of the caller's municipality (counter and API).

Thin glue between the handlers, :mod:`db.certificates.queries` and
:mod:`signing`: build the content in the clerk's tenant transaction, sign
outside it (CPU work in a worker thread, the event loop stays free), then
store the issuance and audit it in a second short transaction.

When a timestamp authority is configured and does not answer, issuance fails
with a clear 503 (``certificate.timestamp_unavailable``) and nothing is stored:
the PDF is never quietly issued at a lower PAdES level than the deployment
promises, and a retry once the TSA is back issues normally.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio
import asyncpg
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from common.identifiers import IdentifierError, parse_passport_number
from db.accounts.principal import Principal
from db.audit.queries import record
from db.certificates import queries
from db.engine import tenant_transaction
from signing.content import CertificateContent, new_certificate_id
from signing.errors import SigningServiceUnavailable
from signing.issue import IssuedCertificate, issue_certificate
from web.errors import AppError, BadInput, NotFound
from web.signing_context import SigningContext

log = logging.getLogger("vrs.certificates")

KINDS = ("domestic", "overseas")
_NATIONALITY_LENGTH = 3


class TimestampUnavailable(AppError):
    """The timestamp authority (or a service its chain needs) did not answer: nothing issued."""

    status_code = HTTP_503_SERVICE_UNAVAILABLE


@dataclass(frozen=True)
class Issued:
    """A stored, signed certificate."""

    certificate_id: str
    kind: str
    pdf: bytes
    shc_jws: str
    vdsnc_json: str | None


def parse_passport(form: dict[str, Any]) -> dict[str, str]:
    """Passport data from a form or JSON body, validated (旅券番号, 国籍, Roman name).

    Raises:
        BadInput: with the field that is wrong.
    """
    nationality = str(form.get("nationality") or "").strip().upper()
    if len(nationality) != _NATIONALITY_LENGTH or not nationality.isalpha():
        raise BadInput("certificate.nationality_invalid", field="nationality")
    try:
        number = parse_passport_number(
            str(form.get("passport_number") or ""), nationality, "passport_number"
        )
    except IdentifierError as error:
        raise BadInput(error.key, field="passport_number", **(error.params or {})) from None
    roman = {}
    for name in ("family_name_roman", "given_name_roman"):
        value = " ".join(str(form.get(name) or "").split()).upper()
        if not value or not value.isascii() or not all(c.isalpha() or c in " -'" for c in value):
            raise BadInput("certificate.roman_name_invalid", field=name)
        roman[name] = value
    if len(roman["family_name_roman"]) + len(roman["given_name_roman"]) + 1 > 39:
        raise BadInput("certificate.roman_name_too_long", field="family_name_roman")
    return {"passport_number": number, "nationality": nationality, **roman}


def parse_kind(value: Any) -> str:
    """``domestic`` or ``overseas``, else a specific refusal."""
    if value not in KINDS:
        raise BadInput("certificate.kind_invalid", field="kind")
    return str(value)


async def prepare_content(
    principal: Principal,
    resident_id: UUID,
    kind: str,
    passport: dict[str, str] | None,
    today: dt.date,
    certificate_id: str | None = None,
) -> tuple[CertificateContent, list[str]]:
    """The content a certificate for this resident would state (the preview)."""
    async with tenant_transaction(principal.tenant):
        resident = await queries.resident_for_certificate(resident_id)
        if resident is None:
            raise NotFound("certificate.resident_not_found")
        doses = await queries.active_vaccinations(resident_id)
        contact = await queries.certificate_contact(principal.municipality_code or "")
        try:
            return await queries.build_content(
                kind=kind,  # type: ignore[arg-type]
                certificate_id=certificate_id or new_certificate_id(),
                issued_on=today,
                municipality_code=principal.municipality_code or "",
                contact=contact,
                resident=resident,
                doses=doses,
                passport=passport,
            )
        except queries.NoRecords:
            raise BadInput("certificate.no_records") from None
        except ValueError as error:
            raise BadInput("certificate.content_invalid", detail=str(error)) from None


def sign(signing: SigningContext, content: CertificateContent) -> IssuedCertificate:
    """Sign and render (CPU-bound; call in a worker thread), at the configured PAdES level.

    Raises:
        TimestampUnavailable: the TSA or a revocation service did not answer.
    """
    try:
        return issue_certificate(
            content, signing.keys, issuer_url=signing.issuer_url, pdf_signer=signing.pdf_signer
        )
    except SigningServiceUnavailable as error:
        log.error(
            "certificate %s not issued: %s service unavailable (%s)",
            content.certificate_id,
            error.service,
            error.detail,
        )
        raise TimestampUnavailable("certificate.timestamp_unavailable") from error


async def issue_for_resident(
    signing: SigningContext,
    principal: Principal,
    resident_id: UUID,
    kind: str,
    passport: dict[str, str] | None,
    *,
    channel: str,
    language: str,
    idempotency_key: str | None = None,
) -> Issued:
    """Issue, store and audit one certificate of the principal's municipality."""
    if idempotency_key:
        earlier = await _issued_for_key(principal, idempotency_key, resident_id, kind)
        if earlier is not None:
            return earlier
    today = dt.datetime.now(dt.UTC).astimezone(_JST).date()
    content, vaccination_ids = await prepare_content(principal, resident_id, kind, passport, today)
    issued = await anyio.to_thread.run_sync(sign, signing, content)
    try:
        await _store(principal, resident_id, kind, content, vaccination_ids, issued,
                     channel=channel, language=language, signing=signing,
                     idempotency_key=idempotency_key)  # fmt: skip
    except asyncpg.UniqueViolationError:
        # A concurrent request with the same key stored first: answer its certificate.
        if not idempotency_key:
            raise
        earlier = await _issued_for_key(principal, idempotency_key, resident_id, kind)
        if earlier is None:
            raise
        return earlier
    return Issued(content.certificate_id, kind, issued.pdf, issued.shc_jws, issued.vdsnc_json)


async def _issued_for_key(
    principal: Principal, key: str, resident_id: UUID, kind: str
) -> Issued | None:
    """The certificate an earlier request with this Idempotency-Key issued (same person, kind)."""
    async with tenant_transaction(principal.tenant):
        earlier = await queries.issuance_for_idempotency_key(key)
    if earlier is None:
        return None
    if str(earlier["resident"]) != str(resident_id) or earlier["kind"] != kind:
        raise BadInput("certificate.idempotency_key_reused", field="Idempotency-Key")
    return _from_row(earlier)


async def _store(
    principal: Principal, resident_id: UUID, kind: str, content: CertificateContent,
    vaccination_ids: Any, issued: IssuedCertificate, *, channel: str, language: str,
    signing: SigningContext, idempotency_key: str | None,
) -> None:  # fmt: skip
    """Store the issuance and its audit event in one transaction."""
    async with tenant_transaction(principal.tenant):
        await queries.record_issuance(
            municipality_code=principal.municipality_code or "",
            resident_id=resident_id,
            content=content,
            vaccination_ids=vaccination_ids,
            channel=channel,
            language=language,
            shc_kid=signing.keys.shc_signing_key.kid,
            shc_jws=issued.shc_jws,
            vdsnc_json=issued.vdsnc_json,
            pdf=issued.pdf,
            issued_by=principal.account_id,
            idempotency_key=idempotency_key,
        )
        await record(
            "certificate.issue",
            actor=principal,
            municipality_code=principal.municipality_code,
            object_type="certificate",
            object_id=content.certificate_id,
            details={"kind": kind, "channel": channel, "resident": str(resident_id)},
        )


def _from_row(row: dict[str, Any]) -> Issued:
    return Issued(
        row["certificate_id"],
        row["kind"],
        bytes(row["pdf"] or b""),
        row["shc_jws"],
        row["vdsnc_json"] or None,
    )


async def stored_certificate(principal: Principal, certificate_id: str) -> Issued:
    """An issued certificate of the principal's municipality; audited as a view."""
    async with tenant_transaction(principal.tenant):
        row = await queries.issuance(certificate_id)
        if row is None:
            raise NotFound("certificate.not_found")
        await record(
            "certificate.view",
            actor=principal,
            municipality_code=principal.municipality_code,
            object_type="certificate",
            object_id=certificate_id,
        )
    return _from_row(row)


_JST = dt.timezone(dt.timedelta(hours=9))
