"""Credentials expire (issue 12): API, app and kiosk tokens after a configured age,
sessions at an absolute lifetime however active they are."""

from __future__ import annotations

import pytest

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.cards.queries import create_app_client
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, create_municipality, sign_in


async def age(table: str, column: str, interval: str) -> None:
    """Make every row of a credential table older (as if issued long ago)."""
    async with owner_transaction():
        await current_connection().execute(
            f"UPDATE {table} SET {column} = {column} - $1::text::interval", interval
        )


async def test_a_session_ends_at_its_absolute_lifetime_even_when_active(
    app, client, settings
) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("abs-1", Role.CLERK))
    assert (await client.get("/api/v1/me")).status_code == 200
    # Created long ago but used a moment ago: the idle window alone would keep it.
    await age("session", "created_at", f"{settings.session_max_hours} hours 1 minute")
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE session SET last_seen_at = now(), expires_at = now() + interval '8 hours'"
        )
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_an_api_token_expires(app, client, settings) -> None:
    await create_municipality("131016")
    login = await create_account("token-1", Role.CLERK)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "batch")
    bearer = {"authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200
    await age("api_token", "created_at", f"{settings.api_token_days} days 1 minute")
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401


@pytest.mark.parametrize("kind", ["app", "kiosk"])
async def test_app_and_kiosk_client_tokens_expire(app, client, settings, kind) -> None:
    async with owner_transaction():
        token = await create_app_client(f"{kind}-client", kind)
    bearer = {"authorization": f"Bearer {token}"}
    assert (await client.post("/api/v1/card-sessions", headers=bearer)).status_code == 201
    await age("app_client", "created_at", f"{settings.app_client_days} days 1 minute")
    refused = await client.post("/api/v1/card-sessions", headers=bearer)
    assert refused.status_code == 403
