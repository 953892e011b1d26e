"""My Number protection: encrypted at rest, bound to its municipality, keyed look-up."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from db.residents.my_number import MyNumberVault

NUMBER = "123456789018"


def test_seal_and_open_round_trip_without_the_number_in_clear() -> None:
    vault = MyNumberVault(b"k" * 32)
    sealed = vault.seal(NUMBER, "131016")
    assert NUMBER.encode() not in sealed
    assert vault.open(sealed, "131016") == NUMBER
    assert vault.seal(NUMBER, "131016") != sealed  # a fresh nonce each time


def test_a_sealed_number_moved_to_another_area_or_tampered_does_not_open() -> None:
    vault = MyNumberVault(b"k" * 32)
    sealed = vault.seal(NUMBER, "131016")
    with pytest.raises(InvalidTag):
        vault.open(sealed, "011002")
    with pytest.raises(InvalidTag):
        vault.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "131016")


def test_lookup_hash_is_stable_and_keyed() -> None:
    one, other = MyNumberVault(b"k" * 32), MyNumberVault(b"j" * 32)
    assert one.lookup_hash(NUMBER) == one.lookup_hash(NUMBER)
    assert one.lookup_hash(NUMBER) != other.lookup_hash(NUMBER)
    assert NUMBER not in one.lookup_hash(NUMBER)
