"""``vrs card-emulator``: the emulated card on its own, read through the real PC/SC stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.card.demo_cards import DemoCard
from kiosk.card.mynumber import MyNumberCard
from tests.integration.kiosk.pcsc_stack import PcscStack

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcsc")]

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_vrs_card_emulator_serves_the_card_to_pyscard(
    pcsc: PcscStack, demo_card: DemoCard, card_key_dir: Path
) -> None:
    command = [
        sys.executable, "-m", "cli", "card-emulator",
        "--resident", demo_card.my_number,
        "--vpcd-port", str(pcsc.port),
        "--key-dir", str(card_key_dir),
    ]  # fmt: skip
    emulator = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = pcsc.reader()
    try:
        assert emulator.stdout is not None
        announced = emulator.stdout.readline()
        assert demo_card.certificate_fingerprint in announced, emulator.stderr
        assert demo_card.my_number not in announced
        assert reader.wait_for_card(timeout=10)
        with MyNumberCard(reader) as card:
            proof = card.prove(demo_card.pin, b"k" * 32)
        assert proof.my_number == demo_card.my_number
        assert proof.auth_certificate == demo_card.auth_certificate_der
    finally:
        reader.close()
        emulator.send_signal(signal.SIGTERM)
        assert emulator.wait(timeout=10) == 0
    after = pcsc.reader()
    try:
        assert after.wait_for_removal(timeout=5)
    finally:
        after.close()


def test_vrs_card_emulator_refuses_a_malformed_resident(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "card-emulator", "--resident", "123456789012",
         "--vpcd-port", "1", "--key-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2  # a wrong check digit: named, nothing started
    assert "--resident-my-number" in result.stderr
