"""BER-TLV and APDU encoding: the bytes FORMATS §4 lists, both ways."""

from __future__ import annotations

import pytest

from kiosk.card import apdu, layout
from kiosk.card.apdu import ApduFormatError, CommandApdu, ResponseApdu, pin_tries_from, wrong_pin
from kiosk.card.tlv import TlvError, encode_length, encode_tlv, iter_tlvs, read_tlv


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7F"), (128, "8180"), (255, "81FF"), (256, "820100"), (70000, "83011170")],
)
def test_lengths_use_the_short_form_below_128_and_long_form_above(
    length: int, encoded: str
) -> None:
    assert encode_length(length) == bytes.fromhex(encoded)
    tlv = encode_tlv(0xDF23, b"a" * length)
    element = read_tlv(tlv)
    assert (element.tag, len(element.value), element.end) == (0xDF23, length, len(tlv))


def test_multi_byte_tags_and_sequences() -> None:
    data = encode_tlv(0xDF22, b"name") + encode_tlv(0x04, b"") + encode_tlv(0xFF20, b"\x01")
    assert [(e.tag, e.value) for e in iter_tlvs(data)] == [
        (0xDF22, b"name"),
        (0x04, b""),
        (0xFF20, b"\x01"),
    ]


@pytest.mark.parametrize(
    "data",
    ["", "DF", "DF22", "DF2280", "DF22850000000001", "DF228201", "DF220561", "DFFFFFFFFF0100"],
)
def test_malformed_tlv_raises_tlv_error(data: str) -> None:
    with pytest.raises(TlvError):
        list(iter_tlvs(bytes.fromhex(data))) if data else read_tlv(b"")


@pytest.mark.parametrize(
    "command",
    [
        CommandApdu(0x00, 0x20, 0x00, 0x80),
        CommandApdu(0x00, 0xB0, 0x01, 0x00, le=256),
        CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x00\x0a"),
        CommandApdu(0x80, 0x2A, 0x00, 0x80, b"\x30" * 51, le=256),
    ],
)
def test_command_apdus_round_trip(command: CommandApdu) -> None:
    assert CommandApdu.parse(command.to_bytes()) == command


def test_the_routine_sends_the_bytes_formats_lists() -> None:
    assert apdu.select_application(layout.JPKI_AID).to_bytes() == bytes.fromhex(
        "00A4040C0AD392F000260100000001"
    )
    assert apdu.select_file(0x0018).to_bytes() == bytes.fromhex("00A4020C020018")
    assert apdu.verify(b"1234").to_bytes() == bytes.fromhex("002000800431323334")
    assert apdu.pin_tries_query().to_bytes() == bytes.fromhex("00200080")
    assert apdu.read_binary(0x0102, 256).to_bytes() == bytes.fromhex("00B0010200")
    digest_info = layout.SHA256_DIGEST_INFO_PREFIX + bytes(32)
    assert apdu.compute_digital_signature(digest_info).to_bytes() == (
        bytes.fromhex("802A008033") + digest_info + b"\x00"
    )


def test_extended_and_inconsistent_apdus_are_refused() -> None:
    for raw in ("00B0", "00A4040C000002", "00A4040C05D3"):
        with pytest.raises(ApduFormatError):
            CommandApdu.parse(bytes.fromhex(raw))


def test_status_words_of_the_pin() -> None:
    assert [wrong_pin(n) for n in (3, 0)] == [0x63C3, 0x63C0]
    assert [pin_tries_from(sw) for sw in (0x63C2, 0x63C0, 0x9000, 0x6984)] == [2, 0, None, None]
    assert ResponseApdu.parse(b"\x01\x02\x90\x00") == ResponseApdu(b"\x01\x02", 0x9000)
    with pytest.raises(ValueError):
        ResponseApdu.parse(b"\x90")
