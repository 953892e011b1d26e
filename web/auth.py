"""Who is asking: the session cookie or a bearer token, resolved per request.

:class:`RequestContextMiddleware` runs first: it picks the language and finds
the principal (through the sanctioned sign-in crossings, before the tenant is
known), so every later layer — CSRF, guards, error pages — knows both.
Guards then say which roles may reach a route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings
from db.accounts.principal import Principal
from db.accounts.queries import principal_for_bearer, principal_for_session
from db.accounts.roles import Role
from db.engine import tenantless_statement
from web.errors import NotAllowed, SignInRequired
from web.i18n import LANGUAGE_COOKIE, pick_language

SESSION_COOKIE = "vrs_session"
CSRF_COOKIE = "vrs_csrf"
CSRF_HEADER = "x-csrftoken"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue  # a malformed cookie header is the client's problem, not a 500
    return {key: morsel.value for key, morsel in jar.items()}


class RequestContextMiddleware(ASGIMiddleware):
    """Sets ``scope['user']`` (a :class:`Principal` or ``None``) and the language."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cookies = _cookies(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        lang_query = next(
            (p.split("=", 1)[1] for p in query.split("&") if p.startswith("lang=")), None
        )
        scope.setdefault("state", {})["language"] = pick_language(
            cookies.get(LANGUAGE_COOKIE), lang_query
        )
        principal: Principal | None = None
        bearer = _bearer(scope)
        session = cookies.get(SESSION_COOKIE)
        if bearer:
            principal = await principal_for_bearer(bearer, max_days=self.settings.api_token_days)
            scope["state"]["auth_kind"] = "bearer"
        elif session:
            async with tenantless_statement() as connection:
                principal = await principal_for_session(
                    session,
                    self.settings.session_hours,
                    connection,
                    max_hours=self.settings.session_max_hours,
                )
            scope["state"]["auth_kind"] = "session"
        scope["user"] = principal
        scope["auth"] = scope["state"].get("auth_kind")
        await next_app(scope, receive, send)


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, except for bearer-token requests without a session.

    A bearer token is not sent by browsers on their own, so it cannot be
    forged cross-site; a request with the session cookie always needs the token.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("auth") == "bearer":
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def csrf_config(settings: Settings) -> CSRFConfig:
    """The CSRF settings shared by the middleware and the templates."""
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="strict",
        cookie_httponly=False,
        exclude=["/healthz", "/readyz"],
    )


# --- guards -------------------------------------------------------------------

#: Guards are coroutine functions: Litestar runs a synchronous guard in a worker
#: thread (``sync_to_thread``), a hop per guard per request on the hot save path.
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def _check_signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    if connection.scope.get("user") is None:
        raise SignInRequired("error.sign_in_required")


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Any signed-in account."""
    _check_signed_in(connection)


def requires(*roles: Role) -> Guard:
    """Only these roles (after :func:`signed_in`)."""
    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        _check_signed_in(connection)
        if connection.scope["user"].role not in allowed:
            raise NotAllowed("error.role_not_allowed")

    return guard
