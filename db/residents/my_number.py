"""My Number protection: AES-GCM at rest, an HMAC for exact look-up.

A My Number is 特定個人情報: it is stored only encrypted, bound to its
municipality (associated data), looked up by a keyed hash, shown masked and
never logged. Both keys derive from ``VRS_MY_NUMBER_KEY`` with HKDF, so one
secret is backed up and rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


def _derive(master_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master_key)


class MyNumberVault:
    """Seals, opens and hashes My Numbers with keys derived from one master key."""

    def __init__(self, master_key: bytes) -> None:
        self._keys(
            _derive(master_key, b"vrs my number encryption v1"),
            _derive(master_key, b"vrs my number lookup v1"),
        )

    def _keys(self, sealing: bytes, lookup: bytes) -> None:
        self._sealing_key = sealing
        self._aead = AESGCM(sealing)
        self._mac_key = lookup

    def __reduce__(self) -> tuple[Any, tuple[bytes, bytes]]:
        """Picklable for the import's worker processes (the derived keys, not the master key)."""
        return _vault_with_keys, (self._sealing_key, self._mac_key)

    def seal(self, my_number: str, municipality_code: str) -> bytes:
        """Encrypt a (validated) My Number for one municipality's area."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, my_number.encode(), municipality_code.encode())

    def seal_many(self, my_numbers: Sequence[str], municipality_code: str) -> list[bytes]:
        """:meth:`seal` for a batch (bulk import): one random draw for all the nonces."""
        nonces = os.urandom(_NONCE_BYTES * len(my_numbers))
        associated = municipality_code.encode()
        encrypt = self._aead.encrypt
        sealed = []
        for i, number in enumerate(my_numbers):
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            sealed.append(nonce + encrypt(nonce, number.encode(), associated))
        return sealed

    def lookup_hashes(self, my_numbers: Sequence[str]) -> list[str]:
        """:meth:`lookup_hash` for a batch."""
        key = self._mac_key
        return [hmac.digest(key, n.encode(), "sha256").hex() for n in my_numbers]

    def open(self, sealed: bytes, municipality_code: str) -> str:
        """Decrypt; raises ``cryptography.exceptions.InvalidTag`` if tampered or misplaced."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, municipality_code.encode()).decode()

    def lookup_hash(self, my_number: str) -> str:
        """Keyed hash for exact look-up across municipalities (F7, certificates)."""
        return hmac.new(self._mac_key, my_number.encode(), hashlib.sha256).hexdigest()


def _vault_with_keys(sealing: bytes, lookup: bytes) -> MyNumberVault:
    vault = MyNumberVault.__new__(MyNumberVault)
    vault._keys(sealing, lookup)
    return vault
