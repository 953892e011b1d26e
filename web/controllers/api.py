"""JSON API basics (``/api/v1``): who am I, for machine clients and the app."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from web.auth import signed_in


class ApiAccountController(Controller):
    """The account behind a session cookie or bearer token."""

    path = "/api/v1"
    guards = [signed_in]

    @get("/me", name="api_me", summary="The signed-in account (no personal data)")
    async def me(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Login, role and area of the caller."""
        principal = request.user
        return {
            "login": principal.login,
            "display_name": principal.display_name,
            "role": str(principal.role),
            "municipality_code": principal.municipality_code,
            "prefecture_code": principal.prefecture_code,
            "auth": request.scope.get("auth"),
        }


ROUTES = [ApiAccountController]
