"""Certificate tests: the server's key store and card trust in this process's data dir."""

from __future__ import annotations

import os

import pytest

from tests.unit.signing.fixtures import VECTORS

os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")


SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
SPEC_CRL_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"


@pytest.fixture
def signing_ready(settings):
    """Keys (created once per process), the test J-LIS CA trusted, the vectors' issuers trusted
    (the SMART Health Cards spec example issuer with its CRL, Japan's CSCAs)."""
    from cli.commands.keys import ensure_keys, write_demo_card_trust
    from web.issuer_directory import add_csca, add_issuer

    ensure_keys(settings)
    cards = write_demo_card_trust(settings)
    add_issuer(
        settings.data_dir,
        SPEC_ISSUER,
        name="SMART Health Cards spec example",
        jwks_source=str(VECTORS / "shc" / "issuer-jwks.json"),
        crl_sources={SPEC_CRL_KID: str(VECTORS / "shc" / f"issuer-crl-{SPEC_CRL_KID}.json")},
    )
    for der in (VECTORS / "icao" / "japan-csca").glob("*.der"):
        add_csca(settings.data_dir, f"japan-{der.stem}", str(der))
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
