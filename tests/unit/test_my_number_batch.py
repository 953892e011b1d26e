"""Batch sealing for the bulk import gives what sealing one by one gives."""

from __future__ import annotations

from db.residents.my_number import MyNumberVault
from tests.factories import valid_my_number


def test_a_sealed_batch_opens_to_the_same_numbers_with_fresh_nonces() -> None:
    vault = MyNumberVault(b"m" * 32)
    numbers = [valid_my_number(n) for n in range(50)]
    sealed = vault.seal_many(numbers, "131016")
    assert [vault.open(s, "131016") for s in sealed] == numbers
    assert len({s[:12] for s in sealed}) == len(numbers)  # one nonce per number
    assert vault.seal_many([], "131016") == []


def test_batch_hashes_equal_single_hashes() -> None:
    vault = MyNumberVault(b"m" * 32)
    numbers = [valid_my_number(n) for n in range(10)]
    assert vault.lookup_hashes(numbers) == [vault.lookup_hash(n) for n in numbers]
