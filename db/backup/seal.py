"""The archive's seal: an HMAC-SHA256 of its manifest under the server's backup key.

The manifest names the municipality and carries each table file's SHA-256
and row count, so the seal binds every byte of the archive to this server
(``VRS_BACKUP_KEY``, kept in the secrets file) and to one municipality. A
restore accepts only archives whose seal it can recompute: an unsigned,
altered or other server's archive is refused before any row is read.
"""

from __future__ import annotations

import hashlib
import hmac

#: The zip entry holding the seal (hex), beside ``manifest.json``.
SEAL_ENTRY = "manifest.sig"
#: Separates this use of the key from any other.
_CONTEXT = b"vrs-area-backup-manifest\x00"


class MissingBackupKey(Exception):
    """``VRS_BACKUP_KEY`` is not set: archives can be neither signed nor checked."""


def seal(manifest: bytes, key: bytes) -> str:
    """The seal of the manifest's exact bytes."""
    if not key:
        raise MissingBackupKey
    return hmac.new(key, _CONTEXT + manifest, hashlib.sha256).hexdigest()


def seal_holds(manifest: bytes, signature: bytes, key: bytes) -> bool:
    """Whether ``signature`` is this server's seal of ``manifest`` (constant time)."""
    try:
        given = signature.decode("ascii").strip()
    except UnicodeDecodeError:
        return False
    return hmac.compare_digest(seal(manifest, key), given)
