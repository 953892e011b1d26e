"""Person search and the person page (住民検索・個人の記録), every view audited."""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

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
from db.imports.format import parse_date
from db.residents.my_number import MyNumberVault
from db.residents.queries import PersonQuery, my_number_ciphertext, person, search
from web.auth import requires
from web.errors import BadInput, NotFound
from web.i18n import language_of, translate

#: Who may see a My Number in clear, on an explicit, audited request.
REVEAL_ROLES = frozenset({Role.CLERK, Role.MUNICIPAL_ADMIN})


def _query(form: dict[str, str], vault: MyNumberVault) -> tuple[PersonQuery, dict[str, str]]:
    errors: dict[str, str] = {}
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
                errors[key] = exc.key
    if form.get("my_number", "").strip():
        try:
            values["my_number_hmac"] = vault.lookup_hash(parse_my_number(form["my_number"]))
        except IdentifierError as exc:
            errors["my_number"] = exc.key
    if form.get("birth_date", "").strip():
        try:
            values["birth_date"] = parse_date(form["birth_date"])
        except ValueError:
            errors["birth_date"] = "import.date_invalid"
    return PersonQuery(**values), errors


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
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template:
        """Search by exact My Number: posted, so the number never lands in a URL or log."""
        raw = await request.form()
        form = {
            k: str(raw.get(k, ""))
            for k in ("name", "birth_date", "ticket_number", "resident_number", "my_number")
        }
        query, errors = _query(form, MyNumberVault(settings.my_number_key))
        form["my_number"] = ""
        return await self._results(request, query, errors, form, 1)

    async def _results(
        self,
        request: Request[Any, Any, Any],
        query: PersonQuery,
        errors: dict[str, str],
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
                "errors": {k: translate(v, language, length=12) for k, v in errors.items()},
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
        self, request: Request[Any, Any, Any], resident_id: UUID, revealed: str | None = None
    ) -> Template:
        principal = request.user
        async with tenant_transaction(principal.tenant):
            found = await person(resident_id)
            if found is None:
                raise NotFound("error.not_found")
            await record(
                "resident.view",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="resident",
                object_id=str(resident_id),
            )
        has_my_number = found["resident"]["my_number_ciphertext"] is not None
        return Template(
            "residents/person.html",
            context={
                **found,
                "has_my_number": has_my_number,
                "masked": "*" * 12 if has_my_number else "",
                "revealed": revealed,
                "may_reveal": principal.role in REVEAL_ROLES,
            },
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
