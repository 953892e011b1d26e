"""The counter (窓口): a clerk finds a person, previews and issues a certificate, prints the PDF."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.certificates import issuance
from signing.content import is_valid_certificate_id
from web.auth import requires
from web.certificate_issuing import (
    answered,
    issue_for_resident,
    parse_kind,
    parse_passport,
    prepare_content,
    stored_certificate,
)
from web.errors import AppError, BadInput, NotFound
from web.forms import CertificateForm, Form
from web.i18n import language_of, translate
from web.signing_context import SigningContext

PASSPORT_FORM_FIELDS = ("passport_number", "nationality", "family_name_roman", "given_name_roman")


def pdf_response(certificate_id: str, pdf: bytes) -> Response[bytes]:
    """The signed PDF as a download."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{certificate_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


class CounterCertificatesController(Controller):
    """接種証明書 at the counter."""

    include_in_schema = False
    path = "/certificates"
    guards = [requires(Role.CLERK)]

    @get("/", name="certificates")
    async def index(self, request: Request[Any, Any, Any], q: FromQuery[str] = "") -> Template:
        """Find the person by ticket number (接種券番号) or resident number (個別宛名番号)."""
        results = await issuance.find_residents(request.user, q[:32]) if q.strip() else []
        return Template(
            "certificates/index.html", context={"q": q, "results": results, "searched": bool(q)}
        )

    @get("/person/{resident_id:uuid}", name="certificates_person")
    async def person(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        issued: FromQuery[str] = "",
    ) -> Template:
        """The person, their doses, the issuance form and the issuance history."""
        return await self._page(request, resident_id, issued=issued)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        resident_id: UUID,
        *,
        issued: str = "",
        form: dict[str, str] | None = None,
        error: AppError | None = None,
        preview: Any = None,
        status_code: int = 200,
    ) -> Template:
        with answered():
            person = await issuance.person(request.user, resident_id)
        resident, doses, history = person["resident"], person["doses"], person["history"]
        passport = person["passport"]
        language = language_of(request)
        values = form or {"kind": "domestic", **(passport or {})}
        return Template(
            "certificates/person.html",
            context={
                "resident": resident,
                "doses": doses,
                "history": history,
                "form": values,
                "error": translate(error.key, language, **error.params) if error else None,
                "error_field": error.field if error else None,
                "preview": preview,
                "issued": issued if is_valid_certificate_id(issued) else "",
            },
            status_code=status_code,
        )

    def _read_form(self, data: CertificateForm) -> dict[str, str]:
        values = data.values()
        return {key: values[key].strip()[:64] for key in ("kind", *PASSPORT_FORM_FIELDS)}

    def _parsed(self, form: dict[str, str]) -> tuple[str, dict[str, str] | None]:
        kind = parse_kind(form.get("kind"))
        return kind, parse_passport(form) if kind == "overseas" else None

    @post(
        "/person/{resident_id:uuid}/preview",
        name="certificates_preview",
        media_type=MediaType.HTML,
    )
    async def preview(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        data: Form[CertificateForm],
    ) -> Template:
        """What the certificate will say, before it is issued (the id is given at issue)."""
        form = self._read_form(data)
        try:
            kind, passport = self._parsed(form)
            content = await prepare_content(request.user, resident_id, kind, passport)
        except BadInput as error:
            return await self._page(request, resident_id, form=form, error=error, status_code=422)
        return await self._page(request, resident_id, form=form, preview=content)

    @post("/person/{resident_id:uuid}/issue", name="certificates_issue", media_type=MediaType.HTML)
    async def issue(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        signing: NamedDependency[SigningContext],
        data: Form[CertificateForm],
    ) -> Any:
        """Issue and store the certificate, then show the page with its download link."""
        form = self._read_form(data)
        try:
            kind, passport = self._parsed(form)
            issued = await issue_for_resident(
                signing,
                request.user,
                resident_id,
                kind,
                passport,
                channel="counter",
                language="ja" if kind == "domestic" else "ja+en",
            )
        except BadInput as error:
            return await self._page(request, resident_id, form=form, error=error, status_code=422)
        return Redirect(
            f"/certificates/person/{resident_id}?issued={issued.certificate_id}",
            status_code=HTTP_303_SEE_OTHER,
        )

    @get("/{certificate_id:str}/pdf", name="certificates_pdf")
    async def pdf(
        self, request: Request[Any, Any, Any], certificate_id: FromPath[str]
    ) -> Response[bytes]:
        """The signed PDF of an issued certificate (to print)."""
        if not is_valid_certificate_id(certificate_id):
            raise NotFound("certificate.not_found")
        issued = await stored_certificate(request.user, certificate_id)
        return pdf_response(issued.certificate_id, issued.pdf)


ROUTES = [CounterCertificatesController]
