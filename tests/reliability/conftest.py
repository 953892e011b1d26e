"""Fixtures of the reliability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.own_postgres import OwnPostgres, running_own_postgres


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of the test's own (to kill with -9), on a free port."""
    with running_own_postgres() as server:
        yield server
