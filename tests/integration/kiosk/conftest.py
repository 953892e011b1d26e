"""Fixtures of the kiosk card integration tests: the real PC/SC stack and demo cards.

``pcsc_stack`` (session) starts this run's pcscd with a vpcd reader; ``pcsc`` (per test)
hands it over with the slot empty and empties it again afterwards. Tests using them are
marked ``@pytest.mark.pcsc`` and ``@pytest.mark.xdist_group("pcsc")``: the machine has one
pcscd, so under ``pytest -n 2 --dist loadgroup`` they all run in one worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kiosk.pcsc_stack import (
    PcscdAlreadyRunning,
    PcscStack,
    PcscStackError,
    environment_problem,
)
from tests.realparts import missing_part, require_executable
from tests.unit.kiosk.card_fixtures import (  # noqa: F401  (fixtures, found by name)
    card,
    card_key_dir,
    demo_card,
    jlis_ca,
    second_demo_card,
)


@pytest.fixture
def cards(settings) -> list[Any]:
    """Keys and card trust in the server's data dir; the demo cards (test CA)."""
    from tests.integration.kiosk.test_kiosk_server_channel import server_ready

    return server_ready(settings)


@pytest.fixture
async def kiosk_token(app, cards: list[Any]) -> str:
    """A kiosk client's token, the demo cards' holders registered in their municipalities."""
    from tests.integration.kiosk.test_kiosk_server_channel import register_card_holders

    return await register_card_holders(cards)


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """pyscard → our pcscd → vpcd → (the card a test inserts), for the whole session."""
    require_executable("pcscd")
    problem = environment_problem()
    if problem is not None:
        missing_part(problem)
    stack = PcscStack(Path(tmp_path_factory.mktemp("pcsc")))
    try:
        stack.start()
    except PcscdAlreadyRunning as error:
        missing_part(f"the machine's pcscd: {error}")
    except PcscStackError as error:
        pytest.fail(f"the PC/SC test stack did not start: {error}", pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def pcsc(pcsc_stack: PcscStack) -> Iterator[PcscStack]:
    """The stack with an empty slot; whatever card the test inserted is removed after it."""
    pcsc_stack.remove()
    yield pcsc_stack
    pcsc_stack.remove()
