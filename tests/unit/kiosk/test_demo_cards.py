"""The test J-LIS CA and the demo cards: chain, no personal data, determinism, CRL, EF 0003."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from common.identifiers import IdentifierError, my_number_check_digit, parse_my_number
from kiosk.card import layout
from kiosk.card.card_files import encode_basic4, encode_my_number, input_support_signed_part
from kiosk.card.demo_cards import (
    DEMO_RESIDENTS,
    DemoCard,
    JlisTestCa,
    demo_resident,
    issue_demo_card,
    load_or_create_key,
    load_test_ca,
)
from kiosk.card.tlv import iter_tlvs, read_tlv


def test_demo_residents_have_valid_distinct_my_numbers() -> None:
    numbers = [parse_my_number(resident.my_number) for resident in DEMO_RESIDENTS]
    assert len(set(numbers)) == len(numbers)


def test_the_auth_certificate_chains_to_the_ca_and_carries_no_personal_data(
    demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    demo_card.auth_certificate.verify_directly_issued_by(jlis_ca.certificate)
    der = demo_card.auth_certificate_der
    resident = demo_card.resident
    for personal in (resident.my_number, resident.basic4.name, resident.basic4.address):
        assert personal.encode() not in der
        assert personal not in demo_card.auth_certificate.subject.rfc4514_string()


def test_cards_come_out_the_same_from_the_same_key_folder(
    demo_card: DemoCard, card_key_dir: Path
) -> None:
    again = issue_demo_card(load_test_ca(card_key_dir), demo_card.resident, card_key_dir)
    assert again.auth_certificate_der == demo_card.auth_certificate_der
    assert again.certificate_fingerprint == demo_card.certificate_fingerprint


def test_cards_of_different_residents_differ(
    demo_card: DemoCard, second_demo_card: DemoCard
) -> None:
    assert demo_card.certificate_serial != second_demo_card.certificate_serial
    assert demo_card.certificate_fingerprint != second_demo_card.certificate_fingerprint


def test_a_reissued_key_gets_a_new_serial(demo_card: DemoCard, jlis_ca: JlisTestCa) -> None:
    later = jlis_ca.issue_auth_certificate(
        demo_card.auth_key.public_key(),
        not_before=datetime(2029, 4, 1, tzinfo=UTC),
        not_after=datetime(2034, 3, 31, tzinfo=UTC),
    )
    assert later.serial_number != demo_card.certificate_serial


def test_the_crl_lists_what_was_revoked(
    demo_card: DemoCard, second_demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    crl = jlis_ca.crl(
        [second_demo_card.auth_certificate], this_update=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert crl.is_signature_valid(jlis_ca.key.public_key())
    assert (
        crl.get_revoked_certificate_by_serial_number(second_demo_card.certificate_serial)
        is not None
    )
    assert crl.get_revoked_certificate_by_serial_number(demo_card.certificate_serial) is None


def test_ef_0003_is_the_issuers_signature_over_the_hashes(
    demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    content = demo_card.personalisation().input_support_signature
    outer = read_tlv(content)
    assert outer.tag == layout.TAG_SIGNATURE
    elements = {element.tag: element.value for element in iter_tlvs(outer.value)}
    signed = input_support_signed_part(
        encode_my_number(demo_card.my_number), encode_basic4(demo_card.resident.basic4)
    )
    assert signed.startswith(bytes.fromhex("DF3120")) and signed in outer.value
    jlis_ca.key.public_key().verify(
        elements[layout.TAG_SIGNATURE_VALUE], signed, padding.PKCS1v15(), hashes.SHA256()
    )


def test_an_unlisted_my_number_gets_a_generic_resident() -> None:
    number = "22222222222" + my_number_check_digit("22222222222")
    resident = demo_resident(f"{number[:4]}-{number[4:8]}-{number[8:]}")  # as typed on a form
    assert resident.my_number == number
    assert number not in {listed.my_number for listed in DEMO_RESIDENTS}
    with pytest.raises(IdentifierError):
        demo_resident("123456789010")


def test_racing_processes_end_up_with_one_key(tmp_path: Path) -> None:
    keys = []

    def load() -> None:
        keys.append(load_or_create_key(tmp_path, "shared"))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    public = {
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for key in keys
    }
    assert len(public) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["shared.pem"]  # no temporaries left
