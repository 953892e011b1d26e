"""The clerk's data-quality queue (要修正・要確認) and record corrections (F4, F5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.residents.queries import dose_certificates
from db.vaccinations.corrections import (
    CORRECTABLE,
    CorrectionRefused,
    RecordNotFound,
    correct,
    delete,
    erase,
    match_unmatched,
    queue,
    record_with_history,
    resolve,
)
from db.vaccinations.dose_input import MAX_DOSE_NUMBER
from db.vaccines.master import product_labels
from web.auth import requires
from web.errors import BadInput, NotFound
from web.forms import CorrectionForm, Form, ReasonForm, ResolveForm, ticked
from web.i18n import language_of, translate

QUALITIES = ("must_fix", "must_check")


def _reason(form: ReasonForm | ResolveForm | CorrectionForm) -> str:
    reason = form.reason.strip()
    if not reason:
        raise BadInput("records.reason_required", field="reason")
    if len(reason) > 500:
        raise BadInput("dose.override_too_long", field="reason")
    return reason


#: What the record's text columns hold, and the message for a longer value (as the venue form's).
_TEXT_LIMITS = {
    "lot_number": (32, "dose.lot_invalid"),
    "doctor_name": (64, "dose.doctor_required"),
    "venue_name": (128, "records.venue_name_too_long"),
    "product": (48, "rule.product_unknown"),
}


def _changes(form: CorrectionForm) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    values = form.values()
    try:
        for name, kind in CORRECTABLE.items():
            raw = values[name].strip()
            if not raw:
                continue
            if kind is int:
                if not raw.isdigit() or not 1 <= int(raw) <= MAX_DOSE_NUMBER:
                    raise BadInput("dose.dose_number_invalid", field=name, max=MAX_DOSE_NUMBER)
                changes[name] = int(raw)
            elif kind is dt.date:
                changes[name] = dt.date.fromisoformat(raw)
            elif kind is Decimal:
                changes[name] = Decimal(raw).quantize(Decimal("0.01"))
            else:
                limit, key = _TEXT_LIMITS[name]
                if len(raw) > limit:
                    raise BadInput(key, field=name, product=raw[:limit], length=limit)
                changes[name] = raw.upper() if name == "lot_number" else raw
    except (ValueError, InvalidOperation):
        raise BadInput("records.field_invalid", field=name) from None
    return changes


#: Form fields besides the correctable ones that a refused correction gives back.
_KEPT = ("reason", "override_reason")


def _current(record: dict[str, Any]) -> dict[str, str]:
    """The correction form filled with the record, and the override reason it was saved with."""
    overrides = [r.get("override_reason", "") for r in record["quality_reasons"] or []
                 if isinstance(r, dict) and r.get("override_reason")]  # fmt: skip
    values = {name: "" if record[name] is None else str(record[name]) for name in CORRECTABLE}
    values["vaccinated_on"] = record["vaccinated_on"].isoformat() if record["vaccinated_on"] else ""
    return {**values, "reason": "", "override_reason": overrides[0] if overrides else ""}


class QualityController(Controller):
    """Queue, record page, corrections."""

    include_in_schema = False
    guards = [requires(Role.CLERK, Role.MUNICIPAL_ADMIN)]

    @get("/quality", name="quality_queue")
    async def index(
        self, request: Request[Any, Any, Any], quality: FromQuery[str | None] = None,
        rule: FromQuery[str | None] = None, done: FromQuery[str | None] = None,
    ) -> Template:  # fmt: skip
        """Records needing attention, filterable by flag and by rule."""
        quality = quality if quality in QUALITIES else None
        rule = rule or None
        async with tenant_transaction(request.user.tenant):
            items = await queue(quality, rule)
        return Template(
            "records/quality.html",
            context={
                "items": items,
                "quality": quality,
                "rule": rule,
                "qualities": QUALITIES,
                "done": done,
            },
        )

    @post("/quality/resolve", name="quality_resolve", media_type=MediaType.HTML)
    async def resolve_selected(
        self, request: Request[Any, Any, Any], data: Form[ResolveForm]
    ) -> Redirect:
        """Mark the ticked records as checked, with one reason for all."""
        reason = _reason(data)
        ids = ticked(data.id)  # a malformed id was refused with records.selection_invalid
        if not ids:
            raise BadInput("records.selection_empty", field="id")
        try:
            async with tenant_transaction(request.user.tenant):
                count = await resolve(ids, reason=reason, actor=request.user)
        except RecordNotFound:  # an id of another area (or none): nothing is resolved
            raise NotFound("error.not_found", field="id") from None
        return Redirect(f"/quality?done=resolved:{count}", status_code=HTTP_303_SEE_OTHER)

    @post("/quality/match", name="quality_match", media_type=MediaType.HTML)
    async def match(self, request: Request[Any, Any, Any]) -> Redirect:
        """Attach unmatched records to tickets registered since."""
        async with tenant_transaction(request.user.tenant):
            count = await match_unmatched(actor=request.user)
        return Redirect(f"/quality?done=matched:{count}", status_code=HTTP_303_SEE_OTHER)

    @get("/records/{vaccination_id:uuid}", name="record_page")
    async def record(
        self,
        request: Request[Any, Any, Any],
        vaccination_id: FromPath[UUID],
        today: NamedDependency[dt.date],
    ) -> Template:
        """One record with its history, and the forms to correct or delete it."""
        return await self._page(request, vaccination_id, today)

    async def _page(
        self, request: Request[Any, Any, Any], vaccination_id: UUID, today: dt.date,
        error: str | None = None, status_code: int = 200,
        submitted: dict[str, str] | None = None, error_field: str | None = None,
    ) -> Template:  # fmt: skip
        async with tenant_transaction(request.user.tenant):
            try:
                record, history = await record_with_history(vaccination_id)
            except RecordNotFound:
                raise NotFound("error.not_found") from None
            products = await product_labels(record["vaccinated_on"] or today)
            certificates = await dose_certificates(vaccination_id)
        # The certificates the clerk's last correction revoked (named in the redirect), as
        # recorded: an id in the address that this record's certificates do not hold is ignored.
        named = set(request.query_params.get("revoked", "").split(","))
        return Template(
            "records/record.html",
            context={
                "record": record,
                "history": history,
                "products": products,
                "error": error,
                "can_erase": request.user.role is Role.MUNICIPAL_ADMIN,
                "form": submitted or _current(record),
                "error_field": error_field,
                "certificates": certificates,
                "revoked_now": [
                    c["certificate_id"]
                    for c in certificates
                    if c["revoked_at"] and c["certificate_id"] in named
                ],
                "corrected": request.query_params.get("corrected") == "1",
            },  # fmt: skip
            status_code=status_code,
        )

    @post(
        "/records/{vaccination_id:uuid}/correct", name="record_correct", media_type=MediaType.HTML
    )
    async def correct_record(
        self,
        request: Request[Any, Any, Any],
        vaccination_id: FromPath[UUID],
        today: NamedDependency[dt.date],
        data: Form[CorrectionForm],
    ) -> Any:
        """Correct fields with a reason; the rules judge the corrected record."""
        language = language_of(request)
        # Whatever is refused, the page comes back with the clerk's edits in the form.
        typed = data.values()
        submitted = {name: typed[name] for name in (*CORRECTABLE, *_KEPT)}
        override_reason = submitted["override_reason"].strip()
        try:
            reason = _reason(data)
            changes = _changes(data)
            if len(override_reason) > 500:
                raise BadInput("dose.override_too_long", field="override_reason")
        except BadInput as bad:
            return await self._page(
                request, vaccination_id, today, error=translate(bad.key, language, **bad.params),
                status_code=422, submitted=submitted, error_field=bad.field,
            )  # fmt: skip
        try:
            async with tenant_transaction(request.user.tenant):
                _, revoked = await correct(vaccination_id, changes, reason=reason, actor=request.user,
                                           today=today, override_reason=override_reason)  # fmt: skip
        except RecordNotFound:
            raise NotFound("error.not_found") from None
        except CorrectionRefused as refused:
            message = " ".join(translate(f.key, language, **f.params) for f in refused.findings)
            if any(f.overridable for f in refused.findings):
                message += " " + translate("residents.override_offered", language)
            return await self._page(
                request, vaccination_id, today, error=message, status_code=422,
                submitted=submitted, error_field="override_reason",
            )  # fmt: skip
        query = f"?corrected=1&revoked={','.join(revoked)}" if revoked else "?corrected=1"
        return Redirect(f"/records/{vaccination_id}{query}", status_code=HTTP_303_SEE_OTHER)

    @post("/records/{vaccination_id:uuid}/delete", name="record_delete", media_type=MediaType.HTML)
    async def delete_record(
        self, request: Request[Any, Any, Any], vaccination_id: FromPath[UUID],
        data: Form[ReasonForm],
    ) -> Redirect:  # fmt: skip
        """Delete with a reason: the record stays, as deleted, with its history."""
        reason = _reason(data)
        try:
            async with tenant_transaction(request.user.tenant):
                await delete(vaccination_id, reason=reason, actor=request.user)
        except RecordNotFound:
            raise NotFound("error.not_found") from None
        return Redirect(f"/records/{vaccination_id}", status_code=HTTP_303_SEE_OTHER)

    # The role is a guard, so a clerk is refused before the form is even read.
    @post("/records/{vaccination_id:uuid}/erase", name="record_erase", media_type=MediaType.HTML,
          guards=[requires(Role.MUNICIPAL_ADMIN)])  # fmt: skip
    async def erase_record(
        self, request: Request[Any, Any, Any], vaccination_id: FromPath[UUID],
        data: Form[ReasonForm],
    ) -> Redirect:  # fmt: skip
        """Erase the personal content (municipal admin only, legal reason required)."""
        reason = _reason(data)
        try:
            async with tenant_transaction(request.user.tenant):
                await erase(vaccination_id, reason=reason, actor=request.user)
        except RecordNotFound:
            raise NotFound("error.not_found") from None
        return Redirect(f"/records/{vaccination_id}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [QualityController]
