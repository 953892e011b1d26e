"""Signing unit tests: fixtures live in fixtures.py, shared with the integration tests."""

from tests.unit.signing.fixtures import key_store, now, pdf_signer, vectors  # noqa: F401  (fixtures, found by name)
