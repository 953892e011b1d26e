"""The one error a backup or restore raises for the user: a message key and its values."""

from __future__ import annotations

from typing import Any


class BackupError(Exception):
    """The archive cannot be written or restored here; ``key`` names the message.

    The values name tables, rows, columns and limits, never row content.
    """

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
