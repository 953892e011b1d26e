"""Staff and venue accounts, managed by the municipal admin (職員・会場アカウント)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.management import (
    accounts_with_state,
    change_own_password,
    reset_password,
    revoke_token,
    set_active,
    tokens_of,
    unlock,
)
from db.accounts.queries import AccountError, create_account
from db.accounts.roles import GRANTABLE_BY_MUNICIPAL_ADMIN, Role
from db.audit.queries import record
from db.engine import tenant_transaction
from db.tenancy.queries import list_venues
from web.auth import requires, signed_in
from web.errors import NotFound
from web.forms import AccountForm, Form, PasswordForm
from web.i18n import language_of, translate


class AccountsController(Controller):
    """The municipal admin's account list and the form to add one."""

    include_in_schema = False

    path = "/admin/accounts"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_accounts")
    async def index(
        self,
        request: Request[Any, Any, Any],
        created: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        """Accounts of the admin's municipality and the form for a new one."""
        notice = None
        if done in ("disable", "enable", "unlock"):
            notice = translate(f"account_admin.done_{done}", language_of(request))
        return await self._page(request, created=created, notice=notice)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        created: str | None = None,
        notice: str | None = None,
        temporary: dict[str, str] | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(request.user.tenant):
            accounts = await accounts_with_state()
            venues = await list_venues(open_only=True)
        return Template(
            "accounts/index.html",
            context={
                "accounts": accounts,
                "venues": venues,
                "roles": sorted(GRANTABLE_BY_MUNICIPAL_ADMIN),
                "created": created,
                "notice": notice,
                "temporary": temporary,
                "error": error,
                "form": form or {},
            },
            status_code=status_code,
        )

    @post("/", name="admin_accounts_create", media_type=MediaType.HTML)
    async def create(self, request: Request[Any, Any, Any], data: Form[AccountForm]) -> Any:
        """Add a clerk, venue or admin account to the admin's own municipality."""
        principal = request.user
        typed = data.values()
        form = {key: typed[key].strip() for key in ("login", "display_name", "role", "venue_id")}
        password = data.password
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

    @post("/{account_id:uuid}/{action:str}", name="admin_accounts_act", media_type=MediaType.HTML)
    async def act(
        self, request: Request[Any, Any, Any], account_id: FromPath[UUID], action: FromPath[str]
    ) -> Any:
        """Disable, enable, unlock or reset an account of the admin's area (audited)."""
        principal = request.user
        language = language_of(request)
        if action not in ("disable", "enable", "unlock", "reset"):
            raise NotFound("account_admin.not_found")
        temporary = None
        try:
            async with tenant_transaction(principal.tenant):
                if action == "reset":
                    temporary = await reset_password(account_id, actor=principal)
                elif action == "unlock":
                    await unlock(account_id, actor=principal)
                else:
                    await set_active(account_id, action == "enable", actor=principal)
        except AccountError as exc:
            if exc.key == "account_admin.not_found":
                raise NotFound(exc.key) from exc
            return await self._page(
                request, error=translate(exc.key, language, **exc.params), status_code=422
            )
        if temporary is None:
            return Redirect(f"/admin/accounts?done={action}", status_code=HTTP_303_SEE_OTHER)
        # The temporary password is shown this once, never stored in clear nor redirected.
        return await self._page(request, temporary={"password": temporary})

    @get("/{account_id:uuid}/tokens", name="admin_accounts_tokens")
    async def tokens(self, request: Request[Any, Any, Any], account_id: FromPath[UUID]) -> Any:
        """An account's bearer tokens (labels and dates), each revocable."""
        try:
            async with tenant_transaction(request.user.tenant):
                tokens = await tokens_of(account_id)
        except AccountError as exc:
            raise NotFound(exc.key) from exc
        return Template(
            "accounts/tokens.html", context={"tokens": tokens, "account_id": account_id}
        )

    @post(
        "/{account_id:uuid}/tokens/{token_id:uuid}/revoke",
        name="admin_accounts_token_revoke",
        media_type=MediaType.HTML,
    )
    async def revoke(
        self, request: Request[Any, Any, Any], account_id: FromPath[UUID], token_id: FromPath[UUID]
    ) -> Any:
        """Revoke one token: the client using it is refused from its next request."""
        try:
            async with tenant_transaction(request.user.tenant):
                await revoke_token(account_id, token_id, actor=request.user)
        except AccountError as exc:
            raise NotFound(exc.key) from exc
        return Redirect(f"/admin/accounts/{account_id}/tokens", status_code=HTTP_303_SEE_OTHER)


class OwnAccountController(Controller):
    """The signed-in user's own account: change the password."""

    include_in_schema = False
    path = "/account"
    guards = [signed_in]

    @get("/", name="own_account")
    async def index(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        """The password form (the only page while a reset's temporary password is in use)."""
        notice = translate("account_admin.password_changed", language_of(request)) if done else None
        return Template("accounts/own.html", context={"notice": notice, "error": None,
                                                      "forced": request.user.must_change_password})  # fmt: skip

    @post("/", name="own_account_password", media_type=MediaType.HTML)
    async def change(self, request: Request[Any, Any, Any], data: Form[PasswordForm]) -> Any:
        """Change the own password (the current one is asked); other sessions end."""
        values = [data.current, data.new, data.repeated]
        try:
            async with tenant_transaction(request.user.tenant):
                await change_own_password(request.user, *values)
        except AccountError as exc:
            error = translate(exc.key, language_of(request), **exc.params)
            return Template("accounts/own.html", status_code=422, context={
                "notice": None, "error": error, "forced": request.user.must_change_password})  # fmt: skip
        return Redirect("/account?done=1", status_code=HTTP_303_SEE_OTHER)


ROUTES = [AccountsController, OwnAccountController]
