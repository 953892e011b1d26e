"""The HTML forms the pages post, as msgspec Structs: one typed body per form.

A handler declares ``data: Form[SignInForm]`` (URL-encoded) or
``data: MultipartForm[VerifyForm]`` (a form with a file); Litestar decodes the
form into the Struct, and :mod:`web.errors` turns a refusal into a specific
422 in the user's language naming the field by its label (``labels``): a
field sent twice where one value belongs, a NUL character, a value that is not
one of the choices. The form's own checks (formats, ranges, rules) stay in the
handlers and services, which draw the form again as it was typed.

Rules for a form Struct:

- Every field a handler or a parser it calls reads is declared here: msgspec
  ignores undeclared fields, so a field missing from the Struct would be read
  as empty without a word. :meth:`FormBody.values` hands the parsers a mapping
  that refuses an undeclared name at once, and
  ``tests/reliability/test_typed_forms.py`` checks the parsers, the handlers
  and every form the pages draw against these Structs.
- What a person types is :data:`Text` with an empty default (an empty field
  is sent as ``""``): the handler's checks give the specific message and keep
  what was typed. Stricter types are for what the page chose (ids of ticked
  rows, files); a browser using the page never trips them.
- Uploads that may be large (residents import, backup restore) are not decoded
  here: they stream to disk (``web.controllers.imports``); their routes name
  their form in ``opt={"form": ...}`` so the checks still know its fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from db.vaccines.rule_shapes import PARAM_FIELDS
from web.bodies import Text

T = TypeVar("T")

#: ``data: Form[SomeForm]``: an ``application/x-www-form-urlencoded`` form.
Form = Annotated[T, Body(media_type=RequestEncodingType.URL_ENCODED)]
#: ``data: MultipartForm[SomeForm]``: a ``multipart/form-data`` form (a file and fields).
MultipartForm = Annotated[T, Body(media_type=RequestEncodingType.MULTI_PART)]

#: The general code of each kind of refused form field (see ``web.errors``).
FORM_FAILURES = {
    "missing": "form.field_missing",
    "type": "form.field_type",
    "text": "form.field_nul",
    "invalid": "form.field_invalid",
    "body": "form.field_type",
}
#: A file field that did not hold one file (sent twice, or as text).
FILE_PROBLEMS = {"file": "form.file_invalid"}


class UndeclaredField(KeyError):
    """A handler read a form field its Struct does not declare: a bug, named at once."""

    def __init__(self, form: str, name: str) -> None:
        super().__init__(f"{form} does not declare the form field {name!r}: add it to web/forms.py")


class FormValues(dict[str, str]):
    """A form's declared text fields by name; reading an undeclared name raises."""

    def __init__(self, form: str, values: Iterable[tuple[str, str]]) -> None:
        super().__init__(values)
        self.form = form

    def __missing__(self, name: str) -> str:
        raise UndeclaredField(self.form, name)

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self:
            raise UndeclaredField(self.form, name)
        return super().get(name, default)


class FormBody(msgspec.Struct, kw_only=True):
    """Base of every HTML form body."""

    #: Our problem code by field, or by kind of failure, before :data:`FORM_FAILURES`.
    problems: ClassVar[dict[str, str]] = {}
    #: Extra message parameters of those codes.
    problem_params: ClassVar[dict[str, Any]] = {}
    #: The general codes of refused form fields.
    failures: ClassVar[dict[str, str]] = FORM_FAILURES
    #: The message key of each field's label: a refusal names the field as the page does.
    labels: ClassVar[dict[str, str]] = {}

    def values(self) -> FormValues:
        """The text fields as typed, for the parsers that take a mapping (form, API and CSV)."""
        return FormValues(
            type(self).__name__,
            (
                (name, getattr(self, name))
                for name in self.__struct_fields__
                if isinstance(getattr(self, name), str)
            ),
        )


def ticked(value: UUID | list[UUID]) -> list[UUID]:
    """A checkbox group's ids: one ticked box arrives as one value, several as a list."""
    return value if isinstance(value, list) else [value]


# --- session and own account ---------------------------------------------------------------


class SignInForm(FormBody, kw_only=True):
    """``POST /sign-in``."""

    login: Text = ""
    password: Text = ""
    next: Text = ""

    labels: ClassVar[dict[str, str]] = {"login": "session.login", "password": "session.password"}


class PasswordForm(FormBody, kw_only=True):
    """``POST /account``: change the own password."""

    current: Text = ""
    new: Text = ""
    repeated: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "current": "account_admin.current",
        "new": "account_admin.new",
        "repeated": "account_admin.repeated",
    }


# --- municipal admin -----------------------------------------------------------------------


class AccountForm(FormBody, kw_only=True):
    """``POST /admin/accounts``: a new account."""

    login: Text = ""
    display_name: Text = ""
    password: Text = ""
    role: Text = ""
    venue_id: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "login": "accounts.login",
        "display_name": "accounts.display_name",
        "password": "accounts.password",
        "role": "accounts.role",
        "venue_id": "accounts.venue",
    }


class DeviceForm(FormBody, kw_only=True):
    """``POST /admin/devices``: register a tablet."""

    label: Text = ""
    venue_id: Text = ""

    labels: ClassVar[dict[str, str]] = {"label": "device.label", "venue_id": "device.venue"}


class VenueForm(FormBody, kw_only=True):
    """``POST /admin/venues``: a new venue."""

    code: Text = ""
    name: Text = ""
    kind: Text = ""
    address: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "code": "venue_admin.code",
        "name": "venue_admin.name",
        "kind": "venue_admin.kind",
        "address": "venue_admin.address",
    }


class SettingsForm(FormBody, kw_only=True):
    """``POST /admin/settings``: a new revision of the settings (switches are ``"1"`` or absent)."""

    provides_records_to_inquiries: Text = ""
    accepts_records_from_other_venues: Text = ""
    provides_statistics: Text = ""
    kiosk_issuance: Text = ""
    kiosk_hours_start: Text = ""
    kiosk_hours_end: Text = ""
    certificate_contact: Text = ""
    reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        name: f"settings.{name}"
        for name in (
            "provides_records_to_inquiries", "accepts_records_from_other_venues",
            "provides_statistics", "kiosk_issuance", "kiosk_hours_start", "kiosk_hours_end",
            "reason",
        )
    } | {"certificate_contact": "settings.contact"}  # fmt: skip


class StreamedUpload(FormBody, kw_only=True):
    """The residents import and the backup restore: one file, streamed to disk, never decoded
    here (named in the routes' ``opt`` so the form checks know the field)."""

    file: UploadFile | None = None


# --- residents, records, certificates ------------------------------------------------------


class MyNumberSearchForm(FormBody, kw_only=True):
    """``POST /residents/search``: the search form with the exact My Number (posted, never in a URL)."""

    name: Text = ""
    birth_date: Text = ""
    ticket_number: Text = ""
    resident_number: Text = ""
    my_number: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "name": "person.name_or_kana",
        "birth_date": "person.birth_date",
        "ticket_number": "person.ticket_number",
        "resident_number": "person.resident_number",
        "my_number": "person.my_number_exact",
    }


class ResidentEditForm(FormBody, kw_only=True):
    """``POST /residents/{id}/edit``: the person's items with a reason."""

    name: Text = ""
    name_kana: Text = ""
    former_name: Text = ""
    moved_out_on: Text = ""
    deceased_on: Text = ""
    priority_group: Text = ""
    needs_care: Text = ""
    my_number: Text = ""
    reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "name": "person.name",
        "name_kana": "person.kana",
        "former_name": "person.former_name",
        "moved_out_on": "residents.moved_out_on",
        "deceased_on": "residents.deceased_on",
        "priority_group": "residents.priority_group",
        "needs_care": "person.needs_care",
        "my_number": "residents.my_number_new",
        "reason": "residents.reason",
    }


class TicketReissueForm(FormBody, kw_only=True):
    """``POST /residents/{id}/reissue``: which valid ticket to replace, and why."""

    ticket_number: Text = ""
    reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "ticket_number": "residents.reissue_ticket",
        "reason": "residents.reissue_reason",
    }


class ReasonForm(FormBody, kw_only=True):
    """A reason alone: delete or erase a record, erase a resident."""

    reason: Text = ""

    labels: ClassVar[dict[str, str]] = {"reason": "records.reason"}


class ResolveForm(FormBody, kw_only=True):
    """``POST /quality/resolve``: the ticked records (``id``, repeated) and one reason."""

    reason: Text = ""
    id: UUID | list[UUID] = []

    problems: ClassVar[dict[str, str]] = {"id": "records.selection_invalid"}
    labels: ClassVar[dict[str, str]] = {"reason": "records.resolve_reason", "id": "records.select"}


class CorrectionForm(FormBody, kw_only=True):
    """``POST /records/{id}/correct``: the correctable fields, a reason, an override reason."""

    dose_number: Text = ""
    vaccinated_on: Text = ""
    product: Text = ""
    lot_number: Text = ""
    volume_ml: Text = ""
    doctor_name: Text = ""
    venue_name: Text = ""
    reason: Text = ""
    override_reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "dose_number": "venue.dose_number",
        "vaccinated_on": "venue.date",
        "product": "venue.product",
        "lot_number": "venue.lot",
        "volume_ml": "venue.volume",
        "doctor_name": "venue.doctor",
        "venue_name": "records.venue",
        "reason": "records.reason",
        "override_reason": "venue.override_reason",
    }


class CertificateForm(FormBody, kw_only=True):
    """``POST /certificates/person/{id}/preview`` and ``.../issue``: kind and passport data."""

    kind: Text = ""
    passport_number: Text = ""
    nationality: Text = ""
    family_name_roman: Text = ""
    given_name_roman: Text = ""

    labels: ClassVar[dict[str, str]] = {
        name: f"certificates.{name}"
        for name in (
            "kind", "passport_number", "nationality", "family_name_roman", "given_name_roman",
        )
    }  # fmt: skip


# --- inquiries -----------------------------------------------------------------------------


class InquiryForm(FormBody, kw_only=True):
    """``POST /inquiries/single``: whom to ask about, the consent, and how to answer."""

    my_number: Text = ""
    consent: Text = ""
    consent_basis: Text = ""
    consent_reference: Text = ""
    register: Text = ""
    format: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "my_number": "person.my_number",
        "consent": "inquiry.consent",
        "consent_basis": "inquiry.consent_basis",
        "consent_reference": "consent.reference",
        "register": "inquiry.register",
    }


class BulkInquiryForm(FormBody, kw_only=True):
    """``POST /inquiries/bulk``: a CSV of My Numbers with consent, and how to answer."""

    file: UploadFile | None = None
    format: Text = ""

    problems: ClassVar[dict[str, str]] = FILE_PROBLEMS
    labels: ClassVar[dict[str, str]] = {"file": "import.file"}


# --- venue ---------------------------------------------------------------------------------


class LookupForm(FormBody, kw_only=True):
    """``POST /venue/lookup``: the ticket, the stated birth date (and the operator's reason to
    go on when the registry's birth date is wrong)."""

    ticket: Text = ""
    municipality_code: Text = ""
    birth_date: Text = ""
    identity_reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "ticket": "identity.scan_label",
        "municipality_code": "venue.municipality",
        "birth_date": "identity.birth_label",
        "identity_reason": "identity.override_reason",
    }


class VenueDoseForm(FormBody, kw_only=True):
    """``POST /venue/doses``: the panel's dose form (the JSON API's ``DoseBody``, as a form)."""

    ticket: Text = ""
    municipality_code: Text = ""
    birth_date: Text = ""
    identity_reason: Text = ""
    idempotency_key: Text = ""
    vaccinated_on: Text = ""
    dose_number: Text = ""
    product: Text = ""
    lot_number: Text = ""
    volume_ml: Text = ""
    doctor_name: Text = ""
    override_reason: Text = ""

    labels: ClassVar[dict[str, str]] = {
        **LookupForm.labels,
        "vaccinated_on": "venue.date",
        "dose_number": "venue.dose_number",
        "product": "venue.product",
        "lot_number": "venue.lot",
        "volume_ml": "venue.volume",
        "doctor_name": "venue.doctor",
        "override_reason": "venue.override_reason",
    }


class EnrolForm(FormBody, kw_only=True):
    """``POST /venue/enrol``: the tablet's one-time code."""

    code: Text = ""

    labels: ClassVar[dict[str, str]] = {"code": "device.code"}


class DoseFileForm(FormBody, kw_only=True):
    """``POST /venue/upload``: a CSV of doses (at most 50 MB, spooled to disk by Litestar).

    ``venue_id``: the clinic or workplace venue a clerk uploads the file for (a
    venue account uploads for its own venue and has no choice).
    """

    file: UploadFile | None = None
    venue_id: Text = ""

    problems: ClassVar[dict[str, str]] = FILE_PROBLEMS
    labels: ClassVar[dict[str, str]] = {"file": "venue.upload_file", "venue_id": "bulk.venue"}


# --- national admin ------------------------------------------------------------------------


class MasterDataForm(FormBody, kw_only=True):
    """``POST /national/vaccines/{lots,rules,names}``: the forms of the vaccine master.

    A rule's numbers are the fields of ``db.vaccines.rule_shapes.PARAM_FIELDS`` (each kind's
    form posts its own; ``tests/unit/test_rule_shapes.py`` checks this Struct declares them).
    """

    product: Text = ""
    lot_number: Text = ""
    expires_on: Text = ""
    kind: Text = ""
    valid_from: Text = ""
    note: Text = ""
    name: Text = ""
    name_en: Text = ""
    # the numbers of a rule, by kind: age, volume, interval, doses, dose_start
    min_months: Text = ""
    max_months: Text = ""
    ml: Text = ""
    dose_from: Text = ""
    dose_to: Text = ""
    min_age_months: Text = ""
    max_age_months: Text = ""
    after_dose: Text = ""
    min_days: Text = ""
    max_days: Text = ""
    min_dose: Text = ""
    dose: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "product": "venue.product",
        "lot_number": "venue.lot",
        "expires_on": "master.expires_on",
        "kind": "master.kind",
        "valid_from": "master.valid_from",
        "note": "master.note",
        "name": "master.name",
        "name_en": "master.name_en",
        **{field: f"master.param.{field}" for field in PARAM_FIELDS},
    }


class MunicipalityForm(FormBody, kw_only=True):
    """``POST /national/municipalities``: the new municipality."""

    code: Text = ""
    prefecture: Text = ""
    name: Text = ""
    name_en: Text = ""
    head_title: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "code": "national_admin.code",
        "prefecture": "national_admin.prefecture",
        "name": "national_admin.name_ja",
        "name_en": "national_admin.name_en",
        "head_title": "national_admin.head_title",
    }


class AdminForm(FormBody, kw_only=True):
    """``POST /national/municipalities/{code}/admins``: the new municipal admin."""

    login: Text = ""
    display_name: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "login": "accounts.login",
        "display_name": "accounts.display_name",
    }


class SuspensionForm(FormBody, kw_only=True):
    """``POST /national/suspensions``: suspend (with a notice) or lift a function."""

    function: Text = ""
    action: Text = ""
    notice_ja: Text = ""
    notice_en: Text = ""

    labels: ClassVar[dict[str, str]] = {
        "function": "suspension.function",
        "action": "suspension.action",
        "notice_ja": "suspension.notice_ja",
        "notice_en": "suspension.notice_en",
    }


# --- anyone --------------------------------------------------------------------------------


class VerifyForm(FormBody, kw_only=True):
    """``POST /verify``: pasted text or an uploaded picture or PDF."""

    text: Text = ""
    file: UploadFile | None = None

    problems: ClassVar[dict[str, str]] = FILE_PROBLEMS
    labels: ClassVar[dict[str, str]] = {"text": "verify.text_label", "file": "verify.file_label"}
