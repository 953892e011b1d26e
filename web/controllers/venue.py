"""The venue tablet (接種会場): scan a ticket, confirm the person, record the dose.

The page is one scan field and one panel. Every lookup replaces the whole
panel, so the previous person's data can never stay on screen; every panel
carries a fresh idempotency key, so a retried save cannot make a second
record. The JSON API below takes the same fields through the same parser,
rules and messages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from common.identifiers import IdentifierError, TicketCode, parse_ticket_code
from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.audit.queries import record as audit
from db.engine import current_connection, tenant_transaction
from db.tenancy.queries import list_municipalities
from db.vaccinations.dose_input import DoseRequest, FieldError, parse_dose
from db.vaccinations.recording import (
    DoseRefused,
    Identity,
    Recorded,
    TicketUnknown,
    Venue,
    identify,
    record_dose,
    session_defaults,
    venue_records,
)
from db.vaccinations.rules import age_in_months, expected_dose_number
from db.vaccines.master import product_labels
from web.auth import requires
from web.errors import BadInput, NotAllowed, NotFound
from web.i18n import language_of, translate

RECORDING_ROLES = (Role.VENUE_OPERATOR, Role.CLERK)


async def venue_of(principal: Principal) -> Venue:
    """The venue an operator records at (clerks record as their municipality)."""
    if principal.municipality_code is None:
        raise NotAllowed("error.role_not_allowed")
    name = ""
    if principal.venue_id is not None:
        name = (
            await current_connection().fetchval(
                "SELECT name FROM venue WHERE id = $1", principal.venue_id
            )
            or ""
        )
    return Venue(principal.municipality_code, principal.venue_id, name)


def _defaults(identity: Identity, last: dict[str, Any] | None, today: dt.date) -> dict[str, Any]:
    """What the dose form starts with: today, the next dose, the session's vaccine, lot and doctor."""
    values: dict[str, Any] = {
        "vaccinated_on": today.isoformat(),
        "dose_number": expected_dose_number(identity.person()),
        "product": "",
        "lot_number": "",
        "volume_ml": "",
        "doctor_name": "",
    }
    if last:
        values.update(
            product=last["product"],
            lot_number=last["lot_number"],
            volume_ml=str(last["volume_ml"]),
            doctor_name=last["doctor_name"],
        )
    return values


class VenueController(Controller):
    """Pages of the venue tablet."""

    path = "/venue"
    include_in_schema = False
    guards = [requires(*RECORDING_ROLES)]

    @get("/", name="venue")
    async def page(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date]
    ) -> Template:
        """The scan field, an empty panel and the venue's recent records."""
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
            recent = await venue_records(venue, limit=10)
            municipalities = await list_municipalities()
            labels = {label.code: label for label in await product_labels(today)}
        return Template(
            "venue/index.html",
            context={
                "venue": venue,
                "recent": recent,
                "municipalities": municipalities,
                "labels": labels,
            },
        )

    @post("/lookup", name="venue_lookup", media_type=MediaType.HTML)
    async def lookup(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date]
    ) -> Template:
        """Find the ticket's person and show the whole panel anew."""
        form = await request.form()
        language = language_of(request)
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
            try:
                ticket = parse_ticket_code(
                    str(form.get("ticket", "")),
                    default_municipality=str(form.get("municipality_code", ""))
                    or venue.municipality_code,
                )
            except IdentifierError as exc:
                return _panel_error(translate(exc.key, language, **exc.params))
            identity = await identify(
                ticket.municipality_code, ticket.ticket_number, venue.municipality_code
            )
            if identity is None:
                return _ticket_unknown(ticket, language)
            await audit(
                "resident.view" if not identity.elsewhere else "ticket.identify_elsewhere",
                actor=request.user,
                municipality_code=venue.municipality_code,
                object_type="resident" if not identity.elsewhere else "ticket",
                object_id=str(identity.resident_id)
                if not identity.elsewhere
                else ticket.ticket_number,
                details={"channel": "venue", "ticket_municipality": ticket.municipality_code},
            )
            last = await session_defaults(request.user, venue)
            products = await product_labels(today)
        return _panel(identity, ticket_text=ticket.ocr_line or ticket.ticket_number, ticket=ticket,
                      values=_defaults(identity, last, today), products=products, today=today)  # fmt: skip

    @post("/doses", name="venue_save", media_type=MediaType.HTML)
    async def save(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date]
    ) -> Template:
        """Save the dose of the panel; on a refusal show the panel again with the reasons."""
        form = {key: str(value) for key, value in (await request.form()).items()}
        language = language_of(request)
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
            products = await product_labels(today)
            try:
                dose = parse_dose(
                    form, default_municipality=venue.municipality_code, source="tablet"
                )
            except FieldError as exc:
                return await _panel_again(
                    form,
                    venue,
                    products,
                    today,
                    language,
                    errors={exc.field: translate(exc.key, language, **exc.params)},
                )
            try:
                recorded, identity = await record_dose(
                    dose, venue=venue, actor=request.user, today=today
                )
            except TicketUnknown:
                return _ticket_unknown(dose.ticket, language)
            except DoseRefused as refused:
                return await _panel_again(
                    form, venue, products, today, language,
                    findings=[translate(f.key, language, **f.params) for f in refused.findings],
                    overridable=all(f.overridable for f in refused.findings),
                )  # fmt: skip
        return Template(
            "venue/_saved.html", context=_saved_context(recorded, identity, dose, language)
        )


def _saved_context(
    recorded: Recorded, identity: Identity, dose: DoseRequest, language: str
) -> dict[str, Any]:
    key = "venue.saved" if recorded.created else "venue.saved_again"
    if recorded.created and recorded.quality != "ok":
        key = "venue.saved_flagged"
    return {
        "message": translate(key, language, name=identity.name, dose=dose.dose_number),
        "quality": recorded.quality,
        "reasons": [translate(r["key"], language, **r.get("params", {})) for r in recorded.reasons],
        "vaccination_id": recorded.vaccination_id,
    }


def _panel(identity: Identity, *, ticket_text: str, ticket: Any, values: dict[str, Any], products: list[Any],
           today: dt.date, errors: dict[str, str] | None = None, findings: list[str] | None = None,
           overridable: bool = False, key: str | None = None) -> Template:  # fmt: skip
    return Template(
        "venue/_person_panel.html",
        context={
            "identity": identity,
            "age": age_in_months(identity.birth_date, today) // 12,
            "ticket_text": ticket_text,
            "ticket": ticket,
            "values": values,
            "products": products,
            "errors": errors or {},
            "findings": findings or [],
            "overridable": overridable,
            "idempotency_key": key or uuid.uuid4().hex,
        },
    )


def _ticket_unknown(ticket: TicketCode, language: str) -> Template:
    return _panel_error(
        translate(
            "venue.ticket_unknown",
            language,
            municipality=ticket.municipality_code,
            ticket=ticket.ticket_number,
        )
    )


def _panel_error(message: str) -> Template:
    return Template("venue/_panel_error.html", context={"message": message})


async def _panel_again(
    form: dict[str, str], venue: Venue, products: list[Any], today: dt.date, language: str, *,
    errors: dict[str, str] | None = None, findings: list[str] | None = None, overridable: bool = False,
) -> Template:  # fmt: skip
    """The same panel, same key (a corrected resubmission is still the same save)."""
    try:
        ticket = parse_ticket_code(
            form.get("ticket", ""),
            default_municipality=form.get("municipality_code") or venue.municipality_code,
        )
    except IdentifierError:
        return _panel_error(
            translate("id.ticket_length", language, actual=len(form.get("ticket", "")))
        )
    identity = await identify(
        ticket.municipality_code, ticket.ticket_number, venue.municipality_code
    )
    if identity is None:
        return _ticket_unknown(ticket, language)
    values = {
        k: form.get(k, "")
        for k in (
            "vaccinated_on",
            "dose_number",
            "product",
            "lot_number",
            "volume_ml",
            "doctor_name",
            "override_reason",
        )
    }
    return _panel(identity, ticket_text=form.get("ticket", ""), ticket=ticket, values=values, products=products,
                  today=today, errors=errors, findings=findings, overridable=overridable,
                  key=form.get("idempotency_key") or None)  # fmt: skip


# --- JSON API -----------------------------------------------------------------


def _problem_for(exc: DoseRefused, language: str) -> dict[str, Any]:
    return {
        "findings": [
            {
                **f.as_dict(),
                "message": translate(f.key, language, **f.params),
                "overridable": f.overridable,
            }
            for f in exc.findings
        ]
    }


class VaccinationApiController(Controller):
    """``/api/v1/vaccinations``: the tablet's offline queue and integrations use it."""

    path = "/api/v1"
    guards = [requires(*RECORDING_ROLES)]
    tags = ["vaccinations"]

    @post(
        "/vaccinations",
        name="api_record_dose",
        summary="Record a dose (idempotent by Idempotency-Key)",
    )
    async def record(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
        today: NamedDependency[dt.date],
    ) -> Response[dict[str, Any]]:
        """Same fields, rules and messages as the venue page. 201 new, 200 already recorded."""
        language = language_of(request)
        key = request.headers.get("idempotency-key", "")
        fields = {k: "" if v is None else str(v) for k, v in data.items()}
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
            if venue.venue_id is None and fields.get("venue_name"):
                venue = Venue(venue.municipality_code, None, fields["venue_name"][:128])
            try:
                dose = parse_dose(
                    fields,
                    default_municipality=venue.municipality_code,
                    idempotency_key=key,
                    source="api",
                )
            except FieldError as exc:
                raise BadInput(exc.key, field=exc.field, **exc.params) from None
            try:
                recorded, identity = await record_dose(
                    dose, venue=venue, actor=request.user, today=today
                )
            except TicketUnknown:
                raise NotFound("venue.ticket_unknown", field="ticket", municipality=dose.ticket.municipality_code,
                               ticket=dose.ticket.ticket_number) from None  # fmt: skip
            except DoseRefused as refused:
                first = refused.findings[0]
                return Response(
                    {
                        "type": f"urn:vrs:error:{first.key}",
                        "title": translate("error.title.422", language),
                        "status": 422,
                        "detail": translate(first.key, language, **first.params),
                        "code": first.key,
                        **_problem_for(refused, language),
                    },
                    status_code=422,
                    media_type="application/problem+json",
                )
        body = {
            "vaccination_id": str(recorded.vaccination_id),
            "created": recorded.created,
            "quality": recorded.quality,
            "reasons": recorded.reasons,
            "resident_municipality_code": identity.municipality_code,
            "dose_number": dose.dose_number,
            "vaccinated_on": dose.vaccinated_on.isoformat(),
        }
        return Response(body, status_code=HTTP_201_CREATED if recorded.created else HTTP_200_OK)

    @get(
        "/venues/{venue_id:uuid}/vaccinations",
        name="api_venue_records",
        summary="A venue's records (no personal data)",
    )
    async def venue_log(
        self, request: Request[Any, Any, Any], venue_id: FromPath[uuid.UUID]
    ) -> list[dict[str, Any]]:
        """What the venue recorded: ticket, time, dose, vaccine (F8 keeps no personal details)."""
        async with tenant_transaction(request.user.tenant):
            mine = await venue_of(request.user)
            if request.user.role is Role.VENUE_OPERATOR and mine.venue_id != venue_id:
                raise NotAllowed("error.role_not_allowed")
            rows = await venue_records(Venue(mine.municipality_code, venue_id, ""), limit=500)
        return [
            {k: (str(v) if not isinstance(v, (int, str)) else v) for k, v in row.items()}
            for row in rows
        ]

    @get(
        "/residents/{resident_id:uuid}/vaccinations",
        name="api_resident_records",
        summary="A resident's records",
    )
    async def resident_records(
        self, request: Request[Any, Any, Any], resident_id: FromPath[uuid.UUID]
    ) -> list[dict[str, Any]]:
        """The person's doses in the caller's own area (RLS: another area's id finds nothing)."""
        if request.user.role is not Role.CLERK:
            raise NotAllowed("error.role_not_allowed")
        async with tenant_transaction(request.user.tenant):
            rows = await current_connection().fetch(
                "SELECT id, dose_number, vaccinated_on, product, lot_number, volume_ml, venue_name,"
                " vaccinated_by_municipality_code, status, quality, version FROM vaccination"
                " WHERE resident = $1 ORDER BY vaccinated_on, dose_number",
                resident_id,
            )
            if not rows and not await current_connection().fetchval(
                "SELECT count(*) FROM resident WHERE id = $1", resident_id
            ):
                raise NotFound("error.not_found")
        return [
            {k: (str(v) if not isinstance(v, (int, str)) else v) for k, v in dict(r).items()}
            for r in rows
        ]


ROUTES = [VenueController, VaccinationApiController]
