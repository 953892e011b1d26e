"""The in-process reader behaves like a slot: waits, sessions that end with the card."""

from __future__ import annotations

import threading

import pytest

from kiosk.card.apdu import select_application
from kiosk.card.emulator import MyNumberCardEmulator
from kiosk.card.errors import CardRemovedError
from kiosk.card.layout import JPKI_AID
from kiosk.card.reader import InProcessReader


def test_waiting_for_a_card_inserted_from_another_thread(card: MyNumberCardEmulator) -> None:
    reader = InProcessReader()
    assert not reader.card_present()
    assert not reader.wait_for_card(timeout=0.01)
    inserter = threading.Timer(0.05, reader.insert, args=(card,))
    inserter.start()
    assert reader.wait_for_card(timeout=5)
    inserter.join()
    remover = threading.Timer(0.05, reader.remove)
    remover.start()
    assert reader.wait_for_removal(timeout=5)
    remover.join()
    assert not reader.card_present()


def test_no_session_without_a_card() -> None:
    with pytest.raises(CardRemovedError):
        InProcessReader().connect()
    with pytest.raises(CardRemovedError):
        InProcessReader().transmit(select_application(JPKI_AID))


def test_a_connected_session_exchanges_apdus(card: MyNumberCardEmulator) -> None:
    reader = InProcessReader(card)
    reader.connect()
    assert reader.transmit(select_application(JPKI_AID)).ok
    reader.close()
    with pytest.raises(CardRemovedError):  # closed: connect again first
        reader.transmit(select_application(JPKI_AID))
