"""Fixtures of the signing tests (unit and integration): one key store per run, the test vectors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.realparts import missing_part

PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a throwaway test key store
ISSUER_URL = "https://vrs.example.jp/issuer"
#: Public test vectors kept in the repository (sources and licences in their README).
VECTORS = Path(__file__).resolve().parents[2] / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The directory of public test vectors (SHC spec examples, Japan's VDS-NC)."""
    if not VECTORS.is_dir():
        missing_part(f"test vectors at {VECTORS}")
    return VECTORS


@pytest.fixture(scope="session")
def key_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    """A freshly generated deployment key store (shared: generating is cheap but not free)."""
    return KeyStore.init(tmp_path_factory.mktemp("keys"), PASSPHRASE)


@pytest.fixture(scope="session")
def pdf_signer(key_store: KeyStore) -> PdfSigner:
    """The B-B PDF signer built from the key store."""
    return PdfSigner.from_key_store(key_store)


@pytest.fixture
def now() -> dt.datetime:
    """A fixed issuance time."""
    return dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
