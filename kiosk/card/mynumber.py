"""The My Number card routine the kiosk runs: identify, PIN, read, sign (FORMATS §4, §5).

On top of any :class:`~kiosk.card.reader.CardReader`::

    with MyNumberCard(reader) as card:      # connects; disconnecting resets the card
        card.identify()                     # SELECT of both APs, not the ATR
        status = card.pin_status()          # tries left, shown before the PIN pad
        proof = card.prove(pin, challenge)  # -> common.card_proof.CardProof

:meth:`MyNumberCard.prove` verifies the one 4-digit PIN the resident typed against the
JPKI authentication PIN (EF 0018) and the input support PIN (EF 0011) — two PINs with
their own retry counters; the screen shows the lower count and the card counts as
locked when either is blocked. It stops at the first wrong PIN, so one mistake costs
one try, not two.

A card keeps a verified PIN only while its application stays selected, so the routine
does everything that needs a PIN of one application before it selects the other, and
never re-selects an application it is already in.

The PIN goes to the card and nowhere else: it is not stored, logged or put into an
exception. Card answers are checked before use; anything unexpected ends in a
:class:`~kiosk.card.errors.CardError` with a reason key, never in a crash.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from types import TracebackType

from cryptography import x509

from common.card_proof import Basic4, CardProof
from kiosk.card import apdu, layout
from kiosk.card.apdu import CommandApdu, ResponseApdu, StatusWord, pin_tries_from
from kiosk.card.card_files import (
    CERTIFICATE_HEAD_LENGTH,
    certificate_length,
    decode_basic4,
    decode_my_number,
)
from kiosk.card.errors import CardError, PinLockedError, WrongPinError
from kiosk.card.reader import CardReader

_LOG = logging.getLogger(__name__)

#: Bounds on what a card may claim, so a broken card cannot make the kiosk read forever.
_MAX_CERTIFICATE_LENGTH = 8192
_MAX_TEXT_FILE_LENGTH = 2048
_READ_CHUNK = 256  # Le 00

_APPLICATION_NAMES = {layout.JPKI_AID: "JPKI AP", layout.INPUT_SUPPORT_AID: "input support AP"}


@dataclass(frozen=True)
class PinStatus:
    """What the PIN screen shows: the tries left (the lower of the two PINs)."""

    tries_left: int

    @property
    def locked(self) -> bool:
        """Whether a PIN is blocked (the card cannot be used until the office resets it)."""
        return self.tries_left == 0


def check_pin_format(pin: str) -> None:
    """Refuse anything but 4 ASCII digits before it reaches the card (and costs a try)."""
    if len(pin) != layout.PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise CardError("card.pin_format", "the PIN is 4 digits")


class MyNumberCard:
    """A My Number card in a reader, and the commands the kiosk needs from it."""

    def __init__(self, reader: CardReader) -> None:
        """Talk to the card in ``reader`` (connect first, or use ``with``)."""
        self._reader = reader
        self._application: bytes | None = None  # the DF the card has selected, as far as we know

    def __enter__(self) -> MyNumberCard:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Open a session with the card (fresh card state)."""
        self._application = None
        self._reader.connect()

    def disconnect(self) -> None:
        """End the session; the reader resets the card so no verified PIN remains."""
        self._application = None
        self._reader.disconnect()

    # --- what the kiosk calls ---------------------------------------------------------

    def identify(self) -> None:
        """Check the card has both applications (a My Number card), by SELECT.

        Raises:
            CardError: ``card.not_my_number_card``.
        """
        for aid in (layout.JPKI_AID, layout.INPUT_SUPPORT_AID):
            self._application = None
            response = self._send(apdu.select_application(aid), f"SELECT {_APPLICATION_NAMES[aid]}")
            if not response.ok:
                raise CardError(
                    "card.not_my_number_card",
                    f"{_APPLICATION_NAMES[aid]} not selectable",
                    response.status_word,
                )
            self._application = aid

    def pin_status(self) -> PinStatus:
        """Ask both PINs for their tries left (spends none)."""
        return PinStatus(
            min(
                self._tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN),
                self._tries_left(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN),
            )
        )

    def prove(self, pin: str, challenge: bytes) -> CardProof:
        """Verify the PIN, sign the challenge and read what the server needs.

        Args:
            pin: the 4 digits the resident typed.
            challenge: the raw challenge bytes of the card session.

        Returns:
            The proof to post to the server.

        Raises:
            CardError: ``card.pin_format`` (nothing sent), ``card.*_malformed``, ...
            WrongPinError: the PIN was wrong; ``tries_left`` is the lower count.
            PinLockedError: a PIN is blocked, before or by this attempt.
        """
        check_pin_format(pin)
        jpki_tries = self._tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN)
        input_support_tries = self._tries_left(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN)
        if jpki_tries == 0 or input_support_tries == 0:
            raise PinLockedError()
        self._verify(layout.JPKI_AID, layout.JPKI_AUTH_PIN, pin, input_support_tries)
        signature = self.sign_challenge(challenge)
        certificate = self.read_auth_certificate()
        # JPKI's counter is back to full after its success, so only this PIN's count matters.
        self._verify(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN, pin, layout.PIN_MAX_TRIES)
        return CardProof(
            auth_certificate=certificate,
            signature=signature,
            my_number=self.read_my_number(),
            basic4=self.read_basic4(),
        )

    # --- single reads and the signature (PIN verified in this application first) -------

    def read_auth_certificate(self) -> bytes:
        """The JPKI authentication certificate (EF 000A, DER); needs no PIN."""
        key = "card.certificate_malformed"
        self._enter(layout.JPKI_AID)
        self._select_file(layout.JPKI_AUTH_CERTIFICATE)
        head = self._read(0, CERTIFICATE_HEAD_LENGTH, key)
        length = certificate_length(head)
        if length > _MAX_CERTIFICATE_LENGTH:
            raise CardError(key, f"claims {length} bytes")
        der = head + self._read(CERTIFICATE_HEAD_LENGTH, length - CERTIFICATE_HEAD_LENGTH, key)
        try:
            x509.load_der_x509_certificate(der)
        except ValueError:
            raise CardError(key, "not an X.509 certificate") from None
        return der

    def read_my_number(self) -> str:
        """The My Number (EF 0001); the input support PIN must be verified in this session."""
        return decode_my_number(
            self._read_text_file(layout.INPUT_SUPPORT_MY_NUMBER, "card.my_number_malformed")
        )

    def read_basic4(self) -> Basic4:
        """The basic 4 facts (EF 0002); the input support PIN must be verified in this session."""
        return decode_basic4(
            self._read_text_file(layout.INPUT_SUPPORT_BASIC4, "card.basic4_malformed")
        )

    def sign_challenge(self, challenge: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature over DigestInfo(SHA-256(challenge)) with the JPKI auth key.

        The JPKI authentication PIN must be verified in this session.
        """
        self._enter(layout.JPKI_AID)
        self._select_file(layout.JPKI_AUTH_KEY)
        digest_info = layout.SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(challenge).digest()
        response = self._send(
            apdu.compute_digital_signature(digest_info), "COMPUTE DIGITAL SIGNATURE"
        )
        self._require_ok(response, "COMPUTE DIGITAL SIGNATURE")
        if not response.data:
            raise CardError("card.signature_malformed", "empty signature")
        return response.data

    # --- steps --------------------------------------------------------------------------

    def _send(self, command: CommandApdu, what: str) -> ResponseApdu:
        response = self._reader.transmit(command)
        _LOG.debug("%s: SW %04X, %d bytes", what, response.status_word, len(response.data))
        return response

    def _require_ok(self, response: ResponseApdu, what: str) -> None:
        if response.ok:
            return
        if response.status_word == StatusWord.SECURITY_STATUS_NOT_SATISFIED:
            raise CardError("card.pin_required", what, response.status_word)
        raise CardError("card.unexpected_status", what, response.status_word)

    def _enter(self, aid: bytes) -> None:
        """Select an application unless it is current (selecting again drops verified PINs)."""
        if self._application == aid:
            return
        self._application = None
        what = f"SELECT {_APPLICATION_NAMES[aid]}"
        response = self._send(apdu.select_application(aid), what)
        if not response.ok:
            raise CardError("card.not_my_number_card", what, response.status_word)
        self._application = aid

    def _select_file(self, fid: int) -> None:
        what = f"SELECT EF {fid:04X}"
        response = self._send(apdu.select_file(fid), what)
        if response.status_word == StatusWord.FILE_NOT_FOUND:
            raise CardError("card.file_missing", what, response.status_word)
        self._require_ok(response, what)

    def _tries_left(self, aid: bytes, pin_fid: int) -> int:
        self._application = None  # always re-select: the answer must be about a fresh state
        self._enter(aid)
        self._select_file(pin_fid)
        response = self._send(apdu.pin_tries_query(), f"VERIFY EF {pin_fid:04X} (tries left)")
        if response.ok:  # already verified: the counter was just reset to full
            return layout.PIN_MAX_TRIES
        if response.status_word == StatusWord.PIN_BLOCKED:
            return 0
        tries = pin_tries_from(response.status_word)
        if tries is None:
            raise CardError("card.unexpected_status", "PIN tries query", response.status_word)
        return tries

    def _verify(self, aid: bytes, pin_fid: int, pin: str, other_tries: int) -> None:
        self._enter(aid)
        self._select_file(pin_fid)
        response = self._send(apdu.verify(pin.encode("ascii")), f"VERIFY EF {pin_fid:04X}")
        if response.ok:
            return
        if response.status_word == StatusWord.PIN_BLOCKED:
            raise PinLockedError(response.status_word)
        tries = pin_tries_from(response.status_word)
        if tries is None:
            raise CardError(
                "card.unexpected_status", f"VERIFY EF {pin_fid:04X}", response.status_word
            )
        if tries == 0:
            raise PinLockedError(response.status_word)
        raise WrongPinError(min(tries, other_tries), response.status_word)

    def _read(self, offset: int, length: int, malformed_key: str) -> bytes:
        """Exactly ``length`` bytes of the current EF from ``offset``, in 256-byte chunks."""
        data = b""
        while len(data) < length:
            wanted = min(_READ_CHUNK, length - len(data))
            position = offset + len(data)
            what = f"READ BINARY at {position}"
            response = self._send(apdu.read_binary(position, wanted), what)
            if response.status_word == StatusWord.OFFSET_OUTSIDE_EF:
                raise CardError(malformed_key, f"file ends before {position}")
            if response.status_word not in (StatusWord.OK, StatusWord.END_OF_FILE):
                self._require_ok(response, what)
            if not response.data or len(response.data) > wanted:
                raise CardError(malformed_key, f"{what}: {len(response.data)} of {wanted} bytes")
            if len(response.data) < wanted and response.status_word == StatusWord.END_OF_FILE:
                raise CardError(malformed_key, f"file ends at {position + len(response.data)}")
            data += response.data
        return data

    def _read_text_file(self, fid: int, malformed_key: str) -> bytes:
        """A whole ``FF xx <BER length> value`` file, read by the length it declares."""
        self._enter(layout.INPUT_SUPPORT_AID)
        self._select_file(fid)
        head = self._read(0, 3, malformed_key)  # 2-byte tag and the first length byte
        first = head[2]
        if first < 0x80:
            length_field, value_length = b"", first
        elif 0x81 <= first <= 0x84:
            length_field = self._read(3, first & 0x7F, malformed_key)
            value_length = int.from_bytes(length_field, "big")
        else:
            raise CardError(malformed_key, f"length byte {first:02X}")
        if value_length > _MAX_TEXT_FILE_LENGTH:
            raise CardError(malformed_key, f"claims {value_length} bytes")
        header = head + length_field
        value = self._read(len(header), value_length, malformed_key) if value_length else b""
        return header + value
