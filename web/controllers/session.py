"""Signing in and out (サインイン・サインアウト)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from common.settings import Settings
from db.accounts.queries import SignInPolicy, authenticate, end_session, start_session
from db.accounts.roles import Role
from db.audit.queries import record
from db.engine import tenant_transaction
from web.auth import SESSION_COOKIE, signed_in
from web.forms import Form, SignInForm
from web.i18n import language_of, translate
from web.network import STAFF_ROLES, NetworkPolicy
from web.rate_limit import rate_limited, source_address


def safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class SessionController(Controller):
    """The sign-in page and the sign-out action."""

    include_in_schema = False

    @get("/sign-in", name="sign_in_page")
    async def sign_in_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Template:
        """Show the sign-in form."""
        return Template("session/sign_in.html", context={"next": safe_next(next), "error": None})

    @post(
        "/sign-in",
        name="sign_in",
        media_type=MediaType.HTML,
        middleware=[rate_limited("sign_in")],
    )
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: Form[SignInForm],
    ) -> Any:
        """Check the credentials, start a fresh session and go where the user was heading."""
        login = data.login.strip()
        password = data.password
        target = safe_next(data.next or None)
        if not login or not password:
            return self._refused(request, "auth.missing_credentials", target, login)
        result = await authenticate(
            login,
            password,
            source=source_address(request, settings),
            policy=SignInPolicy(
                source_threshold=settings.lockout_threshold,
                account_threshold=settings.account_lock_threshold,
                lock_minutes=settings.lockout_minutes,
            ),
        )
        if result.principal is None:
            # One answer for every refusal (wrong, unknown, locked, throttled, inactive):
            # the answer never tells which logins exist or are locked.
            return self._refused(request, "auth.refused", target, login)
        if not NetworkPolicy.from_settings(settings).allows_staff(request.scope) and (
            result.principal.role in STAFF_ROLES
        ):
            return self._refused(request, "network.sign_in_outside", target, login)
        async with tenant_transaction(result.principal.tenant):
            token, principal = await start_session(
                result.principal, settings.session_hours, settings.session_max_hours
            )
            await record(
                "account.sign_in",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="account",
                object_id=str(principal.account_id),
            )
        previous = request.scope.get("user")
        if previous is not None and previous.session_id is not None:
            # Rotation: the session this browser had before signing in ends now.
            async with tenant_transaction(previous.tenant):
                await end_session(previous.session_id)
        if principal.must_change_password:
            target = "/account"  # a reset's temporary password is replaced first
        elif target == "/" and principal.role is Role.VENUE_OPERATOR:
            target = "/venue"  # a venue account's one job: the tablet page
        response = Redirect(target, status_code=HTTP_303_SEE_OTHER)
        response.cookies.append(
            Cookie(
                key=SESSION_COOKIE,
                value=token,
                httponly=True,
                samesite="lax",
                secure=settings.secure_cookies,
                path="/",
            )
        )
        return response

    def _refused(
        self, request: Request[Any, Any, Any], key: str, target: str, login: str
    ) -> Template:
        language = language_of(request)
        return Template(
            "session/sign_in.html",
            context={"next": target, "login": login, "error": translate(key, language)},
            status_code=403 if key == "network.sign_in_outside" else 401,
        )

    @post("/sign-out", name="sign_out", guards=[signed_in])
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        """End the session: its token stops working at once."""
        principal = request.user
        async with tenant_transaction(principal.tenant):
            if principal.session_id is not None:
                await end_session(principal.session_id)
            await record(
                "account.sign_out",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="account",
                object_id=str(principal.account_id),
            )
        response = Redirect("/sign-in", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


ROUTES = [SessionController]
