"""The kiosk's card routine over an in-process reader: PIN, reads, signature, bad cards."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.card_proof import Basic4
from kiosk.card import layout
from kiosk.card.card_files import encode_basic4
from kiosk.card.demo_cards import DemoCard
from kiosk.card.emulator import MyNumberCardEmulator
from kiosk.card.errors import CardError, CardRemovedError, PinLockedError, WrongPinError
from kiosk.card.mynumber import MyNumberCard
from kiosk.card.reader import InProcessReader
from kiosk.card.tlv import encode_tlv

CHALLENGE = hashlib.sha256(b"card session 1").digest()


def wrong_pin_for(card: DemoCard) -> str:
    return "9999" if card.pin != "9999" else "8888"


@pytest.fixture
def reader(card: MyNumberCardEmulator) -> InProcessReader:
    return InProcessReader(card)


@pytest.fixture
def session(reader: InProcessReader) -> MyNumberCard:
    mynumber_card = MyNumberCard(reader)
    mynumber_card.connect()
    return mynumber_card


def with_file(demo_card: DemoCard, fid: int, content: bytes) -> MyNumberCard:
    emulator = demo_card.emulator(file_contents={(layout.INPUT_SUPPORT_AID, fid): content})
    mynumber_card = MyNumberCard(InProcessReader(emulator))
    mynumber_card.connect()
    return mynumber_card


# --- identification and the PIN -------------------------------------------------------------


def test_a_my_number_card_is_identified(session: MyNumberCard) -> None:
    session.identify()


class _OtherCard:
    """A card with no My Number applications (a bank card, say)."""

    def transmit(self, command: bytes) -> bytes:
        return b"\x6a\x82"

    def reset(self) -> None:
        pass


def test_another_card_is_not_taken_for_a_my_number_card() -> None:
    reader = InProcessReader(_OtherCard())
    with MyNumberCard(reader) as other, pytest.raises(CardError) as refused:
        other.identify()
    assert refused.value.key == "card.not_my_number_card"
    assert refused.value.status_word == 0x6A82


def test_right_pin_gives_a_proof_that_matches_the_card(
    session: MyNumberCard, demo_card: DemoCard
) -> None:
    proof = session.prove(demo_card.pin, CHALLENGE)
    assert proof.my_number == demo_card.my_number
    assert proof.basic4 == demo_card.resident.basic4
    assert proof.auth_certificate == demo_card.auth_certificate_der
    demo_card.auth_key.public_key().verify(
        proof.signature, CHALLENGE, padding.PKCS1v15(), hashes.SHA256()
    )


def test_wrong_pin_counts_down_then_locks(
    session: MyNumberCard, card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    assert session.pin_status().tries_left == 3
    for expected in (2, 1):
        with pytest.raises(WrongPinError) as wrong:
            session.prove(wrong_pin_for(demo_card), CHALLENGE)
        assert wrong.value.tries_left == expected
        assert session.pin_status().tries_left == expected
    with pytest.raises(PinLockedError):
        session.prove(wrong_pin_for(demo_card), CHALLENGE)
    assert session.pin_status().locked
    with pytest.raises(PinLockedError):  # even the right PIN no longer opens it
        session.prove(demo_card.pin, CHALLENGE)
    # A wrong JPKI PIN stops the routine: the input support PIN was never tried.
    assert card.pin_tries_left(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN) == 3


def test_a_locked_card_stays_locked_when_reinserted(
    reader: InProcessReader, card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    with MyNumberCard(reader) as mynumber_card:
        for _ in range(3):
            with pytest.raises((WrongPinError, PinLockedError)):
                mynumber_card.prove(wrong_pin_for(demo_card), CHALLENGE)
    reader.remove()
    reader.insert(card)
    with MyNumberCard(reader) as mynumber_card:
        assert mynumber_card.pin_status().locked


def test_a_right_pin_after_a_wrong_one_restores_the_count(
    session: MyNumberCard, demo_card: DemoCard
) -> None:
    with pytest.raises(WrongPinError):
        session.prove(wrong_pin_for(demo_card), CHALLENGE)
    session.prove(demo_card.pin, CHALLENGE)
    assert session.pin_status().tries_left == 3


def spend_input_support_tries(
    emulator: MyNumberCardEmulator, demo_card: DemoCard, count: int
) -> None:
    """Wrong input support PINs sent behind the routine's back."""
    emulator.transmit(bytes.fromhex("00A4040C0AD3921000310001010408"))
    emulator.transmit(bytes.fromhex("00A4020C020011"))
    for _ in range(count):
        emulator.transmit(bytes.fromhex("0020008004") + wrong_pin_for(demo_card).encode())


def test_tries_left_is_the_lower_of_the_two_pins(demo_card: DemoCard) -> None:
    emulator = demo_card.emulator()
    spend_input_support_tries(emulator, demo_card, 2)
    with MyNumberCard(InProcessReader(emulator)) as mynumber_card:
        assert mynumber_card.pin_status().tries_left == 1
        with pytest.raises(WrongPinError) as wrong:  # JPKI drops to 2, the screen shows 1
            mynumber_card.prove(wrong_pin_for(demo_card), CHALLENGE)
        assert wrong.value.tries_left == 1


def test_a_blocked_input_support_pin_locks_the_card_before_any_try(demo_card: DemoCard) -> None:
    emulator = demo_card.emulator()
    spend_input_support_tries(emulator, demo_card, 3)
    with MyNumberCard(InProcessReader(emulator)) as mynumber_card:
        assert mynumber_card.pin_status().locked
        with pytest.raises(PinLockedError):
            mynumber_card.prove(wrong_pin_for(demo_card), CHALLENGE)
    assert emulator.pin_tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN) == 3  # nothing spent


def test_a_differing_input_support_pin_is_reported_with_its_count(demo_card: DemoCard) -> None:
    other_pin = wrong_pin_for(demo_card)
    emulator = MyNumberCardEmulator(
        replace(demo_card.personalisation(), input_support_pin=other_pin)
    )
    with (
        MyNumberCard(InProcessReader(emulator)) as mynumber_card,
        pytest.raises(WrongPinError) as wrong,
    ):
        mynumber_card.prove(demo_card.pin, CHALLENGE)
    assert wrong.value.tries_left == 2
    assert emulator.pin_tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN) == 3


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "１２３４", ""])
def test_a_pin_that_is_not_four_digits_never_reaches_the_card(
    session: MyNumberCard, card: MyNumberCardEmulator, pin: str
) -> None:
    with pytest.raises(CardError) as refused:
        session.prove(pin, CHALLENGE)
    assert refused.value.key == "card.pin_format"
    assert card.pin_tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN) == 3


def test_the_pin_is_not_in_any_error(session: MyNumberCard, demo_card: DemoCard) -> None:
    typed = wrong_pin_for(demo_card)
    with pytest.raises(WrongPinError) as wrong:
        session.prove(typed, CHALLENGE)
    assert typed not in str(wrong.value) and typed not in repr(wrong.value.args)


# --- reads ------------------------------------------------------------------------------


def test_reading_before_verify_is_reported_as_pin_required(session: MyNumberCard) -> None:
    for read in (
        session.read_my_number,
        session.read_basic4,
        lambda: session.sign_challenge(CHALLENGE),
    ):
        with pytest.raises(CardError) as refused:
            read()
        assert (refused.value.key, refused.value.status_word) == ("card.pin_required", 0x6982)


def test_the_auth_certificate_needs_no_pin(session: MyNumberCard, demo_card: DemoCard) -> None:
    assert session.read_auth_certificate() == demo_card.auth_certificate_der


def test_a_long_address_uses_long_form_lengths_and_several_reads(demo_card: DemoCard) -> None:
    resident = demo_card.resident.basic4
    long_address = resident.address + "グランドメゾン千代田" * 12  # > 256 bytes in UTF-8
    basic4 = Basic4(resident.name, long_address, resident.birth_date, resident.sex)
    content = encode_basic4(basic4)
    assert content[2] == 0x82  # two length bytes follow
    mynumber_card = with_file(demo_card, layout.INPUT_SUPPORT_BASIC4, content)
    assert mynumber_card.prove(demo_card.pin, CHALLENGE).basic4 == basic4


def _basic4_with(**replaced: bytes) -> bytes:
    parts = {
        0xDF21: b"\x00\x00",
        0xDF22: "接種 太郎".encode(),
        0xDF23: "東京都千代田区".encode(),
        0xDF24: b"19850401",
        0xDF25: b"1",
    }
    parts.update({int(tag, 16): value for tag, value in replaced.items()})
    inner = b"".join(encode_tlv(tag, value) for tag, value in parts.items() if value is not None)
    return encode_tlv(0xFF20, inner)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(encode_tlv(0xFF21, b"\xdf\x22\x01a"), id="wrong outer tag"),
        pytest.param(b"\xff\x20\x80" + b"\x00" * 8, id="indefinite length"),
        pytest.param(b"\xff\x20\x85" + b"\x00" * 8, id="length of 5 bytes"),
        pytest.param(_basic4_with()[:-3], id="file shorter than declared"),
        pytest.param(b"\xff\x20\x05\xdf\x22\x09abc", id="inner element truncated"),
        pytest.param(encode_tlv(0xFF20, encode_tlv(0xDF22, b"a")), id="facts missing"),
        pytest.param(_basic4_with(DF22=b"\xff\xfe"), id="name not UTF-8"),
        pytest.param(_basic4_with(DF24=b"19851301"), id="no such date"),
        pytest.param(_basic4_with(DF24=b"S60.4.1 "), id="date not digits"),
        pytest.param(_basic4_with(DF25=b"3"), id="sex not ISO 5218"),
        pytest.param(_basic4_with(DF22=b" "), id="blank name"),
    ],
)
def test_malformed_basic4_is_a_specific_error(demo_card: DemoCard, content: bytes) -> None:
    mynumber_card = with_file(demo_card, layout.INPUT_SUPPORT_BASIC4, content)
    with pytest.raises(CardError) as refused:
        mynumber_card.prove(demo_card.pin, CHALLENGE)
    assert refused.value.key == "card.basic4_malformed"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xff\x10\x0c123456789010", id="wrong check digit"),
        pytest.param(b"\xff\x10\x0c12345678901X", id="not digits"),
        pytest.param(b"\xff\x10\x0b12345678901", id="11 digits"),
        pytest.param(b"\xdf\x10\x0c123456789018", id="wrong tag"),
    ],
)
def test_malformed_my_number_is_a_specific_error(demo_card: DemoCard, content: bytes) -> None:
    mynumber_card = with_file(demo_card, layout.INPUT_SUPPORT_MY_NUMBER, content)
    with pytest.raises(CardError) as refused:
        mynumber_card.prove(demo_card.pin, CHALLENGE)
    assert refused.value.key == "card.my_number_malformed"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x31\x82\x00\x10" + b"\x00" * 16, id="not a SEQUENCE"),
        pytest.param(b"\x30\x82\x00\x10" + b"\x00" * 16, id="not a certificate"),
        pytest.param(b"\x30\x82\x04\x00" + b"\x00" * 16, id="shorter than its head says"),
        pytest.param(b"\x30\x82\xff\xff" + b"\x00" * 16, id="implausibly long"),
    ],
)
def test_malformed_certificate_is_a_specific_error(demo_card: DemoCard, content: bytes) -> None:
    emulator = demo_card.emulator(
        file_contents={(layout.JPKI_AID, layout.JPKI_AUTH_CERTIFICATE): content}
    )
    with (
        MyNumberCard(InProcessReader(emulator)) as mynumber_card,
        pytest.raises(CardError) as refused,
    ):
        mynumber_card.read_auth_certificate()
    assert refused.value.key == "card.certificate_malformed"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(min_size=1, max_size=300))
def test_any_basic4_answer_is_read_or_refused_never_a_crash(
    demo_card: DemoCard, content: bytes
) -> None:
    mynumber_card = with_file(demo_card, layout.INPUT_SUPPORT_BASIC4, content)
    try:
        mynumber_card.prove(demo_card.pin, CHALLENGE)
    except CardError as error:  # any other exception fails the test
        assert error.key == "card.basic4_malformed"


# --- the card leaving --------------------------------------------------------------------


def test_a_removed_card_ends_the_session(
    reader: InProcessReader, card: MyNumberCardEmulator
) -> None:
    mynumber_card = MyNumberCard(reader)
    mynumber_card.connect()
    mynumber_card.identify()
    reader.remove()
    with pytest.raises(CardRemovedError):
        mynumber_card.pin_status()
    reader.insert(card)  # back in, but the old session is gone: connect again
    with pytest.raises(CardRemovedError):
        mynumber_card.pin_status()
    mynumber_card.connect()
    assert mynumber_card.pin_status().tries_left == 3


def test_disconnect_resets_the_card(reader: InProcessReader, demo_card: DemoCard) -> None:
    with MyNumberCard(reader) as mynumber_card:
        mynumber_card.prove(demo_card.pin, CHALLENGE)
    with MyNumberCard(reader) as mynumber_card, pytest.raises(CardError) as refused:
        mynumber_card.read_my_number()
    assert refused.value.key == "card.pin_required"
