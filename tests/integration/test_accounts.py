"""Accounts: sign-in, lockout, sessions, CSRF, bearer tokens and role boundaries."""

from __future__ import annotations

import pytest

from db.accounts.queries import create_api_token, revoke_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    csrf_token,
    enrol_device,
    sign_in,
)


@pytest.fixture
async def chiyoda(app) -> str:
    return await create_municipality("131016")


async def test_sign_in_starts_a_session_with_safe_cookie_flags(client, chiyoda) -> None:
    login = await create_account("clerk-a", Role.CLERK)
    response = await sign_in(client, login)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "vrs_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = await client.get("/")
    assert home.status_code == 200
    assert 'data-testid="signed-in-as"' in home.text


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client, chiyoda
) -> None:
    login = await create_account("clerk-b", Role.CLERK)
    wrong = await sign_in(client, login, "not the password")
    unknown = await sign_in(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith("text/html")
    assert "ログインIDまたはパスワードが違います" in wrong.text
    assert "ログインIDまたはパスワードが違います" in unknown.text
    assert "vrs_session" not in wrong.headers.get("set-cookie", "")


async def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client, chiyoda, settings
) -> None:
    login = await create_account("clerk-c", Role.CLERK)
    for _ in range(settings.lockout_threshold - 1):
        assert (await sign_in(client, login, "wrong password!")).status_code == 401
    locked = await sign_in(client, login, "wrong password!")
    assert locked.status_code == 401
    right_but_locked = await sign_in(client, login, PASSWORD)
    # One answer for every refusal: a lock is not told apart from a wrong password.
    assert right_but_locked.status_code == 401
    assert "ログインIDまたはパスワードが違います" in right_but_locked.text
    async with owner_transaction():
        failed = await current_connection().fetchval(
            "SELECT failed_attempts FROM account WHERE login = $1", login
        )
    assert failed == settings.lockout_threshold


async def test_a_good_sign_in_resets_the_failure_count(client, chiyoda) -> None:
    login = await create_account("clerk-d", Role.CLERK)
    await sign_in(client, login, "wrong password!")
    assert (await sign_in(client, login)).status_code == 303
    async with owner_transaction():
        failed = await current_connection().fetchval(
            "SELECT failed_attempts FROM account WHERE login = $1", login
        )
    assert failed == 0


async def test_each_sign_in_gets_a_new_session_token(make_client, chiyoda) -> None:
    login = await create_account("clerk-e", Role.CLERK)
    first, second = await make_client(), await make_client()
    one = (await sign_in(first, login)).cookies.get("vrs_session")
    two = (await sign_in(second, login)).cookies.get("vrs_session")
    assert one and two and one != two


async def test_sign_out_ends_the_session_for_good(client, chiyoda) -> None:
    login = await create_account("clerk-f", Role.CLERK)
    await sign_in(client, login)
    token = client.cookies.get("vrs_session")
    csrf = await csrf_token(client, "/")
    response = await client.post("/sign-out", data={"_csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("vrs_session", token)  # replaying the old cookie does not work
    again = await client.get("/", follow_redirects=False)
    assert again.status_code in (302, 303)
    assert again.headers["location"].startswith("/sign-in")


async def test_forms_without_the_csrf_token_are_refused(client, chiyoda) -> None:
    login = await create_account("admin-g", Role.MUNICIPAL_ADMIN)
    await sign_in(client, login)
    response = await client.post(
        "/admin/accounts",
        data={"login": "sneaky", "password": "long enough password", "role": "clerk"},
    )
    assert response.status_code == 403
    assert "画面を開き直して" in response.text
    async with owner_transaction():
        assert (
            await current_connection().fetchval(
                "SELECT count(*) FROM account WHERE login = 'sneaky'"
            )
            == 0
        )


async def test_sign_in_itself_needs_the_csrf_token(client, chiyoda) -> None:
    login = await create_account("clerk-h", Role.CLERK)
    response = await client.post("/sign-in", data={"login": login, "password": PASSWORD})
    assert response.status_code == 403


async def test_bearer_tokens_work_without_csrf_and_stop_when_revoked(client, chiyoda) -> None:
    login = await create_account("batch-i", Role.CLERK)
    async with owner_transaction():
        account_id = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account_id, "batch")
        stored = await current_connection().fetchval("SELECT token_hash FROM api_token")
    assert token not in stored  # only the hash is kept
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["login"] == login and me.json()["auth"] == "bearer"
    async with owner_transaction():
        assert await revoke_api_token(account_id, "batch")
    refused = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "error.sign_in_required"


async def test_a_venue_account_cannot_open_clerk_or_admin_pages(client, chiyoda) -> None:
    login = await create_account("venue-j", Role.VENUE_OPERATOR)
    await sign_in(client, login)
    await enrol_device(login, client)
    response = await client.get("/admin/accounts")
    assert response.status_code == 403
    assert "この画面は使えません" in response.text


async def test_a_statistics_viewer_sees_no_personal_page(client, chiyoda) -> None:
    login = await create_account("viewer-k", Role.PREFECTURE_VIEWER, municipality_code=None)
    await sign_in(client, login)
    assert (await client.get("/admin/accounts")).status_code == 403
    home = await client.get("/")
    assert home.status_code == 200
    assert "/admin/" not in home.text


async def test_an_admin_creates_accounts_only_in_their_own_municipality(make_client, app) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    chiyoda_admin = await create_account("admin-chiyoda", Role.MUNICIPAL_ADMIN, "131016")
    await create_account("sapporo-clerk-x", Role.CLERK, "011002")
    browser = await make_client()
    await sign_in(browser, chiyoda_admin)
    page = await browser.get("/admin/accounts")
    assert "admin-chiyoda" in page.text
    assert "sapporo-clerk-x" not in page.text  # RLS: another municipality's accounts
    csrf = await csrf_token(browser, "/admin/accounts")
    created = await browser.post(
        "/admin/accounts",
        data={"_csrf_token": csrf, "login": "new-clerk", "display_name": "新 職員",
              "password": "a long password here", "role": "clerk"},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT municipality_code, role FROM account WHERE login = 'new-clerk'"
        )
    assert dict(row) == {"municipality_code": "131016", "role": "clerk"}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"login": "short-pw", "password": "short", "role": "clerk"}, "12文字以上"),
        (
            {"login": "has space", "password": "a long password here", "role": "clerk"},
            "空白を含まない",
        ),
        (
            {"login": "nat", "password": "a long password here", "role": "national_admin"},
            "選べる役割",
        ),
        (
            {"login": "venue-x", "password": "a long password here", "role": "venue_operator"},
            "接種会場を選んで",
        ),
    ],
)
async def test_bad_account_forms_say_what_is_wrong_and_create_nothing(
    client, chiyoda, form, message
) -> None:
    admin = await create_account(None, Role.MUNICIPAL_ADMIN)
    await sign_in(client, admin)
    csrf = await csrf_token(client, "/admin/accounts")
    response = await client.post("/admin/accounts", data={"_csrf_token": csrf, **form})
    assert response.status_code == 422
    assert message in response.text
    async with owner_transaction():
        count = await current_connection().fetchval("SELECT count(*) FROM account")
    assert count == 1


async def test_an_existing_login_is_refused(client, chiyoda) -> None:
    admin = await create_account(None, Role.MUNICIPAL_ADMIN)
    await sign_in(client, admin)
    csrf = await csrf_token(client, "/admin/accounts")
    response = await client.post(
        "/admin/accounts",
        data={
            "_csrf_token": csrf,
            "login": admin,
            "password": "a long password here",
            "role": "clerk",
        },
    )
    assert response.status_code == 422
    assert "既に使われています" in response.text
