"""Property tests of what arrives from outside as bytes or text: card answers and QR payloads.

Card answers (``kiosk/card``): BER-TLV and APDUs parse or raise their own
error (``TlvError`` / ``ApduFormatError`` / ``ValueError`` as documented) and
round-trip through their encoders. QR payloads on the verify page:
``shc:/`` numeric text and VDS-NC JSON raise only ``VerificationError``.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.card.apdu import ApduFormatError, CommandApdu, ResponseApdu
from kiosk.card.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv
from signing import shc, vdsnc
from signing.errors import VerificationError

EXAMPLES = settings(max_examples=300, deadline=None)
# Tags as the card uses them: one byte (low tag number) or 0x1F-form two/three bytes.
tags = st.one_of(
    st.integers(0x00, 0xFF).filter(lambda t: t & 0x1F != 0x1F),
    st.integers(0x1F, 0xFF)
    .map(lambda t: t | 0x1F)
    .flatmap(lambda first: st.integers(0x00, 0x7F).map(lambda second: (first << 8) | second)),
)


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_card_bytes_parse_as_tlvs_or_raise_tlv_error(data: bytes) -> None:
    try:
        elements = list(iter_tlvs(data))
    except TlvError:
        return
    assert not elements or elements[-1].end == len(data)


@EXAMPLES
@given(st.lists(st.tuples(tags, st.binary(max_size=300)), min_size=1, max_size=5))
def test_tlvs_round_trip(elements: list[tuple[int, bytes]]) -> None:
    data = b"".join(encode_tlv(tag, value) for tag, value in elements)
    assert [(e.tag, e.value) for e in iter_tlvs(data)] == elements
    first = read_tlv(data)
    assert (first.tag, first.value) == elements[0]


@EXAMPLES
@given(st.binary(max_size=270))
def test_any_command_bytes_parse_or_raise_apdu_format_error(raw: bytes) -> None:
    try:
        command = CommandApdu.parse(raw)
    except ApduFormatError as error:
        assert error.status_word > 0
        return
    assert command.to_bytes() == raw or (raw[4:] and raw[-1] == 0)  # Le 00 means 256


@EXAMPLES
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
       st.binary(max_size=255), st.one_of(st.none(), st.integers(1, 256)))  # fmt: skip
def test_command_apdus_round_trip(cla, ins, p1, p2, data: bytes, le: int | None) -> None:
    command = CommandApdu(cla, ins, p1, p2, data, le)
    assert CommandApdu.parse(command.to_bytes()) == command


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_card_answer_parses_as_a_response_or_raises_value_error(raw: bytes) -> None:
    try:
        response = ResponseApdu.parse(raw)
    except ValueError:
        assert len(raw) < 2
        return
    assert response.to_bytes() == raw and 0 <= response.status_word <= 0xFFFF


# --- QR payloads on the verify page ------------------------------------------------

jws_text = st.text(
    alphabet=st.characters(min_codepoint=45, max_codepoint=ord("z")), min_size=1, max_size=400
)


@EXAMPLES
@given(jws_text)
def test_shc_numeric_text_round_trips(jws: str) -> None:
    assert shc.from_qr_text(shc.QR_PREFIX + shc.numeric_digits(jws)) == jws


@EXAMPLES
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet="0123456789/", max_size=200).map(lambda t: "shc:/" + t),
    )
)
def test_any_scanned_text_decodes_as_shc_or_raises_verification_error(text: str) -> None:
    try:
        jws = shc.from_qr_text(text)
    except VerificationError:
        return
    assert all(45 <= ord(c) <= ord("z") for c in jws)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
seal_like = st.fixed_dictionaries(
    {"data": st.fixed_dictionaries({"hdr": st.fixed_dictionaries({"t": st.just("icao.vacc"), "v": st.just(1), "is": st.text(max_size=3)}),
                                    "msg": st.dictionaries(st.text(max_size=6), json_values, max_size=4)}),
     "sig": st.fixed_dictionaries({"alg": st.sampled_from(["ES256", "ES384", "RS256", ""]),
                                   "cer": st.text(max_size=40), "sigvl": st.text(max_size=40)})}
)  # fmt: skip


@EXAMPLES
@given(st.one_of(json_values.map(json.dumps), seal_like.map(json.dumps), st.text(max_size=100)))
def test_any_scanned_json_verifies_or_raises_verification_error(text: str) -> None:
    try:
        vdsnc.verify_seal(text, [])
    except VerificationError:
        return
    raise AssertionError("an unsigned seal verified")
