"""Property tests of the identifier parsers: ticket OCR line and barcode, My Number, 市区町村コード.

Each parser raises only :class:`common.identifiers.IdentifierError` (with a
message key the catalog knows), accepts every valid value, and gives back what
an encoder made.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from common.identifiers import (
    TICKET_TYPES,
    IdentifierError,
    municipality_check_digit,
    my_number_check_digit,
    parse_municipality_code,
    parse_my_number,
    parse_ocr_line,
    parse_ticket_code,
    parse_ticket_number,
)
from web.i18n import catalog

EXAMPLES = settings(max_examples=300, deadline=None)
digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
anything = st.one_of(
    st.text(max_size=40), digits, st.text(alphabet="0123456789０１２３４５６７８９ -", max_size=24)
)
municipality_codes = st.text(alphabet="0123456789", min_size=5, max_size=5).map(
    lambda five: five + municipality_check_digit(five)
)
KNOWN_KEYS = set(catalog("ja")) & set(catalog("en"))


def only_identifier_errors(parse, value: str) -> None:
    try:
        parse(value)
    except IdentifierError as error:
        assert error.key in KNOWN_KEYS, error.key
        for lang in ("ja", "en"):
            assert catalog(lang)[error.key].format(**error.params)


@EXAMPLES
@given(anything)
def test_every_parser_raises_only_identifier_errors_with_known_messages(value: str) -> None:
    for parse in (parse_my_number, parse_municipality_code, parse_ocr_line, parse_ticket_number):
        only_identifier_errors(parse, value)
    only_identifier_errors(lambda v: parse_ticket_code(v, default_municipality="131016"), value)
    only_identifier_errors(lambda v: parse_ticket_code(v, default_municipality=None), value)


@EXAMPLES
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_my_number_with_its_check_digit_is_accepted_and_any_other_last_digit_refused(
    first: str,
) -> None:
    good = first + my_number_check_digit(first)
    assert parse_my_number(good) == good
    assert parse_my_number(f"{good[:4]}-{good[4:8]}-{good[8:]}") == good  # as printed on the card
    for wrong in set("0123456789") - {good[-1]}:
        try:
            parse_my_number(first + wrong)
        except IdentifierError as error:
            assert error.key == "id.my_number_check_digit"
        else:
            raise AssertionError(f"{first + wrong} accepted")


@EXAMPLES
@given(municipality_codes)
def test_a_municipality_code_with_its_check_digit_is_accepted_and_one_wrong_digit_refused(
    code: str,
) -> None:
    assert parse_municipality_code(code) == code
    # The weights 6..2 and the modulus 11 catch every single changed digit in the first five.
    for position in range(5):
        for digit in set("0123456789") - {code[position]}:
            changed = code[:position] + digit + code[position + 1 :]
            try:
                parse_municipality_code(changed)
            except IdentifierError:
                continue
            # (11 - s % 11) % 10 folds 10 onto 0, so two sums can share a check digit.
            assert municipality_check_digit(changed[:5]) == code[5]


@EXAMPLES
@given(
    st.sampled_from(sorted(TICKET_TYPES)),
    st.integers(1, 9),
    municipality_codes,
    st.text(alphabet="0123456789", min_size=10, max_size=10),
)
def test_an_ocr_line_round_trips_and_its_barcode_part_reads_the_same_ticket(
    ticket_type: str, dose: int, code: str, number: str
) -> None:
    line = f"{ticket_type}{dose}{code}{number}"
    ticket = parse_ocr_line(line)
    assert ticket.ocr_line == line
    assert (ticket.municipality_code, ticket.ticket_number, ticket.dose_number) == (
        code,
        number,
        dose,
    )
    assert (
        parse_ticket_code(line.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
        == ticket
    )
    barcode = parse_ticket_code(number, default_municipality=code)
    assert (barcode.municipality_code, barcode.ticket_number, barcode.ocr_line) == (
        code,
        number,
        None,
    )
