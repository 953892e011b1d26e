"""The My Number card emulator answers every command as FORMATS §4 describes.

Commands are written out as the bytes FORMATS lists, not built with the routine's
helpers, so a mistake in those helpers cannot hide one here.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiosk.card import layout
from kiosk.card.demo_cards import DemoCard
from kiosk.card.emulator import MyNumberCardEmulator

SELECT_JPKI = "00A4040C0A D392F000260100000001"
SELECT_INPUT_SUPPORT = "00A4040C0A D3921000310001010408"
TRIES_QUERY = "00200080"


def send(card: MyNumberCardEmulator, command: str | bytes) -> tuple[bytes, int]:
    raw = bytes.fromhex(command.replace(" ", "")) if isinstance(command, str) else command
    answer = card.transmit(raw)
    return answer[:-2], int.from_bytes(answer[-2:], "big")


def status(card: MyNumberCardEmulator, *commands: str | bytes) -> list[int]:
    return [send(card, command)[1] for command in commands]


def verify_command(pin: str, p2: int = 0x80) -> bytes:
    return bytes([0x00, 0x20, 0x00, p2, len(pin)]) + pin.encode()


def read_whole(card: MyNumberCardEmulator, length: int) -> bytes:
    """READ BINARY in Le 00 (256-byte) steps with offsets, as a reader loops."""
    data = b""
    while len(data) < length:
        chunk, sw = send(card, bytes([0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, 0x00]))
        assert sw in (0x9000, 0x6282)
        data += chunk
    return data


def sign_command(digest_info: bytes) -> bytes:
    return bytes([0x80, 0x2A, 0x00, 0x80, len(digest_info)]) + digest_info + b"\x00"


def unlock_input_support(card: MyNumberCardEmulator, pin: str) -> None:
    assert status(card, SELECT_INPUT_SUPPORT, "00A4020C020011", verify_command(pin)) == [0x9000] * 3


# --- SELECT ----------------------------------------------------------------------------


def test_both_applications_are_selectable_by_aid(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, SELECT_INPUT_SUPPORT) == [0x9000, 0x9000]


def test_an_unknown_aid_is_file_not_found(card: MyNumberCardEmulator) -> None:
    assert status(card, "00A4040C07 A0000000041010") == [0x6A82]


def test_select_ef_needs_a_current_df_and_an_existing_fid(card: MyNumberCardEmulator) -> None:
    assert status(card, "00A4020C02000A") == [0x6A82]  # no DF selected yet
    assert status(card, SELECT_JPKI, "00A4020C02000A", "00A4020C020001") == [0x9000, 0x9000, 0x6A82]


def test_select_of_the_mf_leaves_the_applications(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00A4000C", "00A4020C02000A") == [0x9000, 0x9000, 0x6A82]


def test_select_with_wrong_parameters_or_length(card: MyNumberCardEmulator) -> None:
    assert status(card, "00A4080C0A D392F000260100000001") == [0x6A86]  # P1 unknown
    assert status(card, "00A40401 0A D392F000260100000001") == [0x6A86]  # P2 unknown
    assert status(card, SELECT_JPKI, "00A4020C0100") == [0x9000, 0x6700]  # FID of 1 byte


# --- READ BINARY -------------------------------------------------------------------------


def test_auth_certificate_reads_without_pin_in_256_byte_steps(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    expected = demo_card.auth_certificate_der
    send(card, SELECT_JPKI)
    send(card, "00A4020C02000A")
    first, sw = send(card, "00B0000000")
    assert (len(first), sw) == (256, 0x9000)  # Le 00 means 256
    head, _ = send(card, "00B0000004")
    assert ((head[2] << 8) | head[3]) + 4 == len(expected)
    assert read_whole(card, len(expected)) == expected
    x509.load_der_x509_certificate(expected)


def test_ca_certificate_is_in_000b(card: MyNumberCardEmulator, demo_card: DemoCard) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C02000B")
    assert read_whole(card, len(demo_card.ca.certificate_der)) == demo_card.ca.certificate_der


def test_read_at_an_offset_and_past_the_end(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    der = demo_card.auth_certificate_der
    send(card, SELECT_JPKI)
    send(card, "00A4020C02000A")
    offset = len(der) - 10
    tail, sw = send(card, bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x20]))
    assert (tail, sw) == (der[offset:], 0x6282)  # fewer than Le: end of file
    beyond = len(der)
    assert status(card, bytes([0x00, 0xB0, beyond >> 8, beyond & 0xFF, 0x01])) == [0x6B00]


def test_read_binary_without_a_current_ef(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00B0000004") == [0x9000, 0x6986]


def test_read_binary_needs_le_and_no_data(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00A4020C02000A", "00B00000", "00B0000001AA04") == [
        0x9000,
        0x9000,
        0x6700,
        0x6700,
    ]


def test_keys_and_pins_cannot_be_read(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00A4020C020017", "00B0000001") == [0x9000, 0x9000, 0x6981]
    assert status(card, "00A4020C020018", "00B0000001") == [0x9000, 0x6981]


def test_my_number_and_basic4_need_the_input_support_pin(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    assert status(card, SELECT_INPUT_SUPPORT, "00A4020C020001", "00B0000000") == [
        0x9000,
        0x9000,
        0x6982,
    ]
    assert status(card, "00A4020C020002", "00B0000000") == [0x9000, 0x6982]
    unlock_input_support(card, demo_card.pin)
    send(card, "00A4020C020001")
    my_number, sw = send(card, "00B0000011")
    assert sw == 0x6282  # the file is 15 bytes, 17 were asked
    assert my_number == b"\xff\x10\x0c" + demo_card.my_number.encode()
    send(card, "00A4020C020002")
    basic4, _ = send(card, "00B0000000")
    assert basic4[:2] == b"\xff\x20"
    assert demo_card.resident.basic4.name.encode() in basic4


def test_read_binary_by_sfi(card: MyNumberCardEmulator, demo_card: DemoCard) -> None:
    send(card, SELECT_JPKI)
    head, sw = send(card, "00B08A0004")  # 0x80 | SFI 0A, offset 0
    assert (head, sw) == (demo_card.auth_certificate_der[:4], 0x9000)
    second, _ = send(card, "00B08A0204")  # offset 2 in P2
    assert second == demo_card.auth_certificate_der[2:6]
    assert send(card, "00B0000004")[0] == head  # the SFI read made 000A current
    assert status(card, "00B0850001", "00B0C10001") == [0x6A82, 0x6A86]  # no SFI 05; bits 6-7


# --- VERIFY --------------------------------------------------------------------------------


def test_tries_left_query_spends_nothing(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00A4020C020018", TRIES_QUERY, TRIES_QUERY) == [
        0x9000,
        0x9000,
        0x63C3,
        0x63C3,
    ]


def test_wrong_pin_counts_down_and_blocks_at_zero(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    wrong = "9999" if demo_card.pin != "9999" else "8888"
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    assert status(card, *[verify_command(wrong)] * 3) == [0x63C2, 0x63C1, 0x63C0]
    assert status(card, verify_command(demo_card.pin), TRIES_QUERY) == [0x6984, 0x63C0]
    assert card.pin_tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN) == 0


def test_right_pin_resets_the_counter(card: MyNumberCardEmulator, demo_card: DemoCard) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    assert status(card, verify_command("0" * 4 if demo_card.pin != "0000" else "1111")) == [0x63C2]
    assert status(card, verify_command(demo_card.pin), TRIES_QUERY) == [0x9000, 0x9000]
    assert status(card, SELECT_JPKI, "00A4020C020018", TRIES_QUERY) == [0x9000, 0x9000, 0x63C3]


def test_each_pin_has_its_own_counter(card: MyNumberCardEmulator, demo_card: DemoCard) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    send(card, verify_command("9998"))
    assert status(card, SELECT_INPUT_SUPPORT, "00A4020C020011", TRIES_QUERY)[-1] == 0x63C3
    assert card.pin_tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN) == 2


def test_verify_by_sfi(card: MyNumberCardEmulator, demo_card: DemoCard) -> None:
    send(card, SELECT_INPUT_SUPPORT)
    assert status(card, verify_command(demo_card.pin, p2=0x80 | 0x11)) == [0x9000]
    assert status(card, "00A4020C020001", "00B0000003") == [0x9000, 0x9000]
    assert status(card, SELECT_JPKI, "00200098") == [0x9000, 0x63C3]  # SFI 18: tries of 0018


def test_verify_needs_a_pin_ef(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, verify_command("1234")) == [0x9000, 0x6986]  # no current EF
    assert status(card, "00A4020C02000A", verify_command("1234")) == [0x9000, 0x6981]
    assert status(card, verify_command("1234", p2=0x80 | 0x0A)) == [0x6A82]  # SFI of a cert
    assert status(card, "00A4020C020018", "00200180") == [0x9000, 0x6A86]  # P1 must be 00


def test_a_pin_of_the_wrong_length_spends_no_try(card: MyNumberCardEmulator) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    assert status(card, verify_command("12345"), TRIES_QUERY) == [0x6700, 0x63C3]


# --- security status and card life ---------------------------------------------------------


def test_selecting_another_df_drops_verified_pins(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    unlock_input_support(card, demo_card.pin)
    assert status(card, SELECT_JPKI, SELECT_INPUT_SUPPORT, "00A4020C020001", "00B0000003") == [
        0x9000,
        0x9000,
        0x9000,
        0x6982,
    ]


def test_reset_drops_verified_pins_but_keeps_counters(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    send(card, verify_command("9997"))
    unlock_input_support(card, demo_card.pin)
    card.reset()  # as when the card is taken out and put back
    assert status(card, "00B0000003") == [0x6986]  # no selection survives
    assert status(card, SELECT_INPUT_SUPPORT, "00A4020C020001", "00B0000003") == [
        0x9000,
        0x9000,
        0x6982,
    ]
    assert status(card, SELECT_JPKI, "00A4020C020018", TRIES_QUERY)[-1] == 0x63C2


# --- COMPUTE DIGITAL SIGNATURE ---------------------------------------------------------------


def sha256_digest_info(message: bytes) -> bytes:
    return layout.SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()


def test_signature_needs_the_auth_pin(card: MyNumberCardEmulator) -> None:
    assert status(card, SELECT_JPKI, "00A4020C020017", sign_command(sha256_digest_info(b"x"))) == [
        0x9000,
        0x9000,
        0x6982,
    ]


def test_signature_verifies_as_standard_pkcs1_sha256(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    challenge = b"server challenge 32 bytes long.."
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    send(card, verify_command(demo_card.pin))
    send(card, "00A4020C020017")
    signature, sw = send(card, sign_command(sha256_digest_info(challenge)))
    assert (sw, len(signature)) == (0x9000, 256)
    public_key = demo_card.auth_certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())


def test_signature_needs_the_key_ef_and_a_digest_info(
    card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    send(card, SELECT_JPKI)
    send(card, "00A4020C020018")
    send(card, verify_command(demo_card.pin))
    digest_info = sha256_digest_info(b"x")
    assert status(card, sign_command(digest_info)) == [0x6981]  # current EF is the PIN
    send(card, SELECT_INPUT_SUPPORT)
    assert status(card, sign_command(digest_info)) == [0x6986]  # no current EF
    assert (
        status(card, SELECT_JPKI, "00A4020C020018", verify_command(demo_card.pin), "00A4020C020017")
        == [0x9000] * 4
    )
    assert status(card, sign_command(b"not a digest info")) == [0x6A80]
    assert status(card, sign_command(digest_info[:-1])) == [0x6A80]  # digest one byte short
    assert status(
        card, b"\x80\x2a\x9e\x9a" + bytes([len(digest_info)]) + digest_info + b"\x00"
    ) == [0x6A86]
    assert status(card, "802A0080") == [0x6700]  # nothing to sign


# --- everything else ---------------------------------------------------------------------------


def test_unknown_instruction_and_class(card: MyNumberCardEmulator) -> None:
    assert status(card, "00CA010000") == [0x6D00]  # GET DATA is not offered
    assert status(card, "B0A4040C0AD392F000260100000001") == [0x6E00]
    assert status(card, "80A4040C0AD392F000260100000001") == [0x6E00]  # SELECT is CLA 00
    assert status(card, "002A0080" + "01AA00") == [0x6E00]  # the signature is CLA 80


def test_malformed_apdus_are_wrong_length(card: MyNumberCardEmulator) -> None:
    assert status(card, "00A4", "00A4040C05D392F0", "00A4040C02D392F000") == [0x6700] * 3


def test_pins_must_be_four_digits_at_issue(demo_card: DemoCard) -> None:
    with pytest.raises(ValueError):
        demo_card.with_pin("12345").emulator()
