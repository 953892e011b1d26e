"""BER-TLV as the My Number card's text files use it (tags like ``FF 20``, ``DF 22``).

Only what the card needs: multi-byte tags and definite lengths in short or long form.
Parsing never trusts a length it has not checked against the bytes it holds, so a
malformed card answer ends in :class:`TlvError`, never in an ``IndexError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

#: Long-form lengths up to 4 bytes: far more than any card file holds.
_MAX_LENGTH_BYTES = 4


class TlvError(ValueError):
    """Bytes that are not well-formed BER-TLV; the message says what is wrong."""


@dataclass(frozen=True)
class Tlv:
    """One parsed element: its tag (as an integer, ``0xDF22``), value and where it ends."""

    tag: int
    value: bytes
    end: int


def encode_length(length: int) -> bytes:
    """BER definite length: one byte below 128, else ``0x80 | n`` and n big-endian bytes."""
    if length < 0:
        raise ValueError("a length is never negative")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > _MAX_LENGTH_BYTES:
        raise ValueError("length too large for a card file")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Encode one element; ``tag`` is written big-endian in as many bytes as it needs."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Parse the tag and length at ``offset``.

    Returns:
        ``(tag, value_length, value_offset)``.

    Raises:
        TlvError: truncated header, indefinite or oversized length.
    """
    if offset >= len(data):
        raise TlvError("no tag where one was expected")
    position = offset
    tag = data[position]
    position += 1
    if tag & 0x1F == 0x1F:  # high tag number form: continuation bytes while bit 8 is set
        while True:
            if position >= len(data):
                raise TlvError("tag truncated")
            byte = data[position]
            tag = (tag << 8) | byte
            position += 1
            if not byte & 0x80:
                break
            if position - offset > 4:
                raise TlvError("tag longer than 4 bytes")
    if position >= len(data):
        raise TlvError("length missing")
    first = data[position]
    position += 1
    if first < 0x80:
        return tag, first, position
    count = first & 0x7F
    if count == 0:
        raise TlvError("indefinite length is not allowed")
    if count > _MAX_LENGTH_BYTES:
        raise TlvError("length field too long")
    if position + count > len(data):
        raise TlvError("length truncated")
    length = int.from_bytes(data[position : position + count], "big")
    return tag, length, position + count


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """Parse one complete element at ``offset``, checking its value is all there."""
    tag, length, value_offset = read_header(data, offset)
    end = value_offset + length
    if end > len(data):
        raise TlvError(
            f"value of tag {tag:X} truncated ({len(data) - value_offset} of {length} bytes)"
        )
    return Tlv(tag, data[value_offset:end], end)


def iter_tlvs(data: bytes) -> Iterator[Tlv]:
    """Every element in ``data``, one after another, until the bytes run out."""
    offset = 0
    while offset < len(data):
        element = read_tlv(data, offset)
        yield element
        offset = element.end
