"""The national admin's pages: municipalities, their admins, and app and kiosk clients (issue 14).

- ``/national/municipalities``: every registered municipality, and a form to
  register one (a 6-digit 地方公共団体コード with its check digit, in the
  prefecture it names). The same service as ``vrs create-municipality``.
- ``/national/municipalities/{code}``: the municipality's admin accounts (state,
  last sign-in); create one (a one-time password shown once, to be changed at the
  first sign-in), disable or enable, unlock, reset. The same services as the
  municipal admin's account page, limited to ``municipal_admin`` accounts: the
  national admin never sees nor touches a clerk or a venue account.
- ``/national/clients``: the app (電子交付) and kiosk (コンビニ交付) clients
  (``vrs app-client``), each revocable: its token is refused from its next request.

These account actions run in the municipality's own area (``tenant_transaction(code)``),
the only way row-level security lets anyone reach its accounts; nothing else of the
area is read there. They are audited in that area and rate limited per account
(``national_admin``). Client revocation is national (no area) and audited as such.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from common.identifiers import (
    IdentifierError,
    municipality_check_digit,
    parse_municipality_code,
)
from db.accounts.management import (
    accounts_with_state,
    create_with_temporary_password,
    reset_password,
    set_active,
    unlock,
)
from db.accounts.queries import AccountError
from db.accounts.roles import Role
from db.audit.queries import record
from db.cards.queries import list_app_clients, revoke_app_client
from db.engine import tenant_transaction
from db.tenancy.queries import (
    PREFECTURES,
    MunicipalityError,
    create_municipality,
    list_municipalities,
    municipality,
)
from web.auth import requires
from web.errors import NotFound
from web.forms import AdminForm, Form, MunicipalityForm
from web.i18n import language_of, translate
from web.rate_limit import rate_limited

#: The national admin manages these accounts of a municipality, no others.
MANAGED = frozenset({Role.MUNICIPAL_ADMIN})
ACTIONS = ("disable", "enable", "unlock", "reset")


def _code(value: str) -> str:
    """A path's municipality code, or 404 (the page of a code that is no municipality)."""
    try:
        return parse_municipality_code(value)
    except IdentifierError:
        raise NotFound("national_admin.municipality_not_found") from None


def _code_problem(exc: IdentifierError, language: str) -> str:
    """What is wrong with a typed 地方公共団体コード, naming the field."""
    if exc.key == "id.municipality_check_digit":
        code = exc.params["code"]
        return translate("national_admin.code_check_digit", language, code=code,
                         digit=municipality_check_digit(code[:5]))  # fmt: skip
    problem = translate(exc.key, language, **exc.params)
    return translate("national_admin.code_problem", language, problem=problem)


class MunicipalitiesController(Controller):
    """Municipalities and their admin accounts."""

    path = "/national/municipalities"
    include_in_schema = False
    guards = [requires(Role.NATIONAL_ADMIN)]

    @get("/", name="national_municipalities")
    async def index(
        self, request: Request[Any, Any, Any], created: FromQuery[str | None] = None
    ) -> Template:
        """Every registered municipality and the form to register one."""
        return await self._list(request, created=created)

    async def _list(
        self,
        request: Request[Any, Any, Any],
        *,
        created: str | None = None,
        error: str | None = None,
        form: MunicipalityForm | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(None):
            rows = await list_municipalities()
        return Template(
            "national/municipalities.html",
            context={
                "municipalities": rows,
                "prefectures": PREFECTURES,
                "created": created if created and any(r["code"] == created for r in rows) else None,
                "error": error,
                "form": form or MunicipalityForm(),
            },
            status_code=status_code,
        )

    @post(
        "/",
        name="national_municipalities_create",
        media_type=MediaType.HTML,
        middleware=[rate_limited("national_admin")],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Form[MunicipalityForm],
    ) -> Any:
        """Register a municipality with the default terms, in its own new area (audited)."""
        language = language_of(request)
        try:
            code = parse_municipality_code(data.code, "code")
            # The new, empty area: its first settings revision is written there.
            async with tenant_transaction(code):
                await create_municipality(
                    code,
                    data.name,
                    data.name_en,
                    data.head_title,
                    prefecture=data.prefecture,
                    exists_ok=False,
                )
                await record(
                    "municipality.create",
                    actor=request.user,
                    municipality_code=code,
                    object_type="municipality",
                    object_id=code,
                    details={"name": data.name.strip(), "name_en": data.name_en.strip()},
                )
        except IdentifierError as exc:
            return await self._list(request, error=_code_problem(exc, language),
                                    form=data, status_code=422)  # fmt: skip
        except MunicipalityError as exc:
            message = translate(exc.key, language, **exc.params)
            return await self._list(request, error=message, form=data, status_code=422)
        return Redirect(f"/national/municipalities?created={code}", status_code=HTTP_303_SEE_OTHER)

    @get("/{code:str}", name="national_municipality")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        done: FromQuery[str | None] = None,
    ) -> Template:
        """A municipality and its admin accounts, with the form for a new admin."""
        notice = None
        if done in ACTIONS or done == "created":
            notice = translate(f"national_admin.done_{done}", language_of(request))
        return await self._detail(request, _code(code), notice=notice)

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        code: str,
        *,
        notice: str | None = None,
        temporary: dict[str, str] | None = None,
        error: str | None = None,
        form: AdminForm | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(None):
            area = await municipality(code)
        if area is None:
            raise NotFound("national_admin.municipality_not_found")
        async with tenant_transaction(code):
            admins = await accounts_with_state(MANAGED)
        return Template(
            "national/municipality.html",
            context={
                "area": area,
                "admins": admins,
                "notice": notice,
                "temporary": temporary,
                "error": error,
                "form": form or AdminForm(),
            },
            status_code=status_code,
        )

    async def _existing(self, code: str) -> str:
        code = _code(code)
        async with tenant_transaction(None):
            if await municipality(code) is None:
                raise NotFound("national_admin.municipality_not_found")
        return code

    @post(
        "/{code:str}/admins",
        name="national_municipality_admin_create",
        media_type=MediaType.HTML,
        middleware=[rate_limited("national_admin")],
    )
    async def create_admin(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        data: Form[AdminForm],
    ) -> Any:
        """A new admin of the municipality, with a one-time password shown this once."""
        code = await self._existing(code)
        try:
            async with tenant_transaction(code):
                _, password = await create_with_temporary_password(
                    login=data.login,
                    display_name=data.display_name,
                    role=Role.MUNICIPAL_ADMIN,
                    municipality_code=code,
                    actor=request.user,
                )
        except AccountError as exc:
            message = translate(exc.key, language_of(request), **exc.params)
            return await self._detail(request, code, error=message, form=data, status_code=422)
        notice = translate("national_admin.done_created", language_of(request))
        return await self._detail(
            request,
            code,
            notice=notice,
            temporary={"login": data.login.strip(), "password": password},
        )

    @post(
        "/{code:str}/admins/{account_id:uuid}/{admin_action:str}",
        name="national_municipality_admin_act",
        media_type=MediaType.HTML,
        middleware=[rate_limited("national_admin")],
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        account_id: FromPath[UUID],
        admin_action: FromPath[str],
    ) -> Any:
        """Disable, enable, unlock or reset one of the municipality's admins (audited there)."""
        if admin_action not in ACTIONS:
            raise NotFound("account_admin.not_found")
        code = await self._existing(code)
        principal = request.user
        temporary = None
        try:
            async with tenant_transaction(code):
                if admin_action == "reset":
                    temporary = await reset_password(account_id, actor=principal, roles=MANAGED)
                elif admin_action == "unlock":
                    await unlock(account_id, actor=principal, roles=MANAGED)
                else:
                    await set_active(account_id, admin_action == "enable", actor=principal,
                                     roles=MANAGED)  # fmt: skip
        except AccountError as exc:
            if exc.key == "account_admin.not_found":
                raise NotFound(exc.key) from exc
            message = translate(exc.key, language_of(request), **exc.params)
            return await self._detail(request, code, error=message, status_code=422)
        if temporary is None:
            return Redirect(
                f"/national/municipalities/{code}?done={admin_action}",
                status_code=HTTP_303_SEE_OTHER,
            )
        # Shown this once: never stored in clear, never put in a redirect.
        return await self._detail(request, code, temporary={"password": temporary})


class ClientsController(Controller):
    """App and kiosk clients: list and revoke."""

    path = "/national/clients"
    include_in_schema = False
    guards = [requires(Role.NATIONAL_ADMIN)]

    @get("/", name="national_clients")
    async def index(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        """Every client with its kind, when it was made and whether it is revoked."""
        async with tenant_transaction(None):
            clients = await list_app_clients()
        notice = translate("national_admin.client_revoked", language_of(request)) if done else None
        return Template("national/clients.html", context={"clients": clients, "notice": notice})

    @post("/{client_id:uuid}/revoke", name="national_clients_revoke", media_type=MediaType.HTML)
    async def revoke(self, request: Request[Any, Any, Any], client_id: FromPath[UUID]) -> Redirect:
        """Revoke a client: the app or kiosk using its token is refused from its next request."""
        async with tenant_transaction(None):
            revoked = await revoke_app_client(client_id)
            if revoked is None:
                raise NotFound("national_admin.client_not_found")
            await record(
                "app_client.revoke",
                actor=request.user,
                municipality_code=None,
                object_type="app_client",
                object_id=str(client_id),
                details=revoked,
            )
        return Redirect("/national/clients?done=revoked", status_code=HTTP_303_SEE_OTHER)


ROUTES = [MunicipalitiesController, ClientsController]
