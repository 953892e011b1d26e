"""Identifiers (SPEC §2): valid forms, each kind of invalid, and the 1↔4 misread."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.identifiers import (
    IdentifierError,
    mask_my_number,
    municipality_check_digit,
    my_number_check_digit,
    parse_municipality_code,
    parse_my_number,
    parse_ocr_line,
    parse_passport_number,
    parse_resident_number,
    parse_ticket_code,
)


@pytest.mark.parametrize("code", ["131016", "011002", "011011", "011070", "141003", "271004"])
def test_real_municipality_codes_are_valid(code: str) -> None:
    assert parse_municipality_code(code) == code


def test_check_digit_remainders_zero_and_one() -> None:
    # 01101: weighted sum 11 → remainder 0 → digit 1; 01107: remainder 1 → digit 0.
    assert municipality_check_digit("01101") == "1"
    assert municipality_check_digit("01107") == "0"


def test_a_misread_municipality_digit_is_caught() -> None:
    # 131016 read with the 1 of "13" as 4: 431016 has another check digit.
    with pytest.raises(IdentifierError) as error:
        parse_municipality_code("431016")
    assert error.value.key == "id.municipality_check_digit"


def test_check_digits_do_not_catch_every_misread() -> None:
    # 141011 with its third digit misread 1 → 4 is 144011, which is valid too:
    # the reason the venue page always shows the person to confirm.
    assert parse_municipality_code("141011") == "141011"
    assert parse_municipality_code("144011") == "144011"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("", "id.required"),
        ("13101", "id.wrong_length"),
        ("13101x", "id.not_digits"),
        ("1310166", "id.wrong_length"),
    ],
)
def test_malformed_municipality_codes_have_specific_messages(value: str, key: str) -> None:
    with pytest.raises(IdentifierError) as error:
        parse_municipality_code(value)
    assert error.value.key == key


def test_full_width_digits_are_accepted() -> None:
    assert parse_municipality_code("１３１０１６") == "131016"


@given(st.from_regex(r"[0-9]{5}", fullmatch=True))
def test_every_five_digit_code_gets_a_check_digit_that_validates(body: str) -> None:
    assert parse_municipality_code(
        body + municipality_check_digit(body)
    ) == body + municipality_check_digit(body)


@given(st.from_regex(r"[0-9]{5}", fullmatch=True), st.integers(0, 4), st.integers(1, 9))
def test_a_single_changed_digit_is_always_caught(body: str, position: int, delta: int) -> None:
    # Weights 6..2 are all coprime with 11, so any single-digit error changes the
    # remainder; only the mod-10 fold (remainder 0 vs 1) can coincide.
    code = body + municipality_check_digit(body)
    changed = body[:position] + str((int(body[position]) + delta) % 10) + body[position + 1 :]
    changed_code = changed + code[5]
    if municipality_check_digit(changed) == code[5]:
        assert {int(code[5])} <= {0, 1}
    else:
        with pytest.raises(IdentifierError):
            parse_municipality_code(changed_code)


def test_my_number_known_valid_example() -> None:
    assert my_number_check_digit("12345678901") == "8"
    assert parse_my_number("1234 5678 9018") == "123456789018"


def test_my_number_with_wrong_check_digit_is_refused() -> None:
    with pytest.raises(IdentifierError) as error:
        parse_my_number("123456789012")
    assert error.value.key == "id.my_number_check_digit"


@given(st.from_regex(r"[0-9]{11}", fullmatch=True), st.integers(0, 10), st.integers(1, 9))
def test_my_number_single_digit_errors_are_caught(body: str, position: int, delta: int) -> None:
    number = body + my_number_check_digit(body)
    changed = body[:position] + str((int(body[position]) + delta) % 10) + body[position + 1 :]
    if my_number_check_digit(changed) != number[11]:
        with pytest.raises(IdentifierError):
            parse_my_number(changed + number[11])


def test_my_number_is_masked_to_its_last_four_digits() -> None:
    assert mask_my_number("123456789018") == "********9018"


def test_ocr_line_is_split_into_its_parts() -> None:
    code = parse_ocr_line("121310160000012345")
    assert (code.ticket_type, code.dose_number, code.municipality_code, code.ticket_number) == (
        "1", 2, "131016", "0000012345",
    )  # fmt: skip
    assert code.ocr_line == "121310160000012345"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("12131016000001234", "id.wrong_length"),
        ("921310160000012345", "id.ticket_type_unknown"),
        ("101310160000012345", "id.dose_number_zero"),
        ("124310160000012345", "id.municipality_check_digit"),  # 1 read as 4
        ("12131016000001234A", "id.not_digits"),
    ],
)
def test_malformed_ocr_lines_have_specific_messages(line: str, key: str) -> None:
    with pytest.raises(IdentifierError) as error:
        parse_ocr_line(line)
    assert error.value.key == key


def test_barcode_ticket_needs_a_municipality() -> None:
    with pytest.raises(IdentifierError) as error:
        parse_ticket_code("0000012345")
    assert error.value.key == "id.barcode_needs_municipality"
    code = parse_ticket_code("0000012345", default_municipality="011002")
    assert (code.municipality_code, code.ticket_number, code.ocr_line) == (
        "011002",
        "0000012345",
        None,
    )


def test_ticket_code_of_wrong_length_says_both_lengths() -> None:
    with pytest.raises(IdentifierError) as error:
        parse_ticket_code("12345")
    assert error.value.key == "id.ticket_length"
    assert error.value.params == {"actual": 5}


@given(st.text(max_size=30))
def test_ticket_parser_never_fails_other_than_with_an_identifier_error(text: str) -> None:
    try:
        parse_ticket_code(text, default_municipality="131016")
    except IdentifierError:
        pass


@given(st.text(max_size=30))
def test_my_number_parser_never_fails_other_than_with_an_identifier_error(text: str) -> None:
    try:
        parse_my_number(text)
    except IdentifierError:
        pass


def test_passport_numbers() -> None:
    assert parse_passport_number("tk1234567") == "TK1234567"
    with pytest.raises(IdentifierError) as error:
        parse_passport_number("T12345678")
    assert error.value.key == "id.passport_japanese"
    assert parse_passport_number("X1234567890", nationality="USA") == "X1234567890"
    with pytest.raises(IdentifierError):
        parse_passport_number("X" * 21, nationality="USA")


def test_resident_number_is_up_to_15_digits() -> None:
    assert parse_resident_number("000123") == "000123"
    with pytest.raises(IdentifierError):
        parse_resident_number("1" * 16)
