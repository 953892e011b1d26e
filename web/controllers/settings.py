"""A municipality's settings, changed by its admin (自治体の設定).

Kiosk issuance and its hours (kiosk terms 第8条, 第10条), the contact printed on
certificates (第19条), answering other municipalities' inquiries, accepting
records from other municipalities' venues (確認事項 第3条) and providing
statistics (第4条4). Each change needs a reason and becomes a new revision;
the page shows every revision with who, when and why.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.operations.suspensions import active_suspension
from db.tenancy.queries import current_terms
from db.tenancy.settings import (
    KIOSK_EARLIEST,
    KIOSK_LATEST,
    SettingsError,
    change_settings,
    parse_settings,
    settings_history,
)
from web.auth import requires
from web.forms import Form, SettingsForm
from web.i18n import language_of, translate


def _form_of(terms: Any) -> dict[str, str]:
    """The form's values for the settings in force."""
    if terms is None:
        return {}
    return {
        "provides_records_to_inquiries": "1" if terms.provides_records_to_inquiries else "",
        "accepts_records_from_other_venues": "1" if terms.accepts_records_from_other_venues else "",
        "provides_statistics": "1" if terms.provides_statistics else "",
        "kiosk_issuance": "1" if terms.kiosk_issuance else "",
        "kiosk_hours_start": (terms.kiosk_hours_start or KIOSK_EARLIEST).strftime("%H:%M"),
        "kiosk_hours_end": (terms.kiosk_hours_end or KIOSK_LATEST).strftime("%H:%M"),
        "certificate_contact": terms.certificate_contact,
    }


class SettingsController(Controller):
    """The settings form and its history."""

    include_in_schema = False
    path = "/admin/settings"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_settings")
    async def index(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        """The settings in force, the form to change them, and every revision."""
        notice = None
        if done in ("saved", "unchanged"):
            notice = translate(f"settings.{done}", language_of(request))
        return await self._page(request, notice=notice)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        notice: str | None = None,
        error: SettingsError | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        code = request.user.municipality_code
        async with tenant_transaction(request.user.tenant):
            terms = await current_terms(code)
            history = await settings_history(code)
        kiosk = await active_suspension("kiosk_issuance")
        language = language_of(request)
        return Template(
            "settings/index.html",
            context={
                "form": form if form is not None else _form_of(terms),
                "history": history,
                "suspensions": [kiosk] if kiosk is not None else [],
                "notice": notice,
                "error": None if error is None else translate(error.key, language, **error.params),
                "error_field": None if error is None else error.field,
                "earliest": KIOSK_EARLIEST.strftime("%H:%M"),
                "latest": KIOSK_LATEST.strftime("%H:%M"),
            },
            status_code=status_code,
        )

    @post("/", name="admin_settings_save", media_type=MediaType.HTML)
    async def save(self, request: Request[Any, Any, Any], data: Form[SettingsForm]) -> Any:
        """Save a new revision; bad input comes back next to the form, as typed."""
        principal = request.user
        form = data.values()
        try:
            terms, reason = parse_settings(form)
        except SettingsError as error:
            return await self._page(request, error=error, form=form, status_code=422)
        async with tenant_transaction(principal.tenant):
            revision = await change_settings(principal.municipality_code, terms, reason, principal)
        done = "unchanged" if revision is None else "saved"
        return Redirect(f"/admin/settings?done={done}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [SettingsController]
