"""Person search and the person page (住民検索・個人の記録), every view audited."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from common.identifiers import (
    IdentifierError,
    parse_my_number,
    parse_resident_number,
    parse_ticket_number,
)
from common.settings import Settings
from db.accounts.roles import Role
from db.audit.queries import record
from db.engine import tenant_transaction
from db.imports.format import PRIORITY_GROUPS, parse_date
from db.residents.editing import (
    ResidentEditRefused,
    ResidentItems,
    changes_between,
    edit_resident,
    resident_history,
)
from db.residents.erasure import erase_resident
from db.residents.my_number import MyNumberVault
from db.residents.queries import (
    PersonQuery,
    my_number_ciphertext,
    person,
    resident_birth_date,
    search,
)
from db.residents.reissue import ReissueRefused, reissue_ticket
from web.auth import requires
from web.errors import BadInput, NotFound
from web.forms import Form, MyNumberSearchForm, ReasonForm, ResidentEditForm, TicketReissueForm
from web.i18n import language_of, translate

#: Who may see a My Number in clear, on an explicit, audited request.
REVEAL_ROLES = frozenset({Role.CLERK, Role.MUNICIPAL_ADMIN})

MAX_NAME = 128
MAX_REASON = 500
_KANA = re.compile(r"[\u30a0-\u30ff\u3000 ]+")
PRIORITIES = tuple(sorted(set(PRIORITY_GROUPS.values())))


def _edit(
    form: dict[str, str], birth_date: dt.date, today: dt.date
) -> tuple[ResidentItems | None, str | None, str, dict[str, str]]:
    """The checked items, My Number and reason of an edit, or the problems per field."""
    errors: dict[str, str] = {}
    reason = form["reason"].strip()
    if not reason:
        errors["reason"] = "residents.reason_required"
    elif len(reason) > MAX_REASON:
        errors["reason"] = "residents.reason_too_long"
    name = form["name"].strip()
    kana = unicodedata.normalize("NFKC", form["name_kana"]).strip()
    former_name = form["former_name"].strip()
    if not name:
        errors["name"] = "import.required"
    if not kana:
        errors["name_kana"] = "import.required"
    elif not _KANA.fullmatch(kana):
        errors["name_kana"] = "import.kana_invalid"
    for key, value in (("name", name), ("name_kana", kana), ("former_name", former_name)):
        if len(value) > MAX_NAME and key not in errors:
            errors[key] = "residents.too_long"
    dates: dict[str, dt.date | None] = {}
    for key in ("moved_out_on", "deceased_on"):
        dates[key] = None
        if form[key].strip():
            try:
                day = parse_date(form[key])
            except ValueError:
                errors[key] = "import.date_invalid"
                continue
            dates[key] = day
            if day > today:
                errors[key] = "import.date_future"
            elif day < birth_date:
                errors[key] = "import.before_birth"
    priority = form["priority_group"].strip()
    if priority not in PRIORITIES:
        errors["priority_group"] = "residents.priority_invalid"
    my_number: str | None = None
    if form["my_number"].strip():
        try:
            my_number = parse_my_number(form["my_number"])
        except IdentifierError as exc:
            errors["my_number"] = exc.key
    if errors:
        return None, None, reason, errors
    items = ResidentItems(
        name=name, name_kana=kana.replace("\u3000", " "), former_name=former_name,
        moved_out_on=dates["moved_out_on"], deceased_on=dates["deceased_on"],
        priority_group=priority, needs_care=form["needs_care"] in ("1", "on", "true"),
    )  # fmt: skip
    return items, my_number, reason, errors


def _query(form: dict[str, str], vault: MyNumberVault) -> tuple[PersonQuery, dict[str, Any]]:
    errors: dict[str, Any] = {}  # field -> (message key, its parameters)
    values: dict[str, Any] = {}
    name = unicodedata.normalize("NFKC", form.get("name", "")).strip()
    if name:
        values["name"] = name[:64]
    for key, parse in (
        ("ticket_number", parse_ticket_number),
        ("resident_number", parse_resident_number),
    ):
        if form.get(key, "").strip():
            try:
                values[key] = parse(form[key])
            except IdentifierError as exc:
                errors[key] = (exc.key, exc.params)
    if form.get("my_number", "").strip():
        try:
            values["my_number_hmac"] = vault.lookup_hash(parse_my_number(form["my_number"]))
        except IdentifierError as exc:
            errors["my_number"] = (exc.key, exc.params)
    if form.get("birth_date", "").strip():
        try:
            values["birth_date"] = parse_date(form["birth_date"])
        except ValueError:
            errors["birth_date"] = ("import.date_invalid", {})
    return PersonQuery(**values), errors


def _edit_form(resident: dict[str, Any]) -> dict[str, str]:
    """The edit form filled with the resident's current items."""
    return {
        "name": resident["name"],
        "name_kana": resident["name_kana"],
        "former_name": resident["former_name"] or "",
        "moved_out_on": str(resident["moved_out_on"] or ""),
        "deceased_on": str(resident["deceased_on"] or ""),
        "priority_group": resident["priority_group"] or "",
        "needs_care": "1" if resident["needs_care"] else "",
        "my_number": "",
        "reason": "",
    }


class ResidentsController(Controller):
    """Search residents of the clerk's area and open one person's record."""

    include_in_schema = False
    path = "/residents"
    guards = [requires(Role.CLERK, Role.MUNICIPAL_ADMIN)]

    @get("/", name="residents")
    async def index(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        name: FromQuery[str] = "",
        birth_date: FromQuery[str] = "",
        ticket_number: FromQuery[str] = "",
        resident_number: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> Template:
        """The search form and one page of results."""
        form = {
            "name": name,
            "birth_date": birth_date,
            "ticket_number": ticket_number,
            "resident_number": resident_number,
        }
        query, errors = _query(form, MyNumberVault(settings.my_number_key))
        return await self._results(request, query, errors, form, max(1, min(page, 10_000)))

    @post("/search", name="residents_search")
    async def search_by_my_number(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: Form[MyNumberSearchForm],
    ) -> Template:
        """Search by exact My Number: posted, so the number never lands in a URL or log."""
        form = data.values()
        query, errors = _query(form, MyNumberVault(settings.my_number_key))
        form["my_number"] = ""
        return await self._results(request, query, errors, form, 1)

    async def _results(
        self,
        request: Request[Any, Any, Any],
        query: PersonQuery,
        errors: dict[str, Any],
        form: dict[str, str],
        page: int,
    ) -> Template:
        principal = request.user
        results: list[dict[str, Any]] = []
        more = False
        if not errors and not query.empty:
            async with tenant_transaction(principal.tenant):
                results, more = await search(query, page)
                await record(
                    "resident.search",
                    actor=principal,
                    municipality_code=principal.tenant,
                    object_type="resident",
                    details={
                        "by": sorted(k for k, v in vars(query).items() if v),
                        "shown": [str(r["id"]) for r in results],
                    },
                )
        language = language_of(request)
        return Template(
            "residents/index.html",
            context={
                "form": form,
                "errors": {
                    k: translate(key, language, **{"length": 12, **(params or {})})
                    for k, (key, params) in errors.items()
                },
                "results": results,
                "searched": not query.empty and not errors,
                "page": page,
                "more": more,
            },
            status_code=422 if errors else 200,
        )

    @get("/{resident_id:uuid}", name="resident")
    async def show(self, request: Request[Any, Any, Any], resident_id: FromPath[UUID]) -> Template:
        """One person: tickets, doses with history, flags, certificates; My Number masked."""
        return await self._person(request, resident_id)

    async def _person(
        self, request: Request[Any, Any, Any], resident_id: UUID, revealed: str | None = None,
        edit: dict[str, str] | None = None, errors: dict[str, str] | None = None,
        erase_error: str = "", erase_reason: str = "",
        reissue: TicketReissueForm | None = None, reissue_error: ReissueRefused | None = None,
    ) -> Template:  # fmt: skip
        principal = request.user
        async with tenant_transaction(principal.tenant):
            found = await person(resident_id)
            if found is None:
                raise NotFound("error.not_found")
            history = await resident_history(resident_id)
            await record(
                "resident.view",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="resident",
                object_id=str(resident_id),
            )
        resident = found["resident"]
        has_my_number = resident["my_number_ciphertext"] is not None
        language = language_of(request)
        return Template(
            "residents/person.html",
            context={
                **found,
                "has_my_number": has_my_number,
                "masked": "*" * 12 if has_my_number else "",
                "revealed": revealed,
                "may_reveal": principal.role in REVEAL_ROLES,
                "history": changes_between(history, resident),
                "edit": edit or _edit_form(resident),
                "edit_open": errors is not None,
                "edit_errors": {
                    k: translate(v, language, length=MAX_NAME) for k, v in (errors or {}).items()
                },  # fmt: skip
                "priorities": PRIORITIES,
                "saved": request.query_params.get("saved") == "1",
                "erased": request.query_params.get("erased") == "1",
                "may_erase": principal.role is Role.MUNICIPAL_ADMIN,
                "erase_error": translate(erase_error, language) if erase_error else "",
                "erase_reason": erase_reason,
                "reissue": reissue or TicketReissueForm(),
                "reissue_error": {
                    "field": reissue_error.field or "form",
                    "message": translate(reissue_error.key, language),
                }
                if reissue_error
                else {},
                "reissued": request.query_params.get("reissued", ""),
            },
            status_code=422 if errors or erase_error or reissue_error else 200,
        )

    @post("/{resident_id:uuid}/edit", name="resident_edit")
    async def edit(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        settings: NamedDependency[Settings],
        today: NamedDependency[dt.date],
        data: Form[ResidentEditForm],
    ) -> Any:
        """Save the clerk's edit of the person's items with a reason; old values are kept."""
        form = data.values()
        principal = request.user
        async with tenant_transaction(principal.tenant):
            birth_date = await resident_birth_date(resident_id)
        if birth_date is None:
            raise NotFound("error.not_found")
        items, my_number, reason, errors = _edit(form, birth_date, today)
        form["my_number"] = ""  # never sent back into a page
        if items is None:
            return await self._person(request, resident_id, edit=form, errors=errors)
        try:
            async with tenant_transaction(principal.tenant):
                version = await edit_resident(
                    resident_id, items, my_number=my_number, reason=reason,
                    vault=MyNumberVault(settings.my_number_key), actor=principal,
                )  # fmt: skip
        except ResidentEditRefused as refused:
            field = refused.field or "form"
            return await self._person(request, resident_id, edit=form, errors={field: refused.key})
        if version is None:
            raise NotFound("error.not_found")
        return Redirect(f"/residents/{resident_id}?saved=1", status_code=HTTP_303_SEE_OTHER)

    # The role is a guard, so a clerk is refused before the form is even read.
    @post(
        "/{resident_id:uuid}/erase", name="resident_erase", guards=[requires(Role.MUNICIPAL_ADMIN)]
    )
    async def erase(
        self, request: Request[Any, Any, Any], resident_id: FromPath[UUID], data: Form[ReasonForm]
    ) -> Any:
        """Erase the person (municipal admin, legal reason required); the fact is audited."""
        principal = request.user
        reason = data.reason.strip()
        if not reason or len(reason) > MAX_REASON:
            key = "residents.erase_reason_required" if not reason else "residents.reason_too_long"
            return await self._person(
                request, resident_id, erase_error=key, erase_reason=data.reason
            )
        try:
            async with tenant_transaction(principal.tenant):
                done = await erase_resident(resident_id, reason=reason, actor=principal)
        except ValueError as refused:
            return await self._person(request, resident_id, erase_error=str(refused))
        if done is None:
            raise NotFound("error.not_found")
        return Redirect(f"/residents/{resident_id}?erased=1", status_code=HTTP_303_SEE_OTHER)

    @post("/{resident_id:uuid}/reissue", name="resident_ticket_reissue")
    async def reissue(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        today: NamedDependency[dt.date],
        data: Form[TicketReissueForm],
    ) -> Any:
        """Replace a lost ticket by a new number (reason required); the old one stops working."""
        principal = request.user
        reason = data.reason.strip()
        try:
            if not reason or len(reason) > MAX_REASON:
                key = (
                    "residents.reissue_reason_required"
                    if not reason
                    else "residents.reason_too_long"
                )
                raise ReissueRefused(key, "reason")
            async with tenant_transaction(principal.tenant):
                done = await reissue_ticket(resident_id, data.ticket_number.strip(), reason=reason,
                                            today=today, actor=principal)  # fmt: skip
        except ReissueRefused as refused:
            return await self._person(request, resident_id, reissue=data, reissue_error=refused)
        if done is None:
            raise NotFound("error.not_found")
        return Redirect(
            f"/residents/{resident_id}?reissued={done.new}", status_code=HTTP_303_SEE_OTHER
        )

    @post("/{resident_id:uuid}/reveal", name="resident_reveal")
    async def reveal(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        settings: NamedDependency[Settings],
    ) -> Template:
        """Show the My Number once, on an explicit request by an allowed role (audited)."""
        principal = request.user
        if principal.role not in REVEAL_ROLES:
            raise BadInput("person.reveal_not_allowed")
        async with tenant_transaction(principal.tenant):
            sealed = await my_number_ciphertext(resident_id)
            if sealed is None:
                raise NotFound("person.no_my_number")
            await record(
                "resident.my_number_reveal",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="resident",
                object_id=str(resident_id),
            )
        try:
            number = MyNumberVault(settings.my_number_key).open(sealed, principal.tenant)
        except InvalidTag:
            raise BadInput("person.my_number_unreadable") from None
        return await self._person(request, resident_id, revealed=number)


ROUTES = [ResidentsController]
