"""Pages: valid markup, security headers, errors in the client's shape and language."""

from __future__ import annotations

import pytest

from db.accounts.roles import Role
from tests.factories import create_account, create_municipality, enrol_device, sign_in


@pytest.fixture
async def clerk(app) -> str:
    await create_municipality("131016")
    return await create_account("page-clerk", Role.CLERK)


async def test_sign_in_page_is_valid_japanese_html_with_security_headers(client, clerk) -> None:
    response = await client.get("/sign-in")
    assert response.status_code == 200
    assert '<html lang="ja">' in response.text
    assert "サインイン" in response.text
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"


async def test_pages_carry_no_inline_script(client, clerk) -> None:
    await sign_in(client, clerk)
    for path in ("/sign-in", "/"):
        text = (await client.get(path)).text
        assert "<script>" not in text and "onclick=" not in text


@pytest.mark.parametrize("role", list(Role))
async def test_every_roles_home_page_is_valid(make_client, app, role) -> None:
    await create_municipality("131016")
    login = await create_account(None, role, municipality_code="131016")
    browser = await make_client()
    await sign_in(browser, login)
    if role is Role.VENUE_OPERATOR:
        await enrol_device(login, browser)  # venue sessions need a registered tablet
    response = await browser.get("/")
    assert response.status_code == 200
    for link in ("/admin/accounts",):
        assert (link in response.text) == (role is Role.MUNICIPAL_ADMIN)


async def test_accounts_page_is_valid(client, app) -> None:
    await create_municipality("131016")
    admin = await create_account(None, Role.MUNICIPAL_ADMIN)
    await sign_in(client, admin)
    response = await client.get("/admin/accounts")
    assert response.status_code == 200


async def test_the_language_switch_turns_the_page_english_and_back(client, clerk) -> None:
    await sign_in(client, clerk)
    switched = await client.get("/language/en?back=/", follow_redirects=True)
    assert switched.status_code == 200
    assert '<html lang="en">' in switched.text and "Home" in switched.text
    assert "ホーム" in (await client.get("/?lang=ja")).text
    assert "Home" in (await client.get("/")).text  # the cookie remembers English


async def test_switching_language_keeps_the_query_of_the_page(client, clerk) -> None:
    """The switch comes back to the same filtered list, not to its unfiltered first page."""
    await sign_in(client, clerk)
    page = await client.get("/quality?quality=must_check")
    assert 'back=/quality%3Fquality%3Dmust_check"' in page.text
    switched = await client.get(
        "/language/en?back=%2Fquality%3Fquality%3Dmust_check", follow_redirects=False
    )
    assert switched.headers["location"] == "/quality?quality=must_check"


async def test_language_switch_never_redirects_off_site(client, clerk) -> None:
    response = await client.get("/language/en?back=//evil.example/", follow_redirects=False)
    assert response.headers["location"] == "/"


async def test_unknown_page_is_a_friendly_404_in_japanese(client, clerk) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "見つかりません" in response.text


async def test_api_errors_are_json_problems_in_the_requested_language(client, clerk) -> None:
    response = await client.get("/api/v1/me?lang=en")
    assert response.status_code == 401
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["status"] == 401 and body["code"] == "error.sign_in_required"
    assert body["detail"] == "Please sign in."
    missing = await client.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "error.not_found"


async def test_htmx_errors_are_alert_partials(client, clerk) -> None:
    await sign_in(client, clerk)
    response = await client.get("/admin/accounts", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["hx-retarget"] == "#alerts"
    assert response.text.lstrip().startswith('<div class="alert')


async def test_signed_out_pages_send_the_browser_to_sign_in(client, clerk) -> None:
    response = await client.get("/admin/accounts", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/sign-in?next=/admin/accounts"


async def test_a_malformed_cookie_header_is_not_an_error(client, clerk) -> None:
    response = await client.get("/sign-in", headers={"cookie": 'vrs_session="unterminated; ;;=='})
    assert response.status_code == 200


async def test_health_and_readiness(client, clerk) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_schema_lists_json_routes_only(client, clerk) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/me" in schema["paths"]
    assert not any(path.startswith(("/sign-in", "/admin")) for path in schema["paths"])


async def test_static_htmx_is_served_from_our_own_files(client, clerk) -> None:
    response = await client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:2000]
