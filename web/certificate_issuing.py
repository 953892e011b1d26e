"""The web side of issuing certificates: parse what was asked, sign, answer refusals.

The issuance itself (read, sign outside any transaction, record; idempotency)
is :mod:`db.certificates.issuance`, one service for the counter, the API, the
app and the kiosk; this module gives it the signer and maps its refusals to
HTTP answers.

When a timestamp authority is configured and does not answer, issuance fails
with a clear 503 (``certificate.timestamp_unavailable``) and nothing is stored:
the PDF is never quietly issued at a lower PAdES level than the deployment
promises, and a retry once the TSA is back issues normally.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_410_GONE,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from common.identifiers import IdentifierError, parse_passport_number
from db.accounts.principal import Principal
from db.certificates import issuance
from db.certificates.issuance import IssuanceRefused, Issued, Signer
from signing.content import CertificateContent
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


def signer(signing: SigningContext) -> Signer:
    """The callable the issuance service signs with (runs in a worker thread)."""
    return functools.partial(sign, signing)


class Gone(AppError):
    """What an Idempotency-Key issued has been revoked since."""

    status_code = HTTP_410_GONE


class CardRefusal(AppError):
    """A card channel refusal; ``key`` says why (card_proof.*)."""

    status_code = HTTP_403_FORBIDDEN


_ANSWERS: dict[str, type[AppError]] = {
    "not_found": NotFound,
    "bad_input": BadInput,
    "refused": CardRefusal,
    "gone": Gone,
}


@contextmanager
def answered() -> Iterator[None]:
    """Turn the service's :class:`IssuanceRefused` into the HTTP answer it names."""
    try:
        yield
    except IssuanceRefused as refusal:
        raise _ANSWERS[refusal.kind](refusal.key, field=refusal.field, **refusal.params) from None


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
    with answered():
        return await issuance.issue_for_resident(
            issuance.ResidentRequest(
                principal, resident_id, kind, passport, channel, language, idempotency_key
            ),
            signer(signing),
        )


async def prepare_content(
    principal: Principal, resident_id: UUID, kind: str, passport: dict[str, str] | None
) -> CertificateContent:
    """What a certificate for this resident would state (the preview)."""
    with answered():
        return await issuance.preview(principal, resident_id, kind, passport)


async def stored_certificate(principal: Principal, certificate_id: str) -> Issued:
    """An issued certificate of the principal's municipality; audited as a view."""
    with answered():
        return await issuance.stored_certificate(principal, certificate_id)
