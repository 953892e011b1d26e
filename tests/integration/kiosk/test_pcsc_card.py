"""The card routine through the real PC/SC stack: pyscard → pcscd → vpcd → our emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.card_proof import CardChallenge, verify_proof
from kiosk.card import apdu, layout
from kiosk.card.demo_cards import DemoCard, JlisTestCa
from kiosk.card.emulator import MyNumberCardEmulator
from kiosk.card.errors import CardRemovedError, PinLockedError, WrongPinError
from kiosk.card.mynumber import MyNumberCard
from tests.integration.kiosk.pcsc_stack import READER_FRIENDLY_NAME, PcscdAlreadyRunning, PcscStack

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcsc")]

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_reader_is_pcscds_vpcd_reader(pcsc: PcscStack) -> None:
    assert pcsc.reader_name.startswith(READER_FRIENDLY_NAME)
    reader = pcsc.reader()
    try:
        assert not reader.card_present()
    finally:
        reader.close()


def test_pin_sign_and_read_through_pcsc(
    pcsc: PcscStack, card: MyNumberCardEmulator, demo_card: DemoCard, jlis_ca: JlisTestCa
) -> None:
    now = datetime.now(UTC)
    challenge = CardChallenge.new("session-pcsc", now, timedelta(minutes=5))
    pcsc.insert(card)
    reader = pcsc.reader()
    try:
        with MyNumberCard(reader) as mynumber_card:
            mynumber_card.identify()
            assert mynumber_card.pin_status().tries_left == 3
            proof = mynumber_card.prove(demo_card.pin, challenge.challenge)
    finally:
        reader.close()
    assert proof.my_number == demo_card.my_number
    assert proof.basic4 == demo_card.resident.basic4
    crl = jlis_ca.crl(this_update=now - timedelta(minutes=1))
    fingerprint = verify_proof(proof, challenge.challenge, [jlis_ca.certificate], crl, now)
    assert fingerprint == demo_card.certificate_fingerprint


def test_wrong_pins_lock_the_card_and_it_stays_locked_when_reinserted(
    pcsc: PcscStack, card: MyNumberCardEmulator, demo_card: DemoCard
) -> None:
    wrong = "9999" if demo_card.pin != "9999" else "8888"
    pcsc.insert(card)
    reader = pcsc.reader()
    try:
        with MyNumberCard(reader) as mynumber_card:
            with pytest.raises(WrongPinError) as first:
                mynumber_card.prove(wrong, b"c" * 32)
            assert first.value.tries_left == 2
            for _ in range(2):
                with pytest.raises((WrongPinError, PinLockedError)):
                    mynumber_card.prove(wrong, b"c" * 32)
        pcsc.remove()
        pcsc.insert(card)
        with MyNumberCard(reader) as mynumber_card:
            assert mynumber_card.pin_status().locked
    finally:
        reader.close()


def test_card_removal_is_detected(pcsc: PcscStack, card: MyNumberCardEmulator) -> None:
    pcsc.insert(card)
    reader = pcsc.reader()
    try:
        assert reader.card_present()
        reader.connect()
        assert reader.transmit(apdu.select_application(layout.JPKI_AID)).ok
        pcsc.slot.remove()  # the resident pulls the card out
        assert reader.wait_for_removal(timeout=5)
        assert not reader.card_present()
        with pytest.raises(CardRemovedError):
            reader.transmit(apdu.select_application(layout.JPKI_AID))
        pcsc.insert(card)
        assert reader.wait_for_card(timeout=5)
        reader.connect()  # a new session on the reinserted card works
        assert reader.transmit(apdu.select_application(layout.JPKI_AID)).ok
    finally:
        reader.close()


def test_the_command_line_emulator_serves_a_demo_resident(
    pcsc: PcscStack, second_demo_card: DemoCard, card_key_dir: Path
) -> None:
    command = [
        sys.executable, "-m", "kiosk.card.vpcd",
        "--resident-my-number", second_demo_card.my_number,
        "--vpcd-port", hex(pcsc.port),
        "--key-dir", str(card_key_dir),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    emulator = subprocess.Popen(
        command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, text=True
    )
    reader = pcsc.reader()
    try:
        assert emulator.stdout is not None
        announced = emulator.stdout.readline()
        assert second_demo_card.certificate_fingerprint in announced
        assert second_demo_card.my_number not in announced  # shown masked only
        assert reader.wait_for_card(timeout=10)
        with MyNumberCard(reader) as mynumber_card:
            proof = mynumber_card.prove(second_demo_card.pin, b"c" * 32)
        assert proof.my_number == second_demo_card.my_number
        assert proof.auth_certificate == second_demo_card.auth_certificate_der
    finally:
        reader.close()
        emulator.send_signal(signal.SIGTERM)
        assert emulator.wait(timeout=10) == 0
    after = pcsc.reader()
    try:
        assert after.wait_for_removal(timeout=5)  # the emulator took its card out on exit
    finally:
        after.close()


def test_a_second_stack_refuses_while_this_runs_one(pcsc: PcscStack, tmp_path: Path) -> None:
    second = PcscStack(tmp_path, lock_timeout=0.2)
    with pytest.raises(PcscdAlreadyRunning):
        second.start()
    assert second.pid is None  # it started no pcscd
    second.stop()  # and stopping it leaves ours alone
    reader = pcsc.reader()
    try:
        assert reader.name == pcsc.reader_name
    finally:
        reader.close()
