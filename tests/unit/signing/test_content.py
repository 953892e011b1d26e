"""The certificate content model: ids and validation."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from common.identifiers import IdentifierError
from signing.content import CERTIFICATE_ID_ALPHABET, is_valid_certificate_id, new_certificate_id
from signing.examples import example_content


def test_new_certificate_ids_are_valid_distinct_and_fit_the_uvci_field() -> None:
    ids = {new_certificate_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 12 and is_valid_certificate_id(i) for i in ids)


def test_a_mistyped_character_fails_the_check() -> None:
    certificate_id = new_certificate_id()
    for position in range(len(certificate_id)):
        for replacement in CERTIFICATE_ID_ALPHABET:
            if replacement == certificate_id[position]:
                continue
            typo = certificate_id[:position] + replacement + certificate_id[position + 1 :]
            assert not is_valid_certificate_id(typo)


@pytest.mark.parametrize("value", ["", "ABC", "0" * 12, "o" * 12, "A" * 13])
def test_malformed_certificate_ids_are_refused(value: str) -> None:
    assert not is_valid_certificate_id(value)


def test_overseas_content_requires_passport_data() -> None:
    content = example_content(1, "overseas")
    holder = dataclasses.replace(content.holder, passport_number="")
    with pytest.raises(IdentifierError):
        dataclasses.replace(content, holder=holder)
    with pytest.raises(ValueError, match="Roman"):
        dataclasses.replace(
            content, holder=dataclasses.replace(content.holder, family_name_roman="")
        )


def test_domestic_content_does_not_need_passport_data() -> None:
    content = example_content(1, "domestic")
    holder = dataclasses.replace(
        content.holder, passport_number="", family_name_roman="", nationality=""
    )
    assert dataclasses.replace(content, holder=holder).holder.passport_number == ""


def test_dose_numbers_must_rise_and_precede_the_issue_date() -> None:
    content = example_content(2)
    first, second, third = content.doses
    with pytest.raises(ValueError, match="dose numbers"):
        dataclasses.replace(content, doses=(second, first, third))
    with pytest.raises(ValueError, match="after the issue date"):
        dataclasses.replace(content, issued_on=date(2021, 6, 10))
    with pytest.raises(ValueError, match="at least one"):
        dataclasses.replace(content, doses=())


def test_municipality_code_check_digit_is_enforced() -> None:
    content = example_content(0)
    with pytest.raises(IdentifierError):
        dataclasses.replace(
            content, issuer=dataclasses.replace(content.issuer, municipality_code="131017")
        )


def test_roman_name_is_passport_style() -> None:
    holder = example_content(0, "overseas").holder
    assert holder.name_roman == f"{holder.family_name_roman} {holder.given_name_roman}".upper()
    assert holder.name_kanji == f"{holder.family_name} {holder.given_name}"
