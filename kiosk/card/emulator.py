"""A My Number card emulator: the card's APDU behaviour, no I/O.

It holds the two applications the kiosk uses (FORMATS §4):

- JPKI AP: EF 000A authentication certificate, EF 000B its CA certificate (both
  readable without a PIN), key EF 0017 (COMPUTE DIGITAL SIGNATURE after PIN 0018),
  PIN EF 0018 (4 digits, 3 tries).
- Input support AP: PIN EF 0011 (4 digits, 3 tries) guarding EF 0001 (My Number),
  EF 0002 (basic 4 facts) and EF 0003 (the issuer's signature over them).

Security status is kept per application and lost when a DF is selected or the card
is reset (power cycle), as ISO 7816-4 has it for DF-specific rights; retry counters
live as long as the emulator object, so a card locked in one test stays locked when
it is "reinserted" in the same test. Both addressing styles are accepted: SELECT then
VERIFY/READ BINARY, or SFI in P2 of VERIFY (``0x80|SFI``) and P1 of READ BINARY
(``0x80|SFI``). An EF's SFI is the low byte of its FID.

Feed it bytes with :meth:`MyNumberCardEmulator.transmit`; :mod:`kiosk.card.vpcd`
puts it behind pcscd, :class:`kiosk.card.reader.InProcessReader` calls it directly.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from common.card_proof import Basic4
from kiosk.card import layout
from kiosk.card.apdu import ApduFormatError, CommandApdu, ResponseApdu, StatusWord, wrong_pin
from kiosk.card.card_files import encode_basic4, encode_my_number

#: An ATR OpenSC lists for the My Number card (T=1). The routine never relies on it.
DEFAULT_ATR = bytes.fromhex("3BE000FF8131FE4514")

#: DigestInfo prefixes the card's key accepts, mapped to the hash they announce.
_DIGEST_INFO_PREFIXES: Mapping[bytes, hashes.HashAlgorithm] = {
    layout.SHA256_DIGEST_INFO_PREFIX: hashes.SHA256(),
    bytes.fromhex("3041300D060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300D060960864801650304020305000440"): hashes.SHA512(),
}


@dataclass(frozen=True)
class CardPersonalisation:
    """What a card is issued with (the J-LIS personalisation of one resident's card)."""

    my_number: str
    basic4: Basic4
    auth_pin: str  # 利用者証明用電子証明書の暗証番号 (4 digits)
    input_support_pin: str  # 券面事項入力補助用の暗証番号 (4 digits)
    auth_key: rsa.RSAPrivateKey
    auth_certificate: bytes  # DER
    auth_ca_certificate: bytes  # DER
    input_support_signature: bytes = b""  # EF 0003 content; empty: the EF is absent

    def __repr__(self) -> str:  # keep PINs and the My Number out of test output and logs
        return "CardPersonalisation(…)"


@dataclass
class _PinFile:
    value: bytes
    tries_left: int = layout.PIN_MAX_TRIES


@dataclass(frozen=True)
class _BinaryFile:
    content: bytes
    read_pin: int | None = None  # FID of the PIN that must be verified first


@dataclass(frozen=True)
class _KeyFile:
    key: rsa.RSAPrivateKey
    use_pin: int


_File = _PinFile | _BinaryFile | _KeyFile


@dataclass
class _Application:
    aid: bytes
    files: dict[int, _File] = field(default_factory=dict)


def _response(status_word: int, data: bytes = b"") -> bytes:
    return ResponseApdu(data, status_word).to_bytes()


class MyNumberCardEmulator:
    """One emulated My Number card, with its state (selection, verified PINs, retry counters)."""

    def __init__(
        self,
        card: CardPersonalisation,
        *,
        atr: bytes = DEFAULT_ATR,
        file_contents: Mapping[tuple[bytes, int], bytes] | None = None,
    ) -> None:
        """Issue the card.

        Args:
            card: what the card holds.
            atr: the answer to reset vpcd hands to pcscd.
            file_contents: raw contents replacing binary EFs, keyed by (AID, FID): how
                tests give the kiosk a malformed card.
        """
        self.atr = atr
        self._lock = threading.Lock()
        for pin in (card.auth_pin, card.input_support_pin):
            if len(pin) != layout.PIN_LENGTH or not pin.isascii() or not pin.isdigit():
                raise ValueError("card PINs are 4 ASCII digits")
        jpki = _Application(
            layout.JPKI_AID,
            {
                layout.JPKI_AUTH_CERTIFICATE: _BinaryFile(card.auth_certificate),
                layout.JPKI_AUTH_CA_CERTIFICATE: _BinaryFile(card.auth_ca_certificate),
                layout.JPKI_AUTH_KEY: _KeyFile(card.auth_key, layout.JPKI_AUTH_PIN),
                layout.JPKI_AUTH_PIN: _PinFile(card.auth_pin.encode("ascii")),
            },
        )
        guarded = layout.INPUT_SUPPORT_PIN
        input_support = _Application(
            layout.INPUT_SUPPORT_AID,
            {
                layout.INPUT_SUPPORT_PIN: _PinFile(card.input_support_pin.encode("ascii")),
                layout.INPUT_SUPPORT_MY_NUMBER: _BinaryFile(
                    encode_my_number(card.my_number), guarded
                ),
                layout.INPUT_SUPPORT_BASIC4: _BinaryFile(encode_basic4(card.basic4), guarded),
            },
        )
        if card.input_support_signature:
            input_support.files[layout.INPUT_SUPPORT_SIGNATURE] = _BinaryFile(
                card.input_support_signature, guarded
            )
        self._applications = {app.aid: app for app in (jpki, input_support)}
        for (aid, fid), content in (file_contents or {}).items():
            original = self._applications[aid].files.get(fid)
            read_pin = original.read_pin if isinstance(original, _BinaryFile) else None
            self._applications[aid].files[fid] = _BinaryFile(content, read_pin)
        self._current_application: _Application | None = None
        self._current_file: _File | None = None
        self._verified: set[int] = set()
        self._handlers: dict[int, tuple[int, Callable[[CommandApdu], bytes]]] = {
            0xA4: (0x00, self._select),
            0x20: (0x00, self._verify),
            0xB0: (0x00, self._read_binary),
            0x2A: (0x80, self._compute_digital_signature),
        }

    # --- the card's interface -----------------------------------------------------

    def transmit(self, command: bytes) -> bytes:
        """Process one command APDU and return data‖SW1‖SW2."""
        with self._lock:
            try:
                apdu = CommandApdu.parse(command)
            except ApduFormatError as error:
                return _response(error.status_word)
            if apdu.cla not in (0x00, 0x80):
                return _response(StatusWord.CLA_NOT_SUPPORTED)
            handler = self._handlers.get(apdu.ins)
            if handler is None:
                return _response(StatusWord.INS_NOT_SUPPORTED)
            cla, process = handler
            if apdu.cla != cla:
                return _response(StatusWord.CLA_NOT_SUPPORTED)
            return process(apdu)

    def reset(self) -> None:
        """Power cycle: selection and verified PINs are gone, retry counters stay."""
        with self._lock:
            self._enter(None)

    def pin_tries_left(self, aid: bytes, pin_fid: int) -> int:
        """What a PIN's retry counter holds (for tests; the kiosk asks with VERIFY)."""
        pin = self._applications[aid].files[pin_fid]
        if not isinstance(pin, _PinFile):
            raise ValueError(f"EF {pin_fid:04X} is not a PIN")
        return pin.tries_left

    # --- commands -----------------------------------------------------------------

    def _enter(self, application: _Application | None) -> None:
        self._current_application = application
        self._current_file = None
        self._verified.clear()

    def _select(self, apdu: CommandApdu) -> bytes:
        if apdu.p2 not in (0x0C, 0x00):  # 0C: no FCI; 00 answered the same, without FCI
            return _response(StatusWord.WRONG_P1_P2)
        if apdu.p1 == 0x04:
            application = self._applications.get(apdu.data)
            if application is None:
                return _response(StatusWord.FILE_NOT_FOUND)
            self._enter(application)
            return _response(StatusWord.OK)
        if apdu.p1 == 0x00:  # the MF, by no data or 3F00
            if apdu.data not in (b"", b"\x3f\x00"):
                return _response(StatusWord.FILE_NOT_FOUND)
            self._enter(None)
            return _response(StatusWord.OK)
        if apdu.p1 == 0x02:
            if len(apdu.data) != 2:
                return _response(StatusWord.WRONG_LENGTH)
            found = self._file(int.from_bytes(apdu.data, "big"))
            if found is None:
                return _response(StatusWord.FILE_NOT_FOUND)
            self._current_file = found
            return _response(StatusWord.OK)
        return _response(StatusWord.WRONG_P1_P2)

    def _verify(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 != 0x00 or not apdu.p2 & 0x80 or apdu.p2 & 0x60:
            return _response(StatusWord.WRONG_P1_P2)
        if apdu.le is not None:
            return _response(StatusWord.WRONG_LENGTH)
        sfi = apdu.p2 & 0x1F
        if sfi:
            target = self._file(sfi)
            if not isinstance(target, _PinFile):
                return _response(StatusWord.FILE_NOT_FOUND)
            pin_fid = sfi
        else:
            target = self._current_file
            if target is None:
                return _response(StatusWord.NO_CURRENT_EF)
            if not isinstance(target, _PinFile):
                return _response(StatusWord.INCOMPATIBLE_FILE)
            pin_fid = self._fid_of(target)
        if not apdu.data:  # the tries-left query spends nothing
            if pin_fid in self._verified:
                return _response(StatusWord.OK)
            return _response(wrong_pin(target.tries_left))
        if target.tries_left == 0:
            return _response(StatusWord.PIN_BLOCKED)
        if len(apdu.data) != len(target.value):
            return _response(StatusWord.WRONG_LENGTH)
        if hmac.compare_digest(apdu.data, target.value):
            target.tries_left = layout.PIN_MAX_TRIES
            self._verified.add(pin_fid)
            return _response(StatusWord.OK)
        target.tries_left -= 1
        self._verified.discard(pin_fid)
        return _response(wrong_pin(target.tries_left))

    def _read_binary(self, apdu: CommandApdu) -> bytes:
        if apdu.data or apdu.le is None:
            return _response(StatusWord.WRONG_LENGTH)
        if apdu.p1 & 0x80:
            sfi = apdu.p1 & 0x1F
            if apdu.p1 & 0x60 or not sfi:
                return _response(StatusWord.WRONG_P1_P2)
            target = self._file(sfi)
            if target is None:
                return _response(StatusWord.FILE_NOT_FOUND)
            self._current_file = target  # ISO: reading by SFI selects the EF
            offset = apdu.p2
        else:
            target = self._current_file
            if target is None:
                return _response(StatusWord.NO_CURRENT_EF)
            offset = (apdu.p1 << 8) | apdu.p2
        if not isinstance(target, _BinaryFile):
            return _response(StatusWord.INCOMPATIBLE_FILE)
        if target.read_pin is not None and target.read_pin not in self._verified:
            return _response(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        if offset >= len(target.content):
            return _response(StatusWord.OFFSET_OUTSIDE_EF)
        chunk = target.content[offset : offset + apdu.le]
        status = StatusWord.OK if len(chunk) == apdu.le else StatusWord.END_OF_FILE
        return _response(status, chunk)

    def _compute_digital_signature(self, apdu: CommandApdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0x00, 0x80):
            return _response(StatusWord.WRONG_P1_P2)
        if not apdu.data:
            return _response(StatusWord.WRONG_LENGTH)
        target = self._current_file
        if target is None:
            return _response(StatusWord.NO_CURRENT_EF)
        if not isinstance(target, _KeyFile):
            return _response(StatusWord.INCOMPATIBLE_FILE)
        if target.use_pin not in self._verified:
            return _response(StatusWord.SECURITY_STATUS_NOT_SATISFIED)
        for prefix, algorithm in _DIGEST_INFO_PREFIXES.items():
            digest = apdu.data[len(prefix) :]
            if apdu.data.startswith(prefix) and len(digest) == algorithm.digest_size:
                # The card pads the DigestInfo it is given (EMSA-PKCS1-v1_5); signing the
                # digest as prehashed yields exactly that encoding.
                signature = target.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
                return _response(StatusWord.OK, signature)
        return _response(StatusWord.WRONG_DATA)

    # --- lookup -------------------------------------------------------------------

    def _file(self, fid: int) -> _File | None:
        if self._current_application is None:
            return None
        return self._current_application.files.get(fid)

    def _fid_of(self, target: _File) -> int:
        assert self._current_application is not None  # a current EF implies a current DF
        return next(fid for fid, f in self._current_application.files.items() if f is target)
