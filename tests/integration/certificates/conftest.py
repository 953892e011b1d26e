"""Certificate tests: the server's key store and card trust in this process's data dir."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.unit.signing.fixtures import VECTORS

os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")


@pytest.fixture
def signing_ready(settings):
    """Keys (created once per process), the test J-LIS CA trusted, the vectors' keys trusted."""
    from web.commands.keys import ensure_keys, write_demo_card_trust
    from web.signing_context import trust_directory

    ensure_keys(settings)
    cards = write_demo_card_trust(settings)
    trust = trust_directory(settings)
    (trust / "jwks").mkdir(parents=True, exist_ok=True)
    (trust / "csca").mkdir(parents=True, exist_ok=True)
    shutil.copy(VECTORS / "shc" / "issuer-jwks.json", trust / "jwks" / "spec-example.json")
    for der in (VECTORS / "icao" / "japan-csca").glob("*.der"):
        shutil.copy(der, trust / "csca" / f"japan-{der.name}")
    return cards


@pytest.fixture
async def clerk_client(make_client, signing_ready):
    """A signed-in clerk of 千代田区 (its municipality registered)."""
    from db.accounts.roles import Role
    from tests.factories import create_account, create_municipality, sign_in

    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    client = await make_client()
    response = await sign_in(client, login)
    assert response.status_code == 303
    return client
