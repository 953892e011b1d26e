"""What can go wrong between the kiosk and the card, each with a message key.

The kiosk screen maps ``key`` to a message in the resident's language ("the card
could not be read", "wrong PIN, 2 tries left", ...). ``detail`` is for the
operator's log and never carries the PIN, the My Number or the basic 4 facts.
"""

from __future__ import annotations


class CardError(Exception):
    """A card operation failed; ``key`` names the message (``card.<reason>``)."""

    def __init__(self, key: str, detail: str = "", status_word: int | None = None) -> None:
        self.key = key
        self.detail = detail
        self.status_word = status_word
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = self.key
        if self.detail:
            text += f": {self.detail}"
        if self.status_word is not None:
            text += f" (SW {self.status_word:04X})"
        return text


class CardRemovedError(CardError):
    """The card left the reader (or never was in it) while the kiosk talked to it."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("card.removed", detail)


class ReaderUnavailableError(CardError):
    """No reader, or the PC/SC service is not running."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("card.reader_unavailable", detail)


class WrongPinError(CardError):
    """The PIN was wrong; ``tries_left`` is what the screen shows (0 means now locked)."""

    def __init__(self, tries_left: int, status_word: int | None = None) -> None:
        self.tries_left = tries_left
        super().__init__("card.pin_wrong", f"{tries_left} tries left", status_word)


class PinLockedError(CardError):
    """A PIN is blocked: the resident must have it reset at the municipality office."""

    def __init__(self, status_word: int | None = None) -> None:
        super().__init__("card.pin_locked", "", status_word)
