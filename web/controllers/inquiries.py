"""Inter-municipality inquiry pages and API (F7 接種記録の照会・一括照会).

A clerk of the municipality a resident moved to enters the My Number, ticks
that the resident's consent was confirmed and records its basis; the answer
shows exactly the seed's provided fields per answering municipality. The
bulk inquiry takes a CSV of My Numbers with consent flags and answers with a
page or a CSV, one block per person. Both sides see the log.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import Template

from common.csv_cells import spreadsheet_writer
from common.identifiers import IdentifierError, mask_my_number, parse_my_number
from common.settings import Settings
from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.imports.format import normalise_header
from db.inquiries.consent import CONSENT_BASES, basis_key, consent_basis
from db.inquiries.queries import (
    DOSE_FIELDS,
    PERSON_FIELDS,
    Answer,
    BulkRequest,
    InquiryRefused,
    inquire,
    inquire_bulk,
    inquiry_log,
    register_prior_doses,
)
from db.residents.my_number import MyNumberVault
from web.auth import requires
from web.bodies import InquiryBody
from web.errors import BadInput
from web.forms import BulkInquiryForm, Form, InquiryForm, MultipartForm
from web.i18n import language_of, translate
from web.rate_limit import rate_limited
from web.suspension_guard import refuse_if_suspended, suspension_notice

_BULK_HEADERS = {
    "マイナンバー": "my_number", "個人番号": "my_number", "my_number": "my_number",
    "同意": "consent", "同意確認": "consent", "consent": "consent",
    "同意の根拠": "consent_basis", "根拠": "consent_basis", "consent_basis": "consent_basis",
    "同意の記録": "consent_reference", "同意の記録番号": "consent_reference",
    "consent_reference": "consent_reference",
}  # fmt: skip
_YES = {"1", "はい", "有", "yes", "true", "y"}


def _check_single(form: dict[str, Any]) -> tuple[str, str]:
    try:
        number = parse_my_number(str(form.get("my_number", "")))
    except IdentifierError as exc:
        raise BadInput(exc.key, field="my_number", **exc.params) from None
    basis = consent_basis(
        basis_key(str(form.get("consent_basis", ""))) or "",
        str(form.get("consent_reference", "")),
    )
    if str(form.get("consent", "")) not in {"1", "on", "true"} or basis is None:
        raise BadInput("inquiry.consent_listed", field="consent_basis")
    return number, basis


def _read_bulk(data: bytes, max_rows: int) -> list[BulkRequest]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            raise BadInput("import.encoding_unreadable", line=1) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput("import.empty_file") from None
    except csv.Error:
        raise BadInput("import.csv_malformed", line=1) from None
    positions = {}
    for index, cell in enumerate(header):
        key = _BULK_HEADERS.get(normalise_header(cell)) or _BULK_HEADERS.get(cell.strip())
        if key and key not in positions:
            positions[key] = index
    missing = [
        h for h, k in (("マイナンバー", "my_number"), ("同意", "consent")) if k not in positions
    ]
    if missing:
        raise BadInput("import.missing_columns", columns="、".join(missing))
    requests: list[BulkRequest] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(requests) >= max_rows:
                raise BadInput("inquiry.too_many", limit=max_rows)

            def cell(key: str, cells: list[str] = cells) -> str:  # type: ignore[misc]  # `cell` was a loop name above
                i = positions.get(key)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            line = reader.line_num
            basis = consent_basis(
                basis_key(cell("consent_basis")) or "",  # type: ignore[operator]  # `cell` was a loop name above
                cell("consent_reference"),  # type: ignore[operator]  # `cell` was a loop name above
            )
            consent = unicodedata.normalize("NFKC", cell("consent")).lower() in _YES  # type: ignore[operator]  # `cell` was a loop name above
            try:
                number = parse_my_number(cell("my_number"))  # type: ignore[operator]  # `cell` was a loop name above
            except IdentifierError as exc:
                requests.append(BulkRequest(line, None, None, basis or "", exc.key))
                continue
            if not consent or basis is None:
                requests.append(BulkRequest(line, number, None, "", "inquiry.consent_listed"))
                continue
            requests.append(BulkRequest(line, number, None, basis))
    except csv.Error:
        raise BadInput("import.csv_malformed", line=reader.line_num) from None
    return requests


def answers_json(answers: list[Answer]) -> list[dict[str, Any]]:
    """The JSON shape: per answering municipality, the seed's fields and the doses."""
    return [a.as_dict() for a in answers]


_CSV_COLUMNS = ("answering_municipality", *PERSON_FIELDS, *DOSE_FIELDS)


def _csv_rows(answer: Answer) -> list[list[Any]]:
    person = [
        " ".join(v) if isinstance(v, list) else ("1" if v is True else "0" if v is False else v)
        for v in (answer.person[k] for k in PERSON_FIELDS)
    ]
    if not answer.doses:
        return [[answer.municipality_name, *person, *[""] * len(DOSE_FIELDS)]]
    return [[answer.municipality_name, *person, *[d[k] for k in DOSE_FIELDS]] for d in answer.doses]


def _csv_response(body: str, name: str) -> Response[bytes]:
    return Response(
        ("\ufeff" + body).encode("utf-8"),
        media_type="text/csv",  # Litestar appends "; charset=utf-8"
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


class InquiriesController(Controller):
    """The inquiry page: single and bulk forms, results, and the log of both sides."""

    include_in_schema = False
    path = "/inquiries"
    guards = [requires(Role.CLERK)]

    async def _page(self, request: Request[Any, Any, Any], **context: Any) -> Template:
        async with tenant_transaction(request.user.tenant):
            log = await inquiry_log()
        suspension = await suspension_notice("inquiry")
        return Template(
            "inquiries/index.html",
            context={
                "log": log,
                "person_fields": PERSON_FIELDS,
                "dose_fields": DOSE_FIELDS,
                "answers": None,
                "bulk": None,
                "suspension": suspension,
                "consent_bases": list(CONSENT_BASES),
                **context,
            },
            status_code=context.pop("status_code", 200) if "status_code" in context else 200,
        )

    @get("/", name="inquiries")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """The forms and the inquiry log."""
        return await self._page(request)

    @post(
        "/single",
        name="inquiries_single",
        middleware=[rate_limited("inquiry")],
        media_type=MediaType.HTML,
    )
    async def single(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: Form[InquiryForm],
    ) -> Any:
        """Inquire about one person; optionally register the returned doses."""
        await refuse_if_suspended(request, "inquiry")
        principal = request.user
        number, basis = _check_single(data.values())
        vault = MyNumberVault(settings.my_number_key)
        hashed = vault.lookup_hash(number)
        registered = None
        async with tenant_transaction(principal.tenant):
            try:
                answers = await inquire(principal.tenant, number, hashed, basis, principal,
                                        daily_max=settings.inquiry_daily_max_persons)  # fmt: skip
            except InquiryRefused as exc:
                raise BadInput(exc.key, **exc.params) from None
            if data.register in {"1", "on"}:
                registered = await register_prior_doses(
                    principal.tenant, hashed, answers, principal
                )
        if data.format == "csv":
            buffer = io.StringIO()
            writer = spreadsheet_writer(buffer, lineterminator="\r\n")
            writer.writerow(_CSV_COLUMNS)
            for answer in answers:
                writer.writerows(_csv_rows(answer))
            return _csv_response(buffer.getvalue(), "inquiry.csv")
        return await self._page(
            request,
            answers=answers,
            masked=mask_my_number(number),
            registered=registered,
            basis=basis,
        )

    @post(
        "/bulk",
        name="inquiries_bulk",
        middleware=[rate_limited("inquiry")],
        media_type=MediaType.HTML,
    )
    async def bulk(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: MultipartForm[BulkInquiryForm],
    ) -> Any:
        """Inquire about every person of a CSV (一括照会); a page or a result CSV."""
        await refuse_if_suspended(request, "inquiry")
        principal = request.user
        if data.file is None:
            raise BadInput("import.no_file", field="file")
        content = await data.file.read()
        if not content:
            raise BadInput("import.no_file", field="file")
        requests = _read_bulk(content, settings.inquiry_bulk_max_persons)
        vault = MyNumberVault(settings.my_number_key)
        for r in requests:
            if r.my_number and not r.problem:
                r.my_number_hmac = vault.lookup_hash(r.my_number)
        try:
            async with tenant_transaction(principal.tenant):
                results = await inquire_bulk(principal.tenant, requests, principal,
                                             daily_max=settings.inquiry_daily_max_persons)  # fmt: skip
        except InquiryRefused as exc:
            raise BadInput(exc.key, **exc.params) from None
        language = language_of(request)
        if data.format == "csv":
            buffer = io.StringIO()
            writer = spreadsheet_writer(buffer, lineterminator="\r\n")
            writer.writerow(["line", "my_number", "result", *_CSV_COLUMNS])
            for r, answers in results:
                masked = mask_my_number(r.my_number) if r.my_number else ""
                if r.problem or not answers:
                    outcome = translate(r.problem or "inquiry.not_found", language)
                    writer.writerow([r.line, masked, outcome])
                    continue
                for answer in answers:
                    for row in _csv_rows(answer):
                        writer.writerow(
                            [r.line, masked, translate("inquiry.found", language), *row]
                        )
            return _csv_response(buffer.getvalue(), "bulk-inquiry.csv")
        summary = {
            "persons": len(results),
            "found": sum(1 for _, a in results if a),
            "refused": sum(1 for r, _ in results if r.problem),
        }
        shown = [
            {
                "line": r.line,
                "masked": mask_my_number(r.my_number) if r.my_number else "",
                "problem": r.problem,
                "answers": answers,
            }
            for r, answers in results[:500]
        ]
        return await self._page(request, bulk={"summary": summary, "rows": shown})


class InquiriesApiController(Controller):
    """``POST /api/v1/inquiries``: the single inquiry for machine clients (JSON)."""

    path = "/api/v1/inquiries"
    guards = [requires(Role.CLERK)]

    @post(
        "/",
        name="api_inquiries",
        summary="Inquire other municipalities about one person",
        middleware=[rate_limited("inquiry")],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[InquiryBody],
        settings: NamedDependency[Settings],
    ) -> dict[str, Any]:
        """Body: ``my_number``, ``consent`` (true), ``consent_basis`` (written, application,
        oral or electronic) and ``consent_reference`` (what identifies the consent record)."""
        await refuse_if_suspended(request, "inquiry")
        principal = request.user
        body = data.to_dict()
        form = {
            "my_number": str(body.get("my_number", "")),
            "consent": "1" if body.get("consent") is True else "",
            "consent_basis": str(body.get("consent_basis", "")),
            "consent_reference": str(body.get("consent_reference", "")),
        }
        number, basis = _check_single(form)
        hashed = MyNumberVault(settings.my_number_key).lookup_hash(number)
        try:
            async with tenant_transaction(principal.tenant):
                answers = await inquire(principal.tenant, number, hashed, basis, principal,
                                        daily_max=settings.inquiry_daily_max_persons)  # fmt: skip
        except InquiryRefused as exc:
            raise BadInput(exc.key, **exc.params) from None
        return {"answers": answers_json(answers)}


ROUTES = [InquiriesController, InquiriesApiController]
