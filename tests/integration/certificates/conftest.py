"""Certificate tests' shared fixtures (``signing_ready``, ``clerk_client``: tests.fixtures)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _keys_for_the_clerk(request: pytest.FixtureRequest) -> None:
    """A clerk here issues certificates: wherever a test signs one in, the keys are ready."""
    if "clerk_client" in request.fixturenames:
        request.getfixturevalue("signing_ready")


@pytest.fixture
def tsa(tmp_path):
    """A running local TSA and the function that stops it."""
    from tests.integration.signing.local_tsa import local_tsa

    with local_tsa(tmp_path / "tsa") as running:
        yield running


@pytest.fixture
async def app_headers(signing_ready) -> dict[str, str]:
    """A smartphone app client's bearer header; the demo cards' holders in 千代田区 and 新宿区."""
    from db.cards.queries import create_app_client
    from db.engine import owner_transaction
    from tests.factories import create_municipality, vault
    from tests.integration.certificates.card_holders import load_card_demo

    await create_municipality("131016")
    await create_municipality("131041")
    async with owner_transaction():
        await load_card_demo(vault(), signing_ready)
        token = await create_app_client("test-app")
    return {"Authorization": f"Bearer {token}"}
