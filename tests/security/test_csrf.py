"""CSRF: every state-changing route, enumerated from the router, refuses a session without the token."""

from __future__ import annotations

import re

from db.accounts.roles import Role
from tests.factories import create_account, create_municipality, sign_in
from tests.security.routes import state_changing
from web.i18n import translate

_PARAM = re.compile(r"\{(\w+):(\w+)\}")
#: Routes a session-cookie request may change without the token: none. The app and
#: kiosk channels (card sessions, kiosk reports) are bearer-only — a browser never
#: adds that header by itself — yet even they refuse a cookie request without the token.
CSRF_EXEMPT: dict[str, str] = {}
CSRF_MESSAGE = translate("error.csrf", "ja")


def concrete(path: str) -> str:
    return _PARAM.sub(
        lambda m: "00000000-0000-4000-8000-000000000000" if m.group(2) == "uuid" else "x", path
    )


async def test_every_state_changing_route_refuses_a_session_without_the_token(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("csrf-clerk", Role.CLERK))
    assert client.cookies.get("vrs_csrf") and client.cookies.get("vrs_session")
    routes = state_changing(app)
    assert len(routes) > 20  # the router was read, not an empty list
    accepted = []
    for key in routes:
        if key in CSRF_EXEMPT:
            continue
        method, path = key.split(" ", 1)
        for body in ({"data": {"reason": "x"}}, {"json": {"reason": "x"}}):
            response = await client.request(method, concrete(path), **body)
            said_csrf = "error.csrf" in response.text or CSRF_MESSAGE in response.text
            if response.status_code != 403 or not said_csrf:
                accepted.append(f"{key} → {response.status_code}")
    assert not accepted, f"state-changing routes not refusing a missing CSRF token: {accepted}"


async def test_the_token_in_the_header_or_the_form_is_accepted(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("csrf-clerk2", Role.CLERK))
    token = client.cookies.get("vrs_csrf")
    by_header = await client.post(
        "/residents/search", data={"my_number": "1"}, headers={"x-csrftoken": token}
    )
    by_form = await client.post("/residents/search", data={"my_number": "1", "_csrf_token": token})
    assert by_header.status_code != 403 and by_form.status_code != 403


async def test_a_wrong_bearer_header_does_not_slip_a_session_past_the_check(app, client) -> None:
    """Requests with a bearer header skip CSRF, so that header must never carry the session."""
    await create_municipality("131016")
    await sign_in(client, await create_account("csrf-clerk3", Role.CLERK))
    response = await client.post(
        "/residents/search", data={"my_number": "1"}, headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code in (302, 303, 401)
    assert "/sign-in" in response.headers.get("location", "/sign-in")
