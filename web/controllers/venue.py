"""The venue tablet (接種会場): scan a ticket, confirm the person, record the dose.

The flow reads in four files: this controller, :mod:`db.vaccinations.recording`
(look-up, identity check, save), :mod:`db.vaccinations.rules` and the panel
template ``venue/_person_panel.html``.

1. ``POST /venue/lookup``: the ticket and the birth date the person states.
   Only when it equals the record's does the panel show the person (name,
   kana, previous doses) with Save; a mismatch is refused, changes nothing and
   is counted in the venue's log. The birth date is never shown before it was
   typed, so it cannot be copied from the screen.
2. ``POST /venue/doses``: the panel's form. A refusal redraws the form only
   (the person stays on screen; nothing is parsed or looked up again).

Every look-up replaces the whole panel, so the previous person's data can
never stay on screen; every panel carries a fresh idempotency key, so a
retried save cannot make a second record. The JSON API below takes the same
fields through the same parser, rules and messages.
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
from litestar_htmx import HTMXRequest

from common.identifiers import IdentifierError, parse_ticket_code
from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.residents.reissue import ticket_state
from db.tenancy.queries import list_municipalities
from db.tenancy.venues import venue_is_open
from db.vaccinations import recording
from db.vaccinations.dose_input import DoseRequest, FieldError, parse_birth_field, parse_dose
from db.vaccinations.recording import (
    CrossingRefused,
    DoseRefused,
    IdempotencyConflict,
    Identity,
    IdentityMismatch,
    Recorded,
    TicketUnknown,
    Venue,
    VenueClosed,
    confirm_ticket,
    default_dose_number,
    identify_limit_reached,
    mismatches_today,
    record_dose,
    resident_doses,
    save_in_two_statements,
    session_defaults,
    venue_records,
)
from db.vaccinations.rules import age_in_months, allowed_volumes
from db.vaccines.master import master_data, product_labels
from web.auth import requires
from web.bodies import DoseBody
from web.errors import BadInput, NotAllowed, NotFound
from web.forms import Form, LookupForm, VenueDoseForm
from web.htmx import page_or_partial, partial
from web.i18n import language_of, translate
from web.rate_limit import RateLimited, budget_of, count_against, rate_limited

RECORDING_ROLES = (Role.VENUE_OPERATOR, Role.CLERK)

#: What a venue is told of its own area's ticket that opens nobody, by the ticket's state.
_UNKNOWN_TICKET = {"reissued": "venue.ticket_reissued", "void": "venue.ticket_void"}
#: The form fields a refused save shows again as they were typed.
_FORM_FIELDS = ("vaccinated_on", "dose_number", "product", "lot_number", "volume_ml",
                "doctor_name", "override_reason")  # fmt: skip
#: The fields that carry the confirmed person from the look-up to the save.
_CARRIED = ("ticket", "municipality_code", "birth_date", "identity_reason", "idempotency_key")


async def venue_of(principal: Principal, *, recording_now: bool = True) -> Venue:
    """The venue an operator records at (clerks record as their municipality).

    A closed venue records nothing more (its log stays readable).
    """
    if principal.municipality_code is None:
        raise NotAllowed("error.role_not_allowed")
    if recording_now and principal.venue_id is not None:
        if not await venue_is_open(principal.venue_id):
            raise NotAllowed("venue_admin.venue_closed")
    return await recording.venue_of(principal)


async def _page_context(request: Request[Any, Any, Any], today: dt.date) -> dict[str, Any]:
    """What the venue page shows (its recent records are also the htmx partial)."""
    async with tenant_transaction(request.user.tenant):
        venue = await venue_of(request.user)
        recent = await venue_records(venue, limit=10)
        municipalities = await list_municipalities()
        labels = {label.code: label for label in await product_labels(today)}
        mismatches = await mismatches_today(venue, today)
    own = next((m for m in municipalities if m["code"] == venue.municipality_code), None)
    return {"venue": venue, "recent": recent, "municipalities": municipalities,
            "own_municipality": own, "labels": labels, "mismatches": mismatches}  # fmt: skip


class VenueController(Controller):
    """Pages of the venue tablet."""

    path = "/venue"
    include_in_schema = False
    guards = [requires(*RECORDING_ROLES)]

    @get("/", name="venue")
    async def page(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date]
    ) -> Template:
        """The scan and birth-date fields, an empty panel and the venue's recent records."""
        return Template("venue/index.html", context=await _page_context(request, today))

    @get("/recent", name="venue_recent", media_type=MediaType.HTML,
         opt=partial("venue/_recent.html"))  # fmt: skip
    async def recent(self, request: HTMXRequest, today: NamedDependency[dt.date]) -> Template:
        """The venue's recent records: the page reloads them after each save (htmx event)."""
        return page_or_partial(request, "venue/index.html", await _page_context(request, today))

    @post("/lookup", name="venue_lookup", media_type=MediaType.HTML, middleware=[rate_limited("identify")])  # fmt: skip
    async def lookup(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date],
        data: Form[LookupForm],
    ) -> Template:  # fmt: skip
        """Confirm the ticket's person by the stated birth date; show the whole panel anew."""
        form = data.values()
        language = language_of(request)
        try:
            ticket = parse_ticket_code(
                form.get("ticket", "").strip(),
                default_municipality=form.get("municipality_code")
                or request.user.municipality_code,
            )
        except IdentifierError as exc:
            return _panel_error(translate(exc.key, language, **exc.params), focus="ticket")
        try:
            stated = parse_birth_field(form)
        except FieldError as exc:
            return _panel_error(translate(exc.key, language), focus="birth")
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
            try:
                identity = await confirm_ticket(ticket, stated, venue=venue, actor=request.user,
                                                identity_reason=form.get("identity_reason", ""))  # fmt: skip
            except TicketUnknown:
                key = "identity.unconfirmed_elsewhere" if ticket.municipality_code != venue.municipality_code \
                    else _UNKNOWN_TICKET.get(await ticket_state(ticket.municipality_code, ticket.ticket_number) or "",
                                             "venue.ticket_unknown")  # fmt: skip
                name = await _municipality_name(ticket.municipality_code)
                return _panel_error(translate(key, language, municipality=name,
                                              ticket=ticket.ticket_number), focus="ticket")  # fmt: skip
            except IdentityMismatch:
                return Template("venue/_person_panel.html", context={
                    "mode": "mismatch", "carried": {**form, "birth_date": stated.isoformat()},
                    "message": translate("identity.mismatch", language)})  # fmt: skip
            except CrossingRefused:
                return _panel_error(
                    translate("identity.elsewhere_venue_only", language), focus="ticket"
                )
            last = await session_defaults(request.user, venue)
            products = await product_labels(today)
            master = await master_data()
            names = (
                {m["code"]: m["name"] for m in await list_municipalities()}
                if identity.elsewhere
                else {}
            )
        values = _defaults(identity, ticket, last, today)
        carried = {
            "ticket": ticket.ocr_line or ticket.ticket_number,
            "municipality_code": ticket.municipality_code,
            "birth_date": stated.isoformat(),
            "identity_reason": form.get("identity_reason", ""),
            "idempotency_key": uuid.uuid4().hex,
        }
        volumes = {
            p.code: _default_volume(master, p.code, values["dose_number"], identity.birth_date, today)
            for p in products
        }  # fmt: skip
        if values["product"] and not values["volume_ml"]:
            values["volume_ml"] = volumes.get(values["product"]) or ""
        return Template(
            "venue/_person_panel.html",
            context={"mode": "person", "identity": identity, "age": age_in_months(identity.birth_date, today) // 12,
                     "municipality_name": names.get(identity.municipality_code, identity.municipality_code),
                     "carried": carried, "values": values, "products": products, "volumes": volumes,
                     "errors": {}, "findings": [], "overridable": False},
        )  # fmt: skip

    @post("/doses", name="venue_save", media_type=MediaType.HTML)
    async def save(
        self, request: Request[Any, Any, Any], today: NamedDependency[dt.date],
        data: Form[VenueDoseForm],
    ) -> Template:  # fmt: skip
        """Save the dose of the panel; a refusal redraws the form with the reasons."""
        form = data.values()
        language = language_of(request)
        try:
            dose = parse_dose(
                form, default_municipality=request.user.municipality_code, source="tablet"
            )
        except FieldError as exc:
            return await _form_again(
                request, form, today, errors={exc.field: translate(exc.key, language, **exc.params)}
            )
        try:
            recorded, identity = await _record(request, dose, today)
        except VenueClosed:
            raise NotAllowed("venue_admin.venue_closed") from None
        except TicketUnknown:
            return _panel_error(translate("venue.ticket_unknown", language,
                                          municipality=await _municipality_name(dose.ticket.municipality_code),
                                          ticket=dose.ticket.ticket_number), focus="ticket")  # fmt: skip
        except IdentityMismatch:
            return _panel_error(translate("identity.mismatch", language), focus="ticket")
        except CrossingRefused:
            return _panel_error(
                translate("identity.elsewhere_venue_only", language), focus="ticket"
            )
        except IdempotencyConflict as conflict:
            return await _form_again(request, form, today, findings=[
                translate("identity.key_reused", language, idempotency_key=conflict.key)])  # fmt: skip
        except DoseRefused as refused:
            return await _form_again(
                request, form, today,
                findings=[translate(f.key, language, **f.params) for f in refused.findings],
                overridable=all(f.overridable for f in refused.findings),
            )  # fmt: skip
        assert identity is not None
        response = Template(
            "venue/_saved.html", context=_saved_context(recorded, identity, language)
        )
        response.headers["HX-Trigger"] = "vrs:saved"
        return response


async def _record(
    request: Request[Any, Any, Any], dose: DoseRequest, today: dt.date, *,
    keep_unmatched: bool = False, venue_name: str = "",
) -> tuple[Recorded, Identity | None]:  # fmt: skip
    """Save a dose: in two statements when it is the usual case, else with the person locked.

    ``venue_name`` is the place a clerk (no venue account) says the dose was given.
    Every save the usual case did not store answers according to who the ticket's person
    is (a birth date that differs, an unknown ticket, another area's person, a refused
    dose): it counts against the look-ups' limit (``identify``), or the save would be
    an unlimited way to guess a person's birth date. The usual save is not counted,
    but once the budget is spent it is not stored either: its read sees the budget
    spent and sends it here, so a right guess is refused as a wrong one is.
    A save refused by that limit is audited (``venue.identify_limit``), as the CSV
    upload's refusal is.
    """
    principal = request.user
    saved = await save_in_two_statements(dose, actor=principal, today=today, venue_name=venue_name,
                                         budget=budget_of(request, "identify"))  # fmt: skip
    if saved is not None:
        return saved
    try:
        await count_against(request, "identify")
    except RateLimited:
        async with tenant_transaction(principal.tenant):
            await identify_limit_reached(principal, channel=dose.source,
                                         venue_id=principal.venue_id,
                                         ticket_municipality=dose.ticket.municipality_code,
                                         ticket=dose.ticket.ticket_number)  # fmt: skip
        raise
    async with tenant_transaction(principal.tenant):
        venue = await venue_of(principal)
        if venue.venue_id is None and venue_name:
            venue = Venue(venue.municipality_code, None, venue_name)
        return await record_dose(
            dose, venue=venue, actor=principal, today=today, keep_unmatched=keep_unmatched
        )


async def _municipality_name(code: str) -> str:
    """A municipality as people know it (the code only when it is not registered)."""
    return next((m["name"] for m in await list_municipalities() if m["code"] == code), code)


def _default_volume(
    master: Any, product: str, dose: Any, birth: dt.date, today: dt.date
) -> str | None:
    """The one volume the product allows for this dose and age (any dose, when none is known yet)."""
    doses = [dose] if str(dose).isdigit() else [1, 2, 3]
    allowed = {tuple(allowed_volumes(master, product, d, birth, today)) for d in doses}
    only = allowed.pop() if len(allowed) == 1 else ()
    return str(only[0]) if len(only) == 1 else None


def _defaults(
    identity: Identity, ticket: Any, last: dict[str, Any] | None, today: dt.date
) -> dict[str, Any]:
    """What the dose form starts with: today, the ticket's dose, the session's vaccine, lot and doctor."""
    dose = default_dose_number(identity, ticket)
    values: dict[str, Any] = {
        "vaccinated_on": today.isoformat(),
        "dose_number": dose if dose is not None else "",
        "product": "",
        "lot_number": "",
        "volume_ml": "",
        "doctor_name": "",
    }
    if last:
        values.update(
            product=last["product"], lot_number=last["lot_number"], doctor_name=last["doctor_name"]
        )
    return values


def _saved_context(recorded: Recorded, identity: Identity, language: str) -> dict[str, Any]:
    key = "venue.saved" if recorded.created else "venue.saved_again"
    if recorded.created and recorded.quality != "ok":
        key = f"identity.saved_{recorded.quality}"  # names the stored flag: 要修正 or 要確認
    return {
        "message": translate(key, language, name=identity.name, dose=recorded.dose_number),
        "quality": recorded.quality,
        "reasons": [translate(r["key"], language, **r.get("params", {})) for r in recorded.reasons],
        "vaccination_id": recorded.vaccination_id,
    }


def _panel_error(message: str, *, focus: str) -> Template:
    return Template("venue/_panel_error.html", context={"message": message, "focus": focus})


async def _form_again(
    request: Request[Any, Any, Any], form: dict[str, str], today: dt.date, *,
    errors: dict[str, str] | None = None, findings: list[str] | None = None, overridable: bool = False,
) -> Template:  # fmt: skip
    """The form alone, as typed, with the reasons (the person above it stays on screen)."""
    async with tenant_transaction(request.user.tenant):
        products = await product_labels(today)
    response = Template(
        "venue/_person_panel.html",
        context={"mode": "form", "carried": {k: form.get(k, "") for k in _CARRIED},
                 "values": {k: form.get(k, "") for k in _FORM_FIELDS}, "products": products,
                 "volumes": {}, "errors": errors or {}, "findings": findings or [],
                 "overridable": overridable},
    )  # fmt: skip
    response.headers.update({"HX-Retarget": "#dose-form", "HX-Reswap": "outerHTML"})
    return response


# --- JSON API -----------------------------------------------------------------


def _problem(code: str, detail: str, language: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        {"type": f"urn:vrs:error:{code}", "title": translate("error.title.422", language),
         "status": 422, "detail": detail, "code": code, **extra},
        status_code=422,
        media_type="application/problem+json",
    )  # fmt: skip


class VaccinationApiController(Controller):
    """``/api/v1/vaccinations``: the tablet's offline queue and integrations use it."""

    path = "/api/v1"
    guards = [requires(*RECORDING_ROLES)]
    tags = ["vaccinations"]

    @post(
        "/vaccinations",
        name="api_record_dose",
        summary="Record a dose (idempotent by Idempotency-Key; birth_date confirms the person)",
    )
    async def record(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[DoseBody],
        today: NamedDependency[dt.date],
    ) -> Response[dict[str, Any]]:
        """Same fields, rules and messages as the venue page. 201 new, 200 already recorded.

        ``birth_date`` (the person's stated birth date) is required; a mismatch
        is a 422 ``identity_mismatch`` and nothing is stored. ``queued: true``
        (the tablet's offline queue) keeps a mismatching dose as an unmatched
        要修正 record instead. The same ``Idempotency-Key`` with another body is
        a 422 ``idempotency_key_reused``; a replay answers with the stored record.
        """
        language = language_of(request)
        key = request.headers.get("idempotency-key", "")
        body = data.to_dict()
        fields = {k: "" if v is None else str(v) for k, v in body.items()}
        queued = body.get("queued") in (True, "1", "true")
        if request.user.municipality_code is None:
            raise NotAllowed("error.role_not_allowed")
        try:
            dose = parse_dose(
                fields,
                default_municipality=request.user.municipality_code,
                idempotency_key=key,
                source="api",
            )
        except FieldError as exc:
            raise BadInput(exc.key, field=exc.field, **exc.params) from None
        try:
            recorded, identity = await _record(
                request, dose, today, keep_unmatched=queued,
                venue_name=fields.get("venue_name", "")[:128],
            )  # fmt: skip
        except VenueClosed:
            raise NotAllowed("venue_admin.venue_closed") from None
        except TicketUnknown:
            raise NotFound("venue.ticket_unknown", field="ticket", municipality=dose.ticket.municipality_code,
                           ticket=dose.ticket.ticket_number) from None  # fmt: skip
        except IdentityMismatch:
            return _problem("identity_mismatch", translate("identity.mismatch", language), language)
        except CrossingRefused:
            raise NotAllowed("identity.elsewhere_venue_only") from None
        except IdempotencyConflict as conflict:
            return _problem("idempotency_key_reused",
                            translate("identity.key_reused", language, idempotency_key=conflict.key), language,
                            idempotency_key=conflict.key)  # fmt: skip
        except DoseRefused as refused:
            first = refused.findings[0]
            return _problem(
                first.key, translate(first.key, language, **first.params), language,
                findings=[{**f.as_dict(), "message": translate(f.key, language, **f.params),
                           "overridable": f.overridable} for f in refused.findings],
            )  # fmt: skip
        body = {
            "vaccination_id": str(recorded.vaccination_id),
            "created": recorded.created,
            "quality": recorded.quality,
            "reasons": recorded.reasons,
            "unmatched": recorded.unmatched,
            "resident_municipality_code": identity.municipality_code
            if identity
            else dose.ticket.municipality_code,
            "dose_number": recorded.dose_number,
            "vaccinated_on": recorded.vaccinated_on.isoformat() if recorded.vaccinated_on else None,
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
            mine = await venue_of(request.user, recording_now=False)
            if request.user.role is Role.VENUE_OPERATOR and mine.venue_id != venue_id:
                raise NotAllowed("error.role_not_allowed")
            rows = await venue_records(Venue(mine.municipality_code, venue_id, ""), limit=500)
        return [_json_row(row) for row in rows]

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
            rows = await resident_doses(resident_id)
        if rows is None:
            raise NotFound("error.not_found")
        return [_json_row(row) for row in rows]


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if not isinstance(v, (int, str)) else v) for k, v in row.items()}


ROUTES = [VenueController, VaccinationApiController]
