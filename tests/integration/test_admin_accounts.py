"""Account management by the municipal admin and one's own password (issue 14)."""

from __future__ import annotations

import re

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import PASSWORD, create_account, create_municipality, csrf_token, sign_in


async def account_id(login: str):
    async with owner_transaction():
        return await current_connection().fetchval("SELECT id FROM account WHERE login = $1", login)


async def act(client, login: str, action: str):
    csrf = await csrf_token(client, "/admin/accounts")
    return await client.post(f"/admin/accounts/{await account_id(login)}/{action}",
                             data={"_csrf_token": csrf})  # fmt: skip


async def audited(action: str) -> int:
    async with owner_transaction():
        return await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = $1", action
        )


async def test_disabling_ends_sessions_and_tokens_and_enabling_restores_sign_in(
    client, make_client, admin
) -> None:
    clerk = await create_account("clerk-a", Role.CLERK, "131016")
    office = await make_client()
    assert (await sign_in(office, clerk)).status_code == 303
    async with owner_transaction():
        token = await create_api_token(await account_id(clerk), "batch")
    listed = await client.get("/admin/accounts")
    assert 'data-testid="account-clerk-a" data-state="active"' in listed.text
    assert "最終ログイン" in listed.text

    assert (await act(client, clerk, "disable")).status_code == 303
    assert (await office.get("/residents")).status_code in (302, 303, 401)
    me = await (await make_client()).get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert (await sign_in(await make_client(), clerk)).status_code != 303
    assert 'data-state="disabled"' in (await client.get("/admin/accounts")).text

    assert (await act(client, clerk, "enable")).status_code == 303
    assert (await sign_in(await make_client(), clerk)).status_code == 303
    assert await audited("account.disable") == 1 and await audited("account.enable") == 1


async def test_reset_shows_a_temporary_password_once_that_signs_in(
    client, make_client, admin
) -> None:
    clerk = await create_account("clerk-r", Role.CLERK, "131016")
    office = await make_client()
    await sign_in(office, clerk)
    reset = await act(client, clerk, "reset")
    assert reset.status_code == 200
    temporary = re.search(r'data-testid="temporary-password-value">([^<]+)<', reset.text).group(1)
    assert "temporary-password" not in (await client.get("/admin/accounts")).text  # once
    assert (await office.get("/residents")).status_code in (302, 303, 401)  # its session ended
    assert (await sign_in(await make_client(), clerk, PASSWORD)).status_code != 303
    fresh = await make_client()
    signed_in = await sign_in(fresh, clerk, temporary)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    assert (await fresh.get("/")).headers["location"] == "/account"  # the change comes first
    # The clerk changes it on /account; a wrong current password is refused in Japanese.
    csrf = await csrf_token(fresh, "/account")
    wrong = await fresh.post("/account", data={"current": "nope", "new": "a brand new passphrase",
                                               "repeated": "a brand new passphrase", "_csrf_token": csrf})  # fmt: skip
    assert wrong.status_code == 422 and "現在のパスワードが違います" in wrong.text
    changed = await fresh.post("/account", data={"current": temporary, "new": "a brand new passphrase",
                                                 "repeated": "a brand new passphrase", "_csrf_token": csrf})  # fmt: skip
    assert changed.status_code == 303
    assert 'href="/account"' in (await fresh.get("/")).text  # every home page links to it
    assert (await sign_in(await make_client(), clerk, "a brand new passphrase")).status_code == 303
    assert await audited("account.reset_password") == 1
    assert await audited("account.change_own_password") == 1


async def test_unlock_lifts_a_lockout(client, make_client, admin, settings) -> None:
    clerk = await create_account("clerk-l", Role.CLERK, "131016")
    # Locked as the sign-in lockout leaves it (the lockout itself is tested in test_accounts).
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE account SET failed_attempts = $2, locked_until = now() + interval '1 hour'"
            " WHERE login = $1", clerk, settings.lockout_threshold)  # fmt: skip
    assert (await sign_in(await make_client(), clerk)).status_code != 303
    assert 'data-state="locked"' in (await client.get("/admin/accounts")).text
    assert (await act(client, clerk, "unlock")).status_code == 303
    assert (await sign_in(await make_client(), clerk)).status_code == 303
    assert await audited("account.unlock") == 1


async def test_tokens_are_listed_and_revoked_one_by_one(client, make_client, admin) -> None:
    clerk = await create_account("clerk-t", Role.CLERK, "131016")
    async with owner_transaction():
        keep = await create_api_token(await account_id(clerk), "keep")
        drop = await create_api_token(await account_id(clerk), "drop")
    page = await client.get(f"/admin/accounts/{await account_id(clerk)}/tokens")
    assert 'data-testid="token-drop"' in page.text and drop not in page.text
    async with owner_transaction():
        token_id = await current_connection().fetchval(
            "SELECT id FROM api_token WHERE label = 'drop'"
        )
    csrf = await csrf_token(client, "/admin/accounts")
    revoked = await client.post(f"/admin/accounts/{await account_id(clerk)}/tokens/{token_id}/revoke",
                                data={"_csrf_token": csrf})  # fmt: skip
    assert revoked.status_code == 303
    api = await make_client()
    assert (
        await api.get("/api/v1/me", headers={"authorization": f"Bearer {drop}"})
    ).status_code == 401
    assert (
        await api.get("/api/v1/me", headers={"authorization": f"Bearer {keep}"})
    ).status_code == 200


async def test_another_municipalitys_admin_cannot_touch_our_accounts(
    client, make_client, admin
) -> None:
    await create_municipality("132012")
    other = await create_account("admin-b", Role.MUNICIPAL_ADMIN, "132012")
    theirs = await make_client()
    await sign_in(theirs, other)
    ours = await create_account("clerk-x", Role.CLERK, "131016")
    for action in ("disable", "reset", "unlock"):
        assert (await act(theirs, ours, action)).status_code == 404
    assert (await sign_in(await make_client(), ours)).status_code == 303
    assert (await act(client, "admin-a", "disable")).status_code == 422  # never oneself
