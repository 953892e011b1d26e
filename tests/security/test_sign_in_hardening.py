"""Sign-in that holds under races (issue 12): hashing off the loop, atomic counting,
one answer for every refusal, a per-address throttle before any account lock,
password rules and case-insensitive logins."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import httpx
import pytest

import db.accounts.queries as account_queries
from db.accounts.queries import AccountError
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import PASSWORD, create_account, create_municipality, csrf_token, sign_in


def client_from(app, address: str) -> httpx.AsyncClient:
    """A browser at another source address."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://127.0.0.1:8000",
    )


@pytest.fixture
def verifications(monkeypatch) -> list[tuple[str, bool]]:
    """Each argon2 check: the thread it ran in, and whether it was against a real account."""
    seen: list[tuple[str, bool]] = []
    real = account_queries._verify

    def spy(stored_hash: str, password: str) -> bool:
        dummy = stored_hash == getattr(account_queries, "_DUMMY_HASH", None)
        seen.append((threading.current_thread().name, not dummy))
        return real(stored_hash, password)

    monkeypatch.setattr(account_queries, "_verify", spy)
    return seen


async def post_sign_in(client, token: str, login: str, password: str):
    return await client.post(
        "/sign-in",
        data={"login": login, "password": password, "_csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


async def test_password_hashing_runs_off_the_event_loop_and_healthz_keeps_answering(
    app, client, verifications
) -> None:
    await create_municipality("131016")
    login = await create_account("thread-1")
    token = await csrf_token(client)
    stop = asyncio.Event()
    health: list[int] = []

    async def poll() -> None:
        while not stop.is_set():
            health.append((await client.get("/healthz")).status_code)
            await asyncio.sleep(0)

    poller = asyncio.create_task(poll())
    attempts = [post_sign_in(client, token, f"nobody-{i}", "wrong password!") for i in range(30)]
    answers = await asyncio.gather(*attempts, post_sign_in(client, token, login, PASSWORD))
    stop.set()
    await poller
    unavailable = [a.text[:3000] for a in answers if a.status_code == 503][:1]
    assert [a.status_code for a in answers] == [401] * 30 + [303], unavailable
    assert health and set(health) == {200}
    # Every argon2 check ran in a worker thread, none on the event loop's thread.
    assert len(verifications) == 31
    assert threading.main_thread().name not in {thread for thread, _ in verifications}


async def test_a_burst_of_parallel_guesses_is_checked_exactly_threshold_times(
    app, client, settings, verifications
) -> None:
    await create_municipality("131016")
    login = await create_account("burst-1")
    token = await csrf_token(client)
    burst = [post_sign_in(client, token, login, f"wrong guess {i:04d}") for i in range(12)]
    answers = await asyncio.gather(*burst)
    assert {a.status_code for a in answers} == {401}
    # Old code let every in-flight guess pass the "not yet locked" check (8–13 checked).
    assert sum(real for _, real in verifications) == settings.lockout_threshold
    right = await post_sign_in(client, token, login, PASSWORD)
    assert right.status_code == 401 and "vrs_session" not in right.cookies


async def test_the_right_password_after_a_burst_of_wrong_ones_does_not_sign_in(
    app, client, settings
) -> None:
    await create_municipality("131016")
    login = await create_account("burst-2")
    token = await csrf_token(client)
    wrong = [post_sign_in(client, token, login, "wrong password!") for _ in range(8)]
    await asyncio.gather(*wrong)
    right = await post_sign_in(client, token, login, PASSWORD)
    assert right.status_code == 401 and "vrs_session" not in right.cookies


async def test_one_answer_for_wrong_unknown_and_locked(app, client, settings) -> None:
    await create_municipality("131016")
    login = await create_account("same-1")
    for _ in range(settings.lockout_threshold):
        await sign_in(client, login, "wrong password!")
    locked = await sign_in(client, login, PASSWORD)
    unknown = await sign_in(client, "no-such-login", "wrong password!")
    fresh = await sign_in(client, await create_account("same-2"), "wrong password!")
    assert locked.status_code == unknown.status_code == fresh.status_code == 401
    text = "ログインIDまたはパスワードが違います"
    assert text in locked.text and text in unknown.text and text in fresh.text
    assert "ロック" not in locked.text


async def test_an_attacker_cannot_lock_the_owner_out_from_another_address(app, settings) -> None:
    await create_municipality("131016")
    login = await create_account("owner-1")
    async with client_from(app, "203.0.113.66") as attacker:
        for _ in range(settings.lockout_threshold * 2):
            assert (await sign_in(attacker, login, "wrong password!")).status_code == 401
        assert (await sign_in(attacker, login, PASSWORD)).status_code == 401
    async with client_from(app, "198.51.100.7") as owner:
        assert (await sign_in(owner, login)).status_code == 303


async def test_many_addresses_together_lock_the_account(app, settings) -> None:
    await create_municipality("131016")
    login = await create_account("owner-2")
    per_address = settings.lockout_threshold
    addresses = -(-(settings.account_lock_threshold + 1) // per_address)
    for n in range(addresses):
        async with client_from(app, f"203.0.113.{n + 1}") as attacker:
            for _ in range(per_address):
                await sign_in(attacker, login, "wrong password!")
    async with client_from(app, "198.51.100.8") as owner:
        assert (await sign_in(owner, login)).status_code == 401
    async with owner_transaction():
        locked = await current_connection().fetchval(
            "SELECT locked_until > now() FROM account WHERE login = $1", login
        )
    assert locked


async def test_sign_in_is_rate_limited_per_address_with_retry_after(app, settings) -> None:
    from web.app import create_app

    limited = create_app(dataclasses.replace(settings, rate_sign_in_per_minute=3),
                         manage_pool=False)  # fmt: skip
    await create_municipality("131016")
    async with client_from(limited, "203.0.113.9") as http:
        token = await csrf_token(http)
        codes = [(await post_sign_in(http, token, f"spray-{i}", "x" * 12)).status_code
                 for i in range(4)]  # fmt: skip
        assert codes == [401, 401, 401, 429]
        again = await post_sign_in(http, token, "spray-x", "x" * 12)
        assert again.status_code == 429 and int(again.headers["retry-after"]) > 0
        assert "しばらく" in again.text or "待って" in again.text
        english = await http.post(
            "/sign-in?lang=en",
            data={"login": "a", "password": "b" * 12, "_csrf_token": token},
            follow_redirects=False,
        )
        assert english.status_code == 429 and "Too many requests" in english.text
    async with client_from(limited, "203.0.113.10") as other:
        assert (await sign_in(other, "spray-y", "x" * 12)).status_code == 401


@pytest.mark.parametrize(
    "password, key",
    [
        ("aaaaaaaaaaaa", "account.password_repetitive"),
        ("abcabcabcabc", "account.password_repetitive"),
        ("123456789012", "account.password_repetitive"),
        ("Password2024!", "account.password_common"),
        ("qwertyuiop12", "account.password_common"),
        ("clerk-rules-99", "account.password_like_login"),
        ("xyzclerk-rules", "account.password_like_login"),
    ],
)
async def test_weak_passwords_are_refused(db, password, key) -> None:
    await create_municipality("131016")
    with pytest.raises(AccountError) as refused:
        await create_account("clerk-rules", Role.CLERK, password=password)
    assert refused.value.key == key


async def test_a_weak_password_is_refused_on_the_accounts_page(app, client) -> None:
    await create_municipality("131016")
    admin = await create_account("admin-rules", Role.MUNICIPAL_ADMIN)
    await sign_in(client, admin)
    token = await csrf_token(client, "/admin/accounts")
    answer = await client.post(
        "/admin/accounts",
        data={"login": "new-clerk", "display_name": "新 職員", "password": "new-clerk-2026",
              "role": "clerk", "_csrf_token": token},
    )  # fmt: skip
    assert answer.status_code == 422 and "ログインID" in answer.text


async def test_logins_are_unique_whatever_their_case(app, client) -> None:
    await create_municipality("131016")
    await create_account("chiyoda-clerk")
    with pytest.raises(AccountError) as taken:
        await create_account("Chiyoda-Clerk")
    assert taken.value.key == "account.login_taken"
    async with owner_transaction():
        with pytest.raises(Exception, match="account_login_lower_unique"):
            await current_connection().execute(
                "INSERT INTO account (id, login, display_name, role, password_hash, created_at)"
                " VALUES (gen_random_uuid(), 'CHIYODA-CLERK', 'x', 'clerk', 'x', now())"
            )
    # Sign-in finds the one account whatever case is typed.
    assert (await sign_in(client, "CHIYODA-clerk")).status_code == 303
