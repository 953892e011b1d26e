"""Sessions and headers: cookie flags, lockout, rotation at sign-in, sign-out, security headers."""

from __future__ import annotations

import dataclasses

from db.accounts.roles import Role
from tests.factories import PASSWORD, create_account, create_municipality, sign_in


def set_cookie(response, name: str) -> str:
    return next(v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}="))


async def test_the_session_cookie_is_httponly_lax_and_not_secure_over_http(app, client) -> None:
    await create_municipality("131016")
    response = await sign_in(client, await create_account("flags-1"))
    cookie = set_cookie(response, "vrs_session").lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie


async def test_cookies_are_secure_when_the_base_url_is_https(app, settings) -> None:
    import httpx

    from web.app import create_app

    https = create_app(dataclasses.replace(settings, base_url="https://vrs.example.lg.jp"),
                       manage_pool=False)  # fmt: skip
    await create_municipality("131016")
    login = await create_account("flags-2")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=https), base_url="https://vrs.example.lg.jp"
    ) as client:
        response = await sign_in(client, login)
        assert "secure" in set_cookie(response, "vrs_session").lower()
        csrf = await client.get("/sign-in", headers={"cookie": ""})
        assert all("secure" in v.lower() for v in csrf.headers.get_list("set-cookie"))
        page = await client.get("/")
        assert page.headers["strict-transport-security"].startswith("max-age=")


async def replay(make_client, token: str):
    """The old cookie, sent by another browser (an attacker who copied it)."""
    other = await make_client()
    other.cookies.set("vrs_session", token)
    return await other.get("/api/v1/me")


async def test_sign_in_rotates_the_session_and_the_old_cookie_stops_working(
    app, client, make_client
) -> None:
    await create_municipality("131016")
    first_login = await create_account("rotate-1")
    second_login = await create_account("rotate-2")
    first = (await sign_in(client, first_login)).cookies["vrs_session"]
    assert (await client.get("/api/v1/me")).json()["login"] == first_login
    second = (await sign_in(client, second_login)).cookies["vrs_session"]
    assert second != first
    old = await replay(make_client, first)
    assert old.status_code == 401
    assert (await client.get("/api/v1/me")).json()["login"] == second_login


async def test_sign_out_ends_the_session_on_the_server(app, client, make_client) -> None:
    await create_municipality("131016")
    token = (await sign_in(client, await create_account("bye-1"))).cookies["vrs_session"]
    csrf = client.cookies.get("vrs_csrf")
    assert (await client.post("/sign-out", headers={"x-csrftoken": csrf})).status_code == 303
    replayed = await replay(make_client, token)
    assert replayed.status_code == 401


async def test_lockout_after_the_threshold_even_with_the_right_password(
    app, client, settings
) -> None:
    await create_municipality("131016")
    login = await create_account("locked-1")
    for _ in range(settings.lockout_threshold):
        await sign_in(client, login, "wrong password!!")
    locked = await sign_in(client, login, PASSWORD)
    assert locked.status_code == 401 and "vrs_session" not in locked.cookies


async def test_pages_carry_the_security_headers(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("headers-1", Role.CLERK))
    for path in ("/sign-in", "/", "/residents", "/api/v1/me", "/no-such-page"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script and "'self'" in script, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "same-origin", path
        assert response.headers["cache-control"] == "no-store", path


async def test_pages_have_no_inline_script(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("headers-2", Role.CLERK))
    for path in ("/sign-in", "/", "/residents", "/imports", "/inquiries"):
        text = (await client.get(path)).text
        for tag in text.split("<script")[1:]:
            assert (
                tag.split(">", 1)[0].strip().startswith("src=") or " src=" in tag.split(">", 1)[0]
            ), path
        assert " onclick=" not in text and " onload=" not in text, path
