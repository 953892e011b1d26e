"""The JSON bodies the API accepts, as msgspec Structs: typed, shown in OpenAPI.

Handlers declare ``data: SomeBody``; Litestar decodes and checks the types, and
:mod:`web.errors` turns a refusal into our problem code naming the field: first
the body's own code for that field (``problems["kind"]``), then its code for
that kind of failure (``missing``, ``type``, ``text``, ``body``, ``json``),
then a general one (``error.field_invalid`` and its kin). The handlers' own
checks (formats, ranges, rules) run on :meth:`JsonBody.to_dict` as before.
Text never holds a NUL character: PostgreSQL cannot store it and no person types it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import msgspec

#: A string without NUL characters.
Text = Annotated[str, msgspec.Meta(pattern="^[^\\x00]*$")]
#: A form-like value: what a form field would hold, sent as JSON.
Scalar = Text | int | float | bool | None


class JsonBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every JSON body; absent optional fields stay absent in :meth:`to_dict`."""

    #: Our problem code by field (dotted path) or by kind of failure.
    problems: ClassVar[dict[str, str]] = {}
    #: Extra message parameters of those codes.
    problem_params: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The body as plain JSON values, for the handler's own checks."""
        body: dict[str, Any] = msgspec.to_builtins(self)
        return body


_PROOF_PROBLEMS = {
    "missing": "proof.missing_field",
    "type": "proof.wrong_type",
    "body": "proof.wrong_type",
    "json": "proof.not_json",
    "municipalities": "card_proof.municipalities_invalid",
}


class PassportBody(JsonBody, kw_only=True):
    """Passport data for overseas certificates (validated by the issuing code)."""

    passport_number: Text | None = None
    nationality: Text | None = None
    family_name_roman: Text | None = None
    given_name_roman: Text | None = None


class CertificateRequest(PassportBody, kw_only=True):
    """``POST /api/v1/certificates``: whose certificate, which kind, passport data if overseas."""

    resident_id: UUID
    kind: Literal["domestic", "overseas"]

    problems: ClassVar[dict[str, str]] = {
        "resident_id": "certificate.resident_id_invalid",
        "kind": "certificate.kind_invalid",
        "nationality": "certificate.nationality_invalid",
        "family_name_roman": "certificate.roman_name_invalid",
        "given_name_roman": "certificate.roman_name_invalid",
        "body": "proof.wrong_type",
        "json": "proof.not_json",
    }


class Basic4Body(JsonBody, kw_only=True):
    """The card's 基本4情報 as the card gave them (FORMATS §5)."""

    name: Text
    address: Text
    birth_date: Text
    sex: Text


class CardProofBody(JsonBody, kw_only=True):
    """A card proof (FORMATS §5) and what to issue: the app's and the kiosk's body."""

    auth_certificate: Text
    signature: Text
    my_number: Text
    basic4: Basic4Body
    kind: Text = "domestic"
    municipalities: list[Text] | None = None
    passport: PassportBody | None = None

    problems: ClassVar[dict[str, str]] = _PROOF_PROBLEMS


class FaultBody(JsonBody, kw_only=True):
    """One device fault a kiosk reports."""

    id: Text
    device: Text
    occurred_at: Text
    message: Text = ""


class HeartbeatBody(JsonBody, kw_only=True):
    """``POST /api/v1/kiosk/heartbeat``: the kiosk's device states and new faults."""

    store_id: Text
    terminal_id: Text
    interval_seconds: int = 60
    devices: dict[Text, Text] = {}
    in_service: bool = True
    pending_notices: int = 0
    faults: list[FaultBody] = []

    problems: ClassVar[dict[str, str]] = {
        "interval_seconds": "kiosk_report.interval_invalid",
        "devices": "kiosk_report.devices_invalid",
        "faults": "kiosk_report.faults_invalid",
        "faults.occurred_at": "kiosk_report.time_invalid",
        "missing": "kiosk_report.field_invalid",
        "type": "kiosk_report.field_invalid",
        "text": "kiosk_report.field_invalid",
    }
    problem_params: ClassVar[dict[str, Any]] = {"devices": "reader, printer, payment"}


class CompletionBody(JsonBody, kw_only=True):
    """``POST /api/v1/kiosk/completions``: 交付完了通知 of printed certificates."""

    notice_id: Text
    store_id: Text
    terminal_id: Text
    completed_at: dt.datetime
    certificate_ids: list[Text]

    problems: ClassVar[dict[str, str]] = {
        "certificate_ids": "kiosk_report.certificates_invalid",
        "completed_at": "kiosk_report.time_invalid",
        "missing": "kiosk_report.field_invalid",
        "type": "kiosk_report.field_invalid",
        "text": "kiosk_report.field_invalid",
    }


class FailureBody(JsonBody, kw_only=True):
    """``POST /api/v1/kiosk/failures``: certificates issued to a kiosk but never handed over."""

    notice_id: Text
    store_id: Text
    terminal_id: Text
    failed_at: dt.datetime
    reason: Text
    certificate_ids: list[Text]

    problems: ClassVar[dict[str, str]] = {
        **CompletionBody.problems,
        "failed_at": "kiosk_report.time_invalid",
        "reason": "kiosk_report.reason_invalid",
    }


class DoseBody(JsonBody, kw_only=True):
    """``POST /api/v1/vaccinations``: the venue form's fields as JSON (checked as the form is)."""

    ticket: Scalar = None
    municipality_code: Scalar = None
    dose_number: Scalar = None
    vaccinated_on: Scalar = None
    product: Scalar = None
    lot_number: Scalar = None
    volume_ml: Scalar = None
    doctor_name: Scalar = None
    idempotency_key: Scalar = None
    override_reason: Scalar = None
    birth_date: Scalar = None
    identity_reason: Scalar = None
    venue_name: Scalar = None
    queued: Scalar = None


class MyNumberBody(JsonBody, kw_only=True):
    """``POST /api/v1/residents/{id}/my-number``: the resident's My Number (checked as typed)."""

    my_number: Text | int = ""

    problems: ClassVar[dict[str, str]] = {"body": "proof.wrong_type", "json": "proof.not_json"}


class InquiryBody(JsonBody, kw_only=True):
    """``POST /api/v1/inquiries``: whom to ask about, with the person's consent."""

    my_number: Text = ""
    consent: bool = False
    consent_basis: Text = ""
    consent_reference: Text = ""

    problems: ClassVar[dict[str, str]] = {"consent": "inquiry.consent_required"}
