"""A reset's temporary password must be replaced before anything else (issue 14).

After an admin's reset (or the national admin's new municipal admin, or ``vrs
create-user --generate-password``), the account signs in with a one-time password
and ``must_change_password`` is set (:mod:`db.accounts.management`). Until it sets its own password, every request
of its session reaches only the password page, sign-out and what those pages
need: a page (GET, not the API, not an htmx fragment) is sent to ``/account``,
anything else answers 403 with a message saying to change the password first.

Bearer tokens cannot carry a pending change: a reset revokes the account's
tokens and :func:`db.accounts.queries.create_api_token` issues none until the
password is changed. Runs after :class:`web.access.AccessMiddleware`, so a
venue account's tablet is enrolled (``/venue/enrol``) before anything else.
"""

from __future__ import annotations

from litestar import Request
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from web.access import ENROL_PATH, _redirect
from web.errors import NotAllowed
from web.htmx import wants_partial

CHANGE_PAGE = "/account"

#: What an account with a pending change may still open.
OPEN_PATHS = frozenset({CHANGE_PAGE, "/sign-in", "/sign-out", ENROL_PATH, "/healthz", "/readyz"})
OPEN_PREFIXES = ("/static/", "/language/")


class PasswordChangeRequired(NotAllowed):
    """The account's password is a temporary one: it must be changed first."""


def open_during_change(path: str) -> bool:
    """Paths reachable while the password must be changed."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class PasswordChangeMiddleware(ASGIMiddleware):
    """Sends a session with a pending password change to ``/account``, refuses the rest."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        path = scope.get("path", "")
        if (
            principal is not None
            and principal.must_change_password
            and not open_during_change(path)
        ):
            if (
                scope.get("method") == "GET"
                and not path.startswith("/api/")
                and not wants_partial(Request(scope))
            ):
                await _redirect(send, CHANGE_PAGE)
                return
            raise PasswordChangeRequired("account.password_change_required")
        await next_app(scope, receive, send)
