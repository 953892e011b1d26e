"""ISO 7816-4 APDUs and status words, as the My Number card uses them.

Shared by both ends: the emulator parses commands and answers status words, the
card routine builds commands and reads status words. Short APDUs only (Lc and Le
in one byte, Le ``00`` meaning 256): nothing the kiosk sends needs more.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class StatusWord(IntEnum):
    """The status words (SW1 SW2) the card answers; ``63Cx`` is built by :func:`wrong_pin`."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le: the EF ends first
    WRONG_LENGTH = 0x6700
    INCOMPATIBLE_FILE = 0x6981  # e.g. READ BINARY on a key or PIN
    SECURITY_STATUS_NOT_SATISFIED = 0x6982  # read or sign before VERIFY
    PIN_BLOCKED = 0x6984  # reference data not usable
    NO_CURRENT_EF = 0x6986
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1_P2 = 0x6A86
    OFFSET_OUTSIDE_EF = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_DIAGNOSIS = 0x6F00


def wrong_pin(tries_left: int) -> int:
    """``63Cx``: verification failed (or not yet done), x tries left (``63C0`` = blocked)."""
    return 0x63C0 | min(tries_left, 0x0F)


def pin_tries_from(status_word: int) -> int | None:
    """The x of a ``63Cx`` answer, or ``None`` when the status word is something else."""
    if status_word & 0xFFF0 == 0x63C0:
        return status_word & 0x0F
    return None


class ApduFormatError(ValueError):
    """Bytes that are not a short command APDU; ``status_word`` is the card's answer to them."""

    def __init__(self, message: str, status_word: int = StatusWord.WRONG_LENGTH) -> None:
        super().__init__(message)
        self.status_word = status_word


@dataclass(frozen=True)
class CommandApdu:
    """A command APDU. ``le`` is the expected length (1–256) or ``None`` when absent."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def to_bytes(self) -> bytes:
        """Encode as a short APDU (cases 1–4)."""
        if len(self.data) > 255:
            raise ValueError("short APDUs carry at most 255 data bytes")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ValueError("Le must be 1-256 in a short APDU")
        encoded = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            encoded += bytes([len(self.data)]) + self.data
        if self.le is not None:
            encoded += bytes([self.le & 0xFF])  # 256 is written 00
        return encoded

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode a short APDU; an inconsistent Lc raises :class:`ApduFormatError`."""
        if len(raw) < 4:
            raise ApduFormatError("an APDU has at least 4 header bytes")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduFormatError("extended-length APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1 : 1 + lc]), le=body[-1] or 256)
        raise ApduFormatError(f"Lc {lc} does not match the {len(body) - 1} bytes that follow")


@dataclass(frozen=True)
class ResponseApdu:
    """A response APDU: data and the status word."""

    data: bytes
    status_word: int

    @property
    def ok(self) -> bool:
        """Whether the card answered ``90 00``."""
        return self.status_word == StatusWord.OK

    def to_bytes(self) -> bytes:
        """data‖SW1‖SW2, as it travels on the wire."""
        return self.data + self.status_word.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        """Split data‖SW1‖SW2; fewer than 2 bytes raises :class:`ValueError`."""
        if len(raw) < 2:
            raise ValueError("a response APDU ends in two status bytes")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


# --- the commands the card routine sends (FORMATS §4) ------------------------------


def select_application(aid: bytes) -> CommandApdu:
    """SELECT DF by name (AID), no FCI wanted: ``00 A4 04 0C Lc AID``."""
    return CommandApdu(0x00, 0xA4, 0x04, 0x0C, aid)


def select_file(fid: int) -> CommandApdu:
    """SELECT EF under the current DF: ``00 A4 02 0C 02 FID``."""
    return CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))


def verify(pin: bytes) -> CommandApdu:
    """VERIFY the currently selected PIN EF: ``00 20 00 80 Lc digits``."""
    return CommandApdu(0x00, 0x20, 0x00, 0x80, pin)


def pin_tries_query() -> CommandApdu:
    """VERIFY without data: the card answers ``63Cx`` (x tries left) and nothing is spent."""
    return CommandApdu(0x00, 0x20, 0x00, 0x80)


def read_binary(offset: int, length: int) -> CommandApdu:
    """READ BINARY of the current EF: ``00 B0 off-hi off-lo Le`` (length 1–256)."""
    if not 0 <= offset <= 0x7FFF:
        raise ValueError("READ BINARY offsets are 15 bits")
    return CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length)


def compute_digital_signature(digest_info: bytes) -> CommandApdu:
    """JPKI COMPUTE DIGITAL SIGNATURE with the current key EF: ``80 2A 00 80 Lc DigestInfo 00``."""
    return CommandApdu(0x80, 0x2A, 0x00, 0x80, digest_info, le=256)
