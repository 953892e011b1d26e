"""Rate limits counted in PostgreSQL, shared by every server process (issue 12).

Two app instances with two connection pools stand for ``--workers 2``: the
count is one. A limited request gets 429, ``Retry-After`` and a message in the
user's language: an HTML page for browsers, a problem JSON for the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

import asyncpg
import httpx

from db.accounts.roles import Role
from db.security.rate_limits import PostgresStore
from tests.factories import (
    create_account,
    create_municipality,
    csrf_token,
    sign_in,
    valid_my_number,
)


def client_of(app, address: str = "192.0.2.10") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://127.0.0.1:8000",
    )


async def serving_pool() -> asyncpg.Pool:
    """A second pool as the serving role, as a second server process would open."""
    return await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=1, max_size=2, server_settings={"role": "vrs_app"}
    )


async def test_two_app_instances_with_two_pools_share_one_count(app, settings) -> None:
    from web.app import create_app

    limited = dataclasses.replace(settings, rate_verify_per_minute=4)
    first_pool, second_pool = await serving_pool(), await serving_pool()
    try:
        first = create_app(limited, manage_pool=False, rate_limit_store=PostgresStore(first_pool))
        second = create_app(limited, manage_pool=False, rate_limit_store=PostgresStore(second_pool))
        async with client_of(first) as one, client_of(second) as two:
            token_one, token_two = (
                await csrf_token(one, "/verify"),
                await csrf_token(two, "/verify"),
            )
            codes = []
            for n in range(6):
                http, token = (one, token_one) if n % 2 == 0 else (two, token_two)
                answer = await http.post("/verify", data={"text": "x", "_csrf_token": token})
                codes.append(answer.status_code)
        # In-memory stores would allow 4 per process (8 in all); the shared one allows 4.
        # (The first four reach the page, which may answer 503 without signing keys.)
        assert 429 not in codes[:4] and codes[4:] == [429, 429]
    finally:
        await first_pool.close()
        await second_pool.close()


async def test_the_store_counts_atomically_under_parallel_increments(app) -> None:
    pools = [await serving_pool(), await serving_pool()]
    try:
        stores = [PostgresStore(pool) for pool in pools]
        results = await asyncio.gather(
            *(stores[n % 2].increment("atomic-test", 60) for n in range(40))
        )
        assert sorted(hits for hits, _ in results) == list(range(1, 41))
        assert all(0 < reset <= 61 for _, reset in results)
        await stores[0].set("kv", b"value", expires_in=60)
        assert await stores[1].get("kv") == b"value" and await stores[1].exists("kv")
        assert 0 < (await stores[1].expires_in("kv") or 0) <= 61
        await stores[1].delete("kv")
        assert await stores[0].get("kv") is None
    finally:
        for pool in pools:
            await pool.close()


async def test_anonymous_verify_is_limited_per_source(app, settings) -> None:
    from web.app import create_app

    limited = create_app(dataclasses.replace(settings, rate_verify_per_minute=2),
                         manage_pool=False)  # fmt: skip
    async with client_of(limited, "192.0.2.20") as http, client_of(limited, "192.0.2.21") as other:
        token = await csrf_token(http, "/verify")
        codes = [
            (await http.post("/verify", data={"text": "x", "_csrf_token": token})).status_code
            for _ in range(3)
        ]
        assert 429 not in codes[:2] and codes[2] == 429
        token = await csrf_token(other, "/verify")
        answer = await other.post("/verify", data={"text": "x", "_csrf_token": token})
        assert answer.status_code != 429


async def test_inquiries_are_limited_per_account_with_a_problem_json(app, settings) -> None:
    from web.app import create_app

    limited = create_app(dataclasses.replace(settings, rate_inquiry_per_hour=2),
                         manage_pool=False)  # fmt: skip
    await create_municipality("131016")
    async with client_of(limited) as http:
        await sign_in(http, await create_account("limit-clerk", Role.CLERK))
        headers = {"x-csrftoken": http.cookies.get("vrs_csrf")}
        body = {"my_number": valid_my_number(), "consent": True, "consent_basis": "x"}
        answers = [
            await http.post("/api/v1/inquiries", json=body, headers=headers) for _ in range(3)
        ]
        assert answers[2].status_code == 429
        assert answers[0].status_code != 429 and answers[1].status_code != 429
        problem = answers[2].json()
        assert answers[2].headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == "rate_limit.exceeded" and problem["status"] == 429
        assert int(answers[2].headers["retry-after"]) > 0


async def test_venue_identify_is_limited_per_account(app, settings) -> None:
    from tests.factories import enrol_device
    from web.app import create_app

    limited = create_app(dataclasses.replace(settings, rate_identify_per_hour=2),
                         manage_pool=False)  # fmt: skip
    await create_municipality("131016")
    login = await create_account("limit-venue", Role.VENUE_OPERATOR)
    async with client_of(limited) as http:
        await sign_in(http, login)
        await enrol_device(login, http)
        headers = {"x-csrftoken": http.cookies.get("vrs_csrf"), "hx-request": "true"}
        codes = [
            (
                await http.post("/venue/lookup", data={"ticket": "0000000001"}, headers=headers)
            ).status_code
            for _ in range(3)
        ]
        assert codes[:2] != [429, 429] and codes[2] == 429
