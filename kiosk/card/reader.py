"""The card reader the kiosk talks through: PC/SC for real readers, in-process for tests.

:class:`CardReader` is the small interface the card routine needs: is a card there,
wait for one to arrive or leave, open a session, exchange APDUs. Two implementations:

- :class:`PcscReader` — pyscard over pcscd: a real reader at the kiosk, or pcscd's
  virtual reader (vpcd) with our emulator behind it in integration tests.
- :class:`InProcessReader` — calls an emulator directly: fast unit tests and the demo
  kiosk without pcscd.

Readers never log APDUs: a VERIFY carries the PIN.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any, Protocol

from kiosk.card.apdu import CommandApdu, ResponseApdu
from kiosk.card.errors import CardError, CardRemovedError, ReaderUnavailableError

#: A T=0 card may ask for GET RESPONSE (61xx) or a resend with the right Le (6Cxx);
#: a few rounds are plenty, more means the card is misbehaving.
_MAX_FOLLOW_UPS = 8


class CardReader(ABC):
    """One reader slot: card presence, a session with the card, APDU exchange."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The reader's name (the PC/SC reader name for :class:`PcscReader`)."""

    @abstractmethod
    def card_present(self) -> bool:
        """Whether a card is in the reader now."""

    @abstractmethod
    def wait_for_card(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a card; return whether one is present."""

    @abstractmethod
    def wait_for_removal(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the card to leave; return whether it has."""

    @abstractmethod
    def connect(self) -> None:
        """Power the card and open an exclusive session (fresh card state).

        Raises:
            CardRemovedError: no card in the reader.
            ReaderUnavailableError: the reader or PC/SC service is gone.
        """

    @abstractmethod
    def disconnect(self) -> None:
        """End the session and reset the card, so no verified PIN outlives it."""

    @abstractmethod
    def _exchange(self, command: bytes) -> bytes:
        """Send raw APDU bytes, return the raw response (data‖SW1‖SW2)."""

    def close(self) -> None:
        """Release the reader (disconnects first); the default has nothing more to free."""
        self.disconnect()

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        """Send a command and return the card's final answer.

        ``61xx`` (more data waiting) is followed by GET RESPONSE and ``6Cxx`` (wrong Le)
        by a resend with the Le the card named, so callers see T=0 and T=1 cards alike.

        Raises:
            CardRemovedError: the card left during the exchange.
            CardError: ``card.io`` when the answer is not a response APDU.
        """
        data = b""
        raw = command.to_bytes()
        for _ in range(_MAX_FOLLOW_UPS):
            response = self._parse(self._exchange(raw))
            sw1, sw2 = response.status_word >> 8, response.status_word & 0xFF
            if sw1 == 0x61:
                data += response.data
                raw = CommandApdu(command.cla & 0x03, 0xC0, 0x00, 0x00, le=sw2 or 256).to_bytes()
            elif sw1 == 0x6C:
                raw = CommandApdu(
                    command.cla, command.ins, command.p1, command.p2, command.data, sw2 or 256
                ).to_bytes()
            else:
                return ResponseApdu(data + response.data, response.status_word)
        raise CardError("card.io", "card keeps asking for GET RESPONSE")

    @staticmethod
    def _parse(raw: bytes) -> ResponseApdu:
        try:
            return ResponseApdu.parse(raw)
        except ValueError:
            raise CardError("card.io", f"answer of {len(raw)} bytes has no status word") from None


# --- in-process --------------------------------------------------------------------------


class EmulatedCard(Protocol):
    """What :class:`InProcessReader` needs of a card (the emulator, or a test's odd card)."""

    def transmit(self, command: bytes) -> bytes:
        """Answer one command APDU with data‖SW1‖SW2."""
        ...

    def reset(self) -> None:
        """Power cycle the card."""
        ...


class InProcessReader(CardReader):
    """A reader whose "card" is an emulator in this process; insert and remove it at will."""

    def __init__(
        self, card: EmulatedCard | None = None, name: str = "In-process card reader"
    ) -> None:
        """Start with ``card`` inserted (or an empty slot)."""
        self._name = name
        self._changed = threading.Condition()
        self._card = card
        self._insertion = 0  # counts insertions, so a session never survives a reinsertion
        self._session: tuple[EmulatedCard, int] | None = None

    @property
    def name(self) -> str:
        """The reader's display name."""
        return self._name

    def insert(self, card: EmulatedCard) -> None:
        """Put a card into the slot (replacing any card left there)."""
        with self._changed:
            self._card = card
            self._insertion += 1
            self._changed.notify_all()

    def remove(self) -> None:
        """Take the card out; an open session ends with :class:`CardRemovedError`."""
        with self._changed:
            self._card = None
            self._changed.notify_all()

    def card_present(self) -> bool:
        """Whether a card is in the slot."""
        return self._card is not None

    def wait_for_card(self, timeout: float) -> bool:
        """Wait for :meth:`insert` (from another thread)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._card is not None, timeout)

    def wait_for_removal(self, timeout: float) -> bool:
        """Wait for :meth:`remove` (from another thread)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._card is None, timeout)

    def connect(self) -> None:
        """Power up the inserted card."""
        with self._changed:
            if self._card is None:
                raise CardRemovedError("no card in the reader")
            self._card.reset()
            self._session = (self._card, self._insertion)

    def disconnect(self) -> None:
        """End the session; the card is reset like SCARD_RESET_CARD does."""
        with self._changed:
            if self._session is not None and self._session_alive():
                self._session[0].reset()
            self._session = None

    def _session_alive(self) -> bool:
        if self._session is None:
            return False
        card, insertion = self._session
        return card is self._card and insertion == self._insertion

    def _exchange(self, command: bytes) -> bytes:
        with self._changed:
            if self._session is None:
                raise CardRemovedError("not connected to a card")
            if not self._session_alive():
                raise CardRemovedError("the card left the reader")
            card = self._card
        assert card is not None  # a live session has a card
        return card.transmit(command)


# --- PC/SC -------------------------------------------------------------------------------


def _pyscard() -> ModuleType:
    try:
        from smartcard import scard
    except ImportError:  # pyscard is the kiosk extra, not installed everywhere
        raise ReaderUnavailableError("pyscard is not installed (pip install pyscard)") from None
    return scard


class PcscReader(CardReader):
    """A PC/SC reader through pcscd, with pyscard's low-level ``scard`` API."""

    def __init__(self, reader_name: str | None = None) -> None:
        """Open a PC/SC context.

        Args:
            reader_name: the reader's full name or its start (``"Virtual PCD"`` matches
                ``"Virtual PCD 00 00"``); ``None`` takes the first reader pcscd lists.
                Resolved at first use, so the reader may appear later.

        Raises:
            ReaderUnavailableError: pcscd is not running or pyscard is missing.
        """
        self._scard = _pyscard()
        self._wanted = reader_name
        self._resolved: str | None = None
        self._card: Any = None
        self._protocol: int | None = None
        result, self._context = self._scard.SCardEstablishContext(self._scard.SCARD_SCOPE_USER)
        self._check(result, "SCardEstablishContext")

    # --- names and presence ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The full PC/SC name of the reader."""
        if self._resolved is None:
            self._resolved = self._find_reader()
        return self._resolved

    def _find_reader(self) -> str:
        result, readers = self._scard.SCardListReaders(self._context, [])
        if result == self._scard.SCARD_E_NO_READERS_AVAILABLE:
            readers = []
        else:
            self._check(result, "SCardListReaders")
        for reader in readers:
            if self._wanted is None or reader == self._wanted or reader.startswith(self._wanted):
                return reader
        raise ReaderUnavailableError(f"no PC/SC reader named {self._wanted or 'anything'}")

    def _state(self, timeout_ms: int, known_state: int) -> int | None:
        """The reader's event state, or ``None`` when nothing changed within the timeout."""
        result, states = self._scard.SCardGetStatusChange(
            self._context, timeout_ms, [(self.name, known_state)]
        )
        if result == self._scard.SCARD_E_TIMEOUT:
            return None
        self._check(result, "SCardGetStatusChange")
        return int(states[0][1])

    def card_present(self) -> bool:
        """Whether pcscd sees a card in the reader."""
        state = self._state(0, self._scard.SCARD_STATE_UNAWARE)
        return bool(state is not None and state & self._scard.SCARD_STATE_PRESENT)

    def _wait_until(self, present: bool, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        known = self._scard.SCARD_STATE_UNAWARE
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            state = self._state(remaining_ms, known)
            if state is None:
                return False
            if bool(state & self._scard.SCARD_STATE_PRESENT) == present:
                return True
            if remaining_ms == 0:
                return False
            known = state & ~self._scard.SCARD_STATE_CHANGED

    def wait_for_card(self, timeout: float) -> bool:
        """Block in SCardGetStatusChange until a card is present or the time is up."""
        return self._wait_until(True, timeout)

    def wait_for_removal(self, timeout: float) -> bool:
        """Block in SCardGetStatusChange until the reader is empty or the time is up."""
        return self._wait_until(False, timeout)

    # --- session -----------------------------------------------------------------------

    def connect(self) -> None:
        """Connect exclusively (no other process can interleave commands with ours)."""
        self.disconnect()
        scard = self._scard
        result, card, protocol = scard.SCardConnect(
            self._context,
            self.name,
            scard.SCARD_SHARE_EXCLUSIVE,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        self._check(result, "SCardConnect")
        self._card, self._protocol = card, protocol

    def disconnect(self) -> None:
        """Disconnect with SCARD_RESET_CARD: the card forgets every verified PIN."""
        if self._card is not None:
            self._scard.SCardDisconnect(self._card, self._scard.SCARD_RESET_CARD)
            self._card = self._protocol = None

    def close(self) -> None:
        """Disconnect and release the PC/SC context."""
        self.disconnect()
        if self._context is not None:
            self._scard.SCardReleaseContext(self._context)
            self._context = None

    def _exchange(self, command: bytes) -> bytes:
        if self._card is None:
            raise CardRemovedError("not connected to a card")
        result, response = self._scard.SCardTransmit(self._card, self._protocol, list(command))
        if result == self._scard.SCARD_E_NOT_TRANSACTED and not self.card_present():
            # vpcd and some USB readers report a vanished card as a failed exchange first.
            raise CardRemovedError("the card left the reader")
        self._check(result, "SCardTransmit")
        return bytes(response)

    def _check(self, result: int, call: str) -> None:
        scard = self._scard
        if result == scard.SCARD_S_SUCCESS:
            return
        message = f"{call}: {scard.SCardGetErrorMessage(result)}"
        if result in (
            scard.SCARD_W_REMOVED_CARD,
            scard.SCARD_E_NO_SMARTCARD,
            scard.SCARD_W_RESET_CARD,
        ):
            if self._card is not None:
                # The stale handle still holds the exclusive share: release it, or the
                # reinserted card answers every connect with a sharing violation.
                scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
                self._card = self._protocol = None
            raise CardRemovedError(message)
        if result in (
            scard.SCARD_E_NO_SERVICE,
            scard.SCARD_E_SERVICE_STOPPED,
            scard.SCARD_E_UNKNOWN_READER,
            scard.SCARD_E_READER_UNAVAILABLE,
            scard.SCARD_E_NO_READERS_AVAILABLE,
        ):
            raise ReaderUnavailableError(message)
        if result == scard.SCARD_E_SHARING_VIOLATION:
            raise CardError("card.busy", message)
        if result in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
            raise CardError("card.unresponsive", message)
        raise CardError("card.io", message)
