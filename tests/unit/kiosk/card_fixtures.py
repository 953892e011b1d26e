"""Demo cards for the kiosk card tests: the test J-LIS CA, residents' cards, fresh emulators.

Imported by the kiosk test folders' ``conftest.py``. RSA keys are cached in pytest's
cache folder (``.pytest_cache``), so only the first run on a machine pays for key
generation; xdist workers share the cache safely (see ``load_or_create_key``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.card.demo_cards import (
    DEMO_RESIDENTS,
    DemoCard,
    JlisTestCa,
    issue_demo_card,
    load_test_ca,
)
from kiosk.card.emulator import MyNumberCardEmulator


@pytest.fixture(scope="session")
def card_key_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where demo RSA keys are cached: pytest's cache if enabled, else a temp folder."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("demo-card-keys"))
    return tmp_path_factory.mktemp("demo-card-keys")


@pytest.fixture(scope="session")
def jlis_ca(card_key_dir: Path) -> JlisTestCa:
    """The test stand-in for J-LIS's authentication CA."""
    return load_test_ca(card_key_dir)


@pytest.fixture(scope="session")
def other_ca(card_key_dir: Path) -> JlisTestCa:
    """A CA the server does not trust."""
    return load_test_ca(card_key_dir, "untrusted-test-ca")


@pytest.fixture(scope="session")
def demo_card(jlis_ca: JlisTestCa, card_key_dir: Path) -> DemoCard:
    """The first demo resident's card (PIN 1234)."""
    return issue_demo_card(jlis_ca, DEMO_RESIDENTS[0], card_key_dir)


@pytest.fixture(scope="session")
def second_demo_card(jlis_ca: JlisTestCa, card_key_dir: Path) -> DemoCard:
    """Another resident's card (its own key, certificate and PIN)."""
    return issue_demo_card(jlis_ca, DEMO_RESIDENTS[1], card_key_dir)


@pytest.fixture(scope="session")
def expired_demo_card(jlis_ca: JlisTestCa, card_key_dir: Path) -> DemoCard:
    """A card whose authentication certificate ran out in 2020."""
    return issue_demo_card(
        jlis_ca,
        DEMO_RESIDENTS[2],
        card_key_dir,
        not_before=datetime(2015, 4, 1, tzinfo=UTC),
        not_after=datetime(2020, 3, 31, tzinfo=UTC),
    )


@pytest.fixture
def card(demo_card: DemoCard) -> MyNumberCardEmulator:
    """A freshly issued emulated card for one test (full retry counters)."""
    return demo_card.emulator()
