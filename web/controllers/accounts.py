"""Staff and venue accounts, managed by the municipal admin (職員・会場アカウント)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.queries import AccountError, create_account, list_accounts
from db.accounts.roles import GRANTABLE_BY_MUNICIPAL_ADMIN, Role
from db.audit.queries import record
from db.engine import tenant_transaction
from db.tenancy.queries import list_venues
from web.auth import requires
from web.i18n import language_of, translate


class AccountsController(Controller):
    """The municipal admin's account list and the form to add one."""

    include_in_schema = False

    path = "/admin/accounts"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_accounts")
    async def index(
        self, request: Request[Any, Any, Any], created: FromQuery[str | None] = None
    ) -> Template:
        """Accounts of the admin's municipality and the form for a new one."""
        return await self._page(request, created=created)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        created: str | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(request.user.tenant):
            accounts = await list_accounts()
            venues = await list_venues(open_only=True)
        return Template(
            "accounts/index.html",
            context={
                "accounts": accounts,
                "venues": venues,
                "roles": sorted(GRANTABLE_BY_MUNICIPAL_ADMIN),
                "created": created,
                "error": error,
                "form": form or {},
            },
            status_code=status_code,
        )

    @post("/", name="admin_accounts_create", media_type=MediaType.HTML)
    async def create(self, request: Request[Any, Any, Any]) -> Any:
        """Add a clerk, venue or admin account to the admin's own municipality."""
        principal = request.user
        raw = await request.form()
        form = {
            key: str(raw.get(key, "")).strip()
            for key in ("login", "display_name", "role", "venue_id")
        }
        password = str(raw.get("password", ""))
        language = language_of(request)
        try:
            role = Role(form["role"])
        except ValueError:
            role = None
        if role not in GRANTABLE_BY_MUNICIPAL_ADMIN:
            return await self._page(
                request,
                error=translate("account.role_invalid", language),
                form=form,
                status_code=422,
            )
        venue_id = None
        if role is Role.VENUE_OPERATOR:
            try:
                venue_id = UUID(form["venue_id"])
            except ValueError:
                return await self._page(
                    request,
                    error=translate("account.venue_required", language),
                    form=form,
                    status_code=422,
                )
        try:
            async with tenant_transaction(principal.tenant):
                if venue_id is not None and not any(
                    v["id"] == venue_id for v in await list_venues(open_only=True)
                ):
                    raise AccountError("account.venue_required")
                account_id = await create_account(
                    login=form["login"],
                    display_name=form["display_name"],
                    password=password,
                    role=role,
                    municipality_code=principal.municipality_code,
                    venue_id=venue_id,
                    created_by=principal.account_id,
                )
                await record(
                    "account.create",
                    actor=principal,
                    municipality_code=principal.tenant,
                    object_type="account",
                    object_id=str(account_id),
                    details={"login": form["login"], "role": str(role)},
                )
        except AccountError as exc:
            return await self._page(
                request,
                error=translate(exc.key, language, **exc.params),
                form=form,
                status_code=422,
            )
        return Redirect(f"/admin/accounts?created={form['login']}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [AccountsController]
