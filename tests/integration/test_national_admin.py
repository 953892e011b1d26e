"""The national admin's pages: municipalities, their admins, app and kiosk clients (issue 14).

Against the real app and PostgreSQL: a municipality registered from the page
(its code checked as a real 地方公共団体コード in the prefecture chosen) gets its
default terms in its own area; its admins are made with a one-time password,
disabled, enabled, unlocked and reset by the same services as the municipal
admin's page, and only admins (never a clerk); app and kiosk clients are
revoked and refused from their next request. Every change is audited and the
area changes are rate limited.
"""

from __future__ import annotations

import dataclasses
import re

import httpx

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    csrf_token,
    sign_in,
)

NEW = "a brand new passphrase"
CHIYODA = {"code": "131016", "prefecture": "13", "name": "千代田区", "name_en": "Chiyoda City",
           "head_title": "千代田区長"}  # fmt: skip


async def national(make_client):
    login = await create_account("national-admin", Role.NATIONAL_ADMIN, None)
    browser = await make_client()
    assert (await sign_in(browser, login)).status_code == 303
    return browser


async def post(client, path: str, data: dict | None = None, page: str = "/national/municipalities"):
    csrf = await csrf_token(client, page)
    return await client.post(path, data={**(data or {}), "_csrf_token": csrf})


async def fetchval(sql: str, *args):
    async with owner_transaction():
        return await current_connection().fetchval(sql, *args)


def temporary_of(response) -> str:
    return re.search(r'data-testid="temporary-password-value">([^<]+)<', response.text).group(1)


async def test_a_municipality_is_registered_only_with_a_real_code_in_its_prefecture(
    make_client,
) -> None:
    browser = await national(make_client)
    empty = await browser.get("/national/municipalities")
    assert empty.status_code == 200 and 'data-testid="municipality-none"' in empty.text

    refusals = {
        "131017": "検査数字は 6 です",  # a misread check digit: says what it would be
        "13101": "6桁で入力してください",
        "13101a": "数字6桁",
        "130001": "都道府県そのもの",  # 東京都's own code
        "481009": "都道府県コード（01〜47）ではありません",
    }
    for code, message in refusals.items():
        refused = await post(browser, "/national/municipalities", {**CHIYODA, "code": code})
        assert refused.status_code == 422 and message in refused.text, (code, refused.text)
        assert 'value="千代田区"' in refused.text  # the typed form comes back
    wrong_prefecture = await post(
        browser, "/national/municipalities", {**CHIYODA, "prefecture": "01"}
    )
    assert (
        wrong_prefecture.status_code == 422
        and "上2桁が 13 の都道府県の団体" in wrong_prefecture.text
    )
    no_name = await post(browser, "/national/municipalities", {**CHIYODA, "name": " "})
    assert no_name.status_code == 422 and "名称（日本語）を入力" in no_name.text
    nul = await post(browser, "/national/municipalities", {**CHIYODA, "name": "千代田\x00区"})
    repeated = await post(
        browser, "/national/municipalities", {**CHIYODA, "code": ["131016", "131041"]}
    )
    assert nul.status_code == 422 and repeated.status_code == 422  # typed form body, never a 500
    assert await fetchval("SELECT count(*) FROM municipality") == 0

    created = await post(browser, "/national/municipalities", CHIYODA)
    assert created.status_code == 303
    assert created.headers["location"] == "/national/municipalities?created=131016"
    listed = await browser.get(created.headers["location"])
    assert 'data-testid="municipality-131016"' in listed.text and "東京都" in listed.text
    async with owner_transaction():
        connection = current_connection()
        row = await connection.fetchrow("SELECT * FROM municipality WHERE code = '131016'")
        terms = await connection.fetchrow(
            "SELECT * FROM municipality_setting WHERE municipality_code = '131016'"
        )
        event = await connection.fetchrow(
            "SELECT municipality_code, actor_role FROM audit_event WHERE action = 'municipality.create'"
        )
    assert (row["name"], row["name_en"], row["head_title"], row["prefecture"]) == (
        "千代田区", "Chiyoda City", "千代田区長", "13")  # fmt: skip
    # The terms' defaults (確認事項 第3条2, 第4条5; kiosk terms 第8条).
    assert terms["revision"] == 1 and terms["provides_records_to_inquiries"]
    assert terms["accepts_records_from_other_venues"] and terms["provides_statistics"]
    assert not terms["kiosk_issuance"]
    assert tuple(event) == ("131016", "national_admin")

    again = await post(browser, "/national/municipalities", CHIYODA)
    assert again.status_code == 422 and "すでに登録されています" in again.text
    english = await browser.post(
        "/national/municipalities?lang=en",
        data={**CHIYODA, "code": "131017", "_csrf_token": await csrf_token(browser, "/national/municipalities")},
    )  # fmt: skip
    assert english.status_code == 422 and "it would be 6" in english.text


async def test_the_national_admin_manages_a_municipalitys_admins_and_only_them(
    make_client,
) -> None:
    browser = await national(make_client)
    assert (await post(browser, "/national/municipalities", CHIYODA)).status_code == 303
    page = "/national/municipalities/131016"
    assert 'data-testid="admin-none"' in (await browser.get(page)).text

    made = await post(
        browser, f"{page}/admins", {"login": "chiyoda-admin", "display_name": "千代田 管理者"}
    )
    assert made.status_code == 200 and 'data-testid="admin-chiyoda-admin"' in made.text
    temporary = temporary_of(made)
    assert "temporary-password" not in (await browser.get(page)).text  # shown once
    taken = await post(browser, f"{page}/admins", {"login": "Chiyoda-Admin"})
    assert taken.status_code == 422 and "既に使われています" in taken.text
    async with owner_transaction():
        account = await current_connection().fetchrow(
            "SELECT id, role, municipality_code, must_change_password, created_by FROM account"
            " WHERE login = 'chiyoda-admin'"
        )
    assert (account["role"], account["municipality_code"]) == ("municipal_admin", "131016")
    assert account["must_change_password"] and account["created_by"] is not None
    assert await fetchval(
        "SELECT count(*) FROM audit_event WHERE action = 'account.create'"
        " AND municipality_code = '131016' AND actor_role = 'national_admin'"
    ) == 1  # fmt: skip

    # The new admin sets a password at the first sign-in, then runs the area.
    admin = await make_client()
    first = await sign_in(admin, "chiyoda-admin", temporary)
    assert first.headers["location"] == "/account"
    csrf = await csrf_token(admin, "/account")
    changed = await admin.post("/account", data={"current": temporary, "new": NEW, "repeated": NEW,
                                                 "_csrf_token": csrf})  # fmt: skip
    assert changed.status_code == 303
    assert (await admin.get("/admin/accounts")).status_code == 200

    # Disable (its session ends), enable, unlock, reset: each audited in the area.
    act = f"{page}/admins/{account['id']}"
    disabled = await post(browser, f"{act}/disable", page=page)
    assert disabled.status_code == 303 and disabled.headers["location"] == f"{page}?done=disable"
    assert 'data-state="disabled"' in (await browser.get(page)).text
    assert (await admin.get("/admin/accounts")).status_code in (302, 303)
    assert (await sign_in(await make_client(), "chiyoda-admin", NEW)).status_code != 303
    assert (await post(browser, f"{act}/enable", page=page)).status_code == 303
    admin = await make_client()
    assert (await sign_in(admin, "chiyoda-admin", NEW)).status_code == 303
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE account SET failed_attempts = 30, locked_until = now() + interval '1 hour'"
            " WHERE login = 'chiyoda-admin'"
        )
    assert 'data-state="locked"' in (await browser.get(page)).text
    assert (await post(browser, f"{act}/unlock", page=page)).status_code == 303
    reset = await post(browser, f"{act}/reset", page=page)
    assert reset.status_code == 200
    assert (await admin.get("/admin/accounts")).status_code in (302, 303)  # sessions ended
    again = await make_client()
    assert (await sign_in(again, "chiyoda-admin", temporary_of(reset))).headers[
        "location"
    ] == "/account"
    actions = await fetchval(
        "SELECT string_agg(action, ' ' ORDER BY id) FROM audit_event WHERE municipality_code ="
        " '131016' AND actor_role = 'national_admin' AND action LIKE 'account.%'"
    )
    assert actions == ("account.create account.disable account.enable account.unlock"
                       " account.reset_password")  # fmt: skip

    # A clerk of the area is not the national admin's: not listed, not touched.
    clerk = await create_account("chiyoda-clerk", Role.CLERK, "131016", display_name="職員 乙")
    clerk_id = await fetchval("SELECT id FROM account WHERE login = $1", clerk)
    listed = await browser.get(page)
    assert "chiyoda-clerk" not in listed.text and "職員 乙" not in listed.text
    for action in ("disable", "reset", "unlock", "enable"):
        refused = await post(browser, f"{page}/admins/{clerk_id}/{action}", page=page)
        assert refused.status_code == 404, action
    assert (await sign_in(await make_client(), clerk)).status_code == 303
    assert not await fetchval("SELECT must_change_password FROM account WHERE id = $1", clerk_id)

    # Unknown or malformed codes, another area's admin through this area's path: 404.
    await create_municipality("011002")
    sapporo = await create_account("sapporo-admin", Role.MUNICIPAL_ADMIN, "011002")
    sapporo_id = await fetchval("SELECT id FROM account WHERE login = $1", sapporo)
    assert (
        await post(browser, f"{page}/admins/{sapporo_id}/disable", page=page)
    ).status_code == 404
    assert (await browser.get("/national/municipalities/131041")).status_code == 404
    assert (await browser.get("/national/municipalities/abc")).status_code == 404
    assert (
        await post(browser, "/national/municipalities/131041/admins", {"login": "x-admin"})
    ).status_code == 404
    assert (await post(browser, f"{act}/promote", page=page)).status_code == 404


async def test_app_and_kiosk_clients_are_listed_and_revoked(make_client) -> None:
    from db.cards.queries import create_app_client

    async with owner_transaction():
        app_token = await create_app_client("city-app", "app")
        kiosk_token = await create_app_client("store-0001", "kiosk")
    browser = await national(make_client)
    page = await browser.get("/national/clients")
    assert 'data-testid="client-city-app" data-state="live"' in page.text
    assert 'data-testid="client-store-0001" data-state="live"' in page.text
    assert "キオスク端末" in page.text and "電子交付アプリ" in page.text
    assert app_token not in page.text and kiosk_token not in page.text

    async def challenge(token: str) -> int:
        api = await make_client()
        answer = await api.post(
            "/api/v1/card-sessions", headers={"authorization": f"Bearer {token}"}
        )
        return answer.status_code

    assert await challenge(kiosk_token) == 201
    kiosk_id = await fetchval("SELECT id FROM app_client WHERE label = 'store-0001'")
    revoked = await post(browser, f"/national/clients/{kiosk_id}/revoke", page="/national/clients")
    assert revoked.status_code == 303
    assert (
        'data-testid="client-store-0001" data-state="revoked"'
        in (await browser.get("/national/clients")).text
    )
    assert await challenge(kiosk_token) == 403  # refused from its next request
    assert await challenge(app_token) == 201  # the other one goes on
    again = await post(browser, f"/national/clients/{kiosk_id}/revoke", page="/national/clients")
    assert again.status_code == 404
    event = await fetchval(
        "SELECT details->>'label' FROM audit_event WHERE action = 'app_client.revoke'"
        " AND municipality_code IS NULL AND actor_role = 'national_admin'"
    )
    assert event == "store-0001"


async def test_only_the_national_admin_opens_these_pages(make_client) -> None:
    await create_municipality("131016")
    for role, code in ((Role.MUNICIPAL_ADMIN, "131016"), (Role.NATIONAL_VIEWER, None)):
        login = await create_account(f"not-national-{role}", role, code)
        browser = await make_client()
        await sign_in(browser, login)
        for path in ("/national/municipalities", "/national/municipalities/131016",
                     "/national/clients"):  # fmt: skip
            assert (await browser.get(path)).status_code == 403, (role, path)


async def test_area_changes_are_rate_limited_per_national_admin(app, settings) -> None:
    from web.app import create_app

    limited = create_app(dataclasses.replace(settings, rate_national_admin_per_hour=2),
                         manage_pool=False)  # fmt: skip
    login = await create_account("national-limited", Role.NATIONAL_ADMIN, None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                 base_url="http://127.0.0.1:8000") as browser:  # fmt: skip
        await sign_in(browser, login)
        answers = [
            (await post(browser, "/national/municipalities", {**CHIYODA, "code": code})).status_code
            for code in ("131016", "131041", "132012")
        ]
        assert answers == [303, 303, 429]
        # The list and the clients page are reads: not counted.
        assert (await browser.get("/national/municipalities")).status_code == 200
    assert await fetchval("SELECT count(*) FROM municipality") == 2
