"""After an admin's reset, the temporary password must be changed before anything else (issue 14).

Against the real app and PostgreSQL: the flag lives on the account
(``must_change_password``), the session look-up carries it, and every request
of such a session reaches only the password page (pages redirect there, the
rest answers 403 with a message), until the account sets its own password.
Also: national accounts (no municipality, so row-level security hides their row
from every tenant transaction) change their own password like everyone else.
"""

from __future__ import annotations

import re
import uuid

import pytest

from db.accounts.queries import AccountError, create_api_token
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

NEW = "a brand new passphrase"


async def _row(login: str):
    async with owner_transaction():
        return await current_connection().fetchrow(
            "SELECT id, must_change_password FROM account WHERE login = $1", login
        )


async def _reset(admin_client, login: str) -> str:
    account = await _row(login)
    csrf = await csrf_token(admin_client, "/admin/accounts")
    reset = await admin_client.post(
        f"/admin/accounts/{account['id']}/reset", data={"_csrf_token": csrf}
    )
    assert reset.status_code == 200
    return re.search(r'data-testid="temporary-password-value">([^<]+)<', reset.text).group(1)


async def _signed_in_after_reset(admin_client, make_client, login: str):
    """A new browser of ``login``, signed in with the temporary password of an admin's reset."""
    temporary = await _reset(admin_client, login)
    office = await make_client()
    await sign_in(office, login, temporary)
    return office, temporary


async def _change(client, current: str, new: str = NEW):
    csrf = await csrf_token(client, "/account")
    return await client.post(
        "/account", data={"current": current, "new": new, "repeated": new, "_csrf_token": csrf}
    )


async def test_a_reset_account_reaches_only_the_password_page_until_it_changes_it(
    client, make_client, admin
) -> None:
    clerk = await create_account("clerk-forced", Role.CLERK, "131016")
    assert not (await _row(clerk))["must_change_password"]
    temporary = await _reset(client, clerk)
    assert (await _row(clerk))["must_change_password"]

    office = await make_client()
    signed_in = await sign_in(office, clerk, temporary)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    # Pages send it to the password page; the page says why.
    for page in ("/", "/residents", "/imports", "/admin/accounts"):
        answer = await office.get(page)
        assert answer.status_code == 303 and answer.headers["location"] == "/account", page
    form = await office.get("/account")
    assert form.status_code == 200 and 'data-testid="password-change-required"' in form.text
    assert "一時パスワードのまま" in form.text
    # Anything else answers 403 with the message: a form post, an htmx fragment, the API.
    csrf = await csrf_token(office, "/account")
    posted = await office.post("/residents/search", data={"my_number": "", "_csrf_token": csrf})
    assert posted.status_code == 403 and "一時パスワードのまま" in posted.text
    fragment = await office.get("/residents", headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and "一時パスワードのまま" in fragment.text
    api = await office.get("/api/v1/me")
    assert api.status_code == 403
    assert api.json()["code"] == "account.password_change_required"
    english = await office.get("/api/v1/me", params={"lang": "en"})
    assert "temporary one" in english.json()["detail"]
    # No bearer token can be issued around the change.
    with pytest.raises(AccountError) as refused:
        async with owner_transaction():
            await create_api_token((await _row(clerk))["id"], "around")
    assert refused.value.key == "account.password_change_pending"
    # The language switch and sign-out still work.
    assert (await office.get("/language/en", params={"back": "/account"})).status_code == 303

    assert (await _change(office, temporary, temporary)).status_code == 422  # not the same one
    changed = await _change(office, temporary)
    assert changed.status_code == 303 and changed.headers["location"] == "/account?done=1"
    assert not (await _row(clerk))["must_change_password"]
    assert (await office.get("/residents")).status_code == 200
    async with owner_transaction():
        details = await current_connection().fetchval(
            "SELECT details FROM audit_event WHERE action = 'account.change_own_password'"
        )
    assert '"was_temporary": true' in details
    # A later sign-in goes where it was heading.
    later = await sign_in(await make_client(), clerk, NEW)
    assert later.status_code == 303 and later.headers["location"] == "/"


async def test_sign_out_is_open_during_a_pending_change(client, make_client, admin) -> None:
    clerk = await create_account("clerk-leaves", Role.CLERK, "131016")
    office, _ = await _signed_in_after_reset(client, make_client, clerk)
    csrf = await csrf_token(office, "/account")
    out = await office.post("/sign-out", data={"_csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert (await office.get("/account")).status_code in (302, 303)  # signed out: to sign-in
    assert (await _row(clerk))["must_change_password"]  # still pending for the next sign-in


async def test_a_reset_venue_tablet_changes_the_password_before_recording(
    client, make_client, admin
) -> None:
    operator = await create_account("venue-forced", Role.VENUE_OPERATOR, "131016")
    temporary = await _reset(client, operator)
    tablet = await make_client()
    await enrol_device(operator, tablet)
    signed_in = await sign_in(tablet, operator, temporary)
    assert signed_in.headers["location"] == "/account"  # not the tablet page
    assert (await tablet.get("/venue")).headers["location"] == "/account"
    assert (await _change(tablet, temporary)).status_code == 303
    assert (await tablet.get("/venue")).status_code == 200


async def test_a_national_admin_changes_its_own_password(make_client) -> None:
    """National accounts have no municipality: their row is reached through their session."""
    national = await create_account("national-own", Role.NATIONAL_ADMIN, None)
    browser = await make_client()
    assert (await sign_in(browser, national)).status_code == 303
    wrong = await _change(browser, "not the password")
    assert wrong.status_code == 422 and "現在のパスワードが違います" in wrong.text
    changed = await _change(browser, PASSWORD)
    assert changed.status_code == 303, changed.text
    assert (await sign_in(await make_client(), national, PASSWORD)).status_code != 303
    assert (await sign_in(await make_client(), national, NEW)).status_code == 303
    assert (await browser.get("/national/vaccines")).status_code == 200  # its session goes on
    async with owner_transaction():
        event = await current_connection().fetchrow(
            "SELECT municipality_code, actor_role FROM audit_event"
            " WHERE action = 'account.change_own_password'"
        )
    assert event["municipality_code"] is None and event["actor_role"] == "national_admin"


async def test_a_bearer_token_cannot_change_a_password(make_client) -> None:
    """The own-password functions need the account's live session, never a token."""
    from db.accounts.management import change_own_password
    from db.accounts.principal import Principal
    from db.engine import tenant_transaction

    await create_municipality("131016")
    login = await create_account("clerk-token", Role.CLERK, "131016")
    row = await _row(login)
    principal = Principal(row["id"], login, login, Role.CLERK, "131016", None, None)
    with pytest.raises(AccountError) as refused:
        async with tenant_transaction("131016"):
            await change_own_password(principal, PASSWORD, NEW, NEW)
    assert refused.value.key == "account_admin.own_needs_session"
    # A made-up session id reaches no account either.
    async with tenant_transaction(None):
        connection = current_connection()
        assert (
            await connection.fetchval("SELECT vrs_set_own_password($1, 'x')", uuid.uuid4()) is None
        )
        assert await connection.fetchrow("SELECT * FROM vrs_own_account($1)", uuid.uuid4()) is None


# --- vrs create-user: a generated password is a temporary one ---------------------------


async def test_a_password_vrs_create_user_generates_must_be_changed_first(make_client) -> None:
    """Shown once on the operator's terminal, like an admin's reset: its owner replaces it
    at the first sign-in, and no bearer token is issued around that change."""
    from tests.integration.test_cli import vrs  # the vrs command, on this test's database

    await create_municipality("131016")
    created = vrs("create-user", "--login", "cli-clerk", "--role", "clerk",
                  "--municipality", "131016", "--generate-password")  # fmt: skip
    temporary = re.search(r"vrs: password (\S+)", created.stdout).group(1)
    assert "changed at the first sign-in" in created.stdout
    assert (await _row("cli-clerk"))["must_change_password"]
    refused = vrs("create-token", "--login", "cli-clerk", check=False)
    assert refused.returncode != 0 and "account.password_change_pending" in refused.stderr
    assert "Traceback" not in refused.stderr and "--machine" in refused.stderr

    office = await make_client()
    signed_in = await sign_in(office, "cli-clerk", temporary)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    assert (await office.get("/residents")).headers["location"] == "/account"
    assert (await _change(office, temporary)).status_code == 303
    assert (await office.get("/residents")).status_code == 200
    assert vrs("create-token", "--login", "cli-clerk").stdout.startswith("vrs_")


async def test_a_machine_account_has_no_password_and_its_token_works(make_client) -> None:
    """``--machine``: for bearer tokens only. No password is shown (none to change), and
    its token works at once: the forced change never concerns a bearer token."""
    from tests.integration.test_cli import vrs

    await create_municipality("131016")
    created = vrs("create-user", "--login", "cli-feed", "--role", "clerk",
                  "--municipality", "131016", "--machine")  # fmt: skip
    assert "vrs: password" not in created.stdout
    assert not (await _row("cli-feed"))["must_change_password"]
    token = vrs("create-token", "--login", "cli-feed").stdout.strip()
    me = await (await make_client()).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["login"] == "cli-feed"
    both = vrs("create-user", "--login", "cli-both", "--role", "clerk", "--municipality",
               "131016", "--machine", "--generate-password", check=False)  # fmt: skip
    assert both.returncode != 0 and "not allowed with argument" in both.stderr


# --- The new password is not the temporary (or current) one with something added ---------


async def test_a_new_password_containing_the_temporary_one_is_refused(
    client, make_client, admin
) -> None:
    clerk = await create_account("clerk-contains", Role.CLERK, "131016")
    office, temporary = await _signed_in_after_reset(client, make_client, clerk)
    for new in (temporary + "!", "my " + temporary.upper(), temporary.lower() + "2027"):
        refused = await _change(office, temporary, new)
        assert refused.status_code == 422, new
        assert "現在の（一時）パスワードを含めることはできません" in refused.text, new
    english = await office.post(
        "/account", params={"lang": "en"},
        data={"current": temporary, "new": temporary + "!", "repeated": temporary + "!",
              "_csrf_token": await csrf_token(office, "/account")},
    )  # fmt: skip
    assert "must not contain the current (temporary) password" in english.text
    assert (await _row(clerk))["must_change_password"]
    assert (await _change(office, temporary)).status_code == 303  # an unrelated one is fine


async def test_a_new_password_containing_the_current_one_is_refused(make_client) -> None:
    await create_municipality("131016")
    login = await create_account("clerk-own-contains", Role.CLERK, "131016")
    browser = await make_client()
    await sign_in(browser, login)
    refused = await _change(browser, PASSWORD, PASSWORD.upper() + " again")
    assert refused.status_code == 422 and "パスワードを含めることはできません" in refused.text
    assert (await _change(browser, PASSWORD)).status_code == 303
