"""The kiosk's operations side: completion notices owed and retried, device faults in
heartbeats, the suspension notice and the out-of-service switch on the start screen,
maintenance sign-in, settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk.card.demo_cards import DemoCard
from kiosk.flow import KioskFlow
from kiosk.maintenance import MAX_FAILURES, MaintenanceSessions, hash_secret
from kiosk.operations import KioskOperations
from kiosk.settings import KioskSettingsError, load_kiosk_settings
from tests.unit.kiosk.test_kiosk_flow import NOON, _to_fee
from tests.unit.kiosk.test_kiosk_flow import kiosk as kiosk  # noqa: F401  (the fixture)


async def test_a_notice_the_server_could_not_take_is_sent_later_and_only_then_marked(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    server = kiosk.server
    await _to_fee(kiosk, demo_card.pin)
    server.issue_then_unreachable = True  # type: ignore[attr-defined]  # gone after issuing
    await kiosk.pay()
    assert kiosk.screen == "done"
    (entry,) = [json.loads(line) for line in (tmp_path / "data" / "issuances.jsonl").open()]
    assert entry["completion_notice"] == "pending"
    (owed,) = kiosk.ops.outbox.pending()
    assert owed["certificate_ids"] == ["C1-131016"] and owed["notice_id"] == entry["notice_id"]
    # Nothing personal is held while the notice waits.
    assert kiosk.transaction.documents == [] and kiosk.transaction.municipalities == []
    assert demo_card.my_number not in json.dumps(owed)

    # A restart: a new operations side on the same folder finds the notice and sends it.
    server.reachable = True  # type: ignore[attr-defined]  # a test double's own attribute
    again = KioskOperations(kiosk.settings, server, lambda: NOON)
    assert len(again.outbox.pending()) == 1
    await again.sync()
    assert again.outbox.pending() == []
    assert list(server.notices) == [entry["notice_id"]]  # type: ignore[attr-defined]  # a test double's own attribute
    (sent,) = [json.loads(line) for line in (tmp_path / "data" / "notices.jsonl").open()]
    assert sent["notice_id"] == entry["notice_id"] and sent["completion_notice"] == "sent"
    await again.sync()  # nothing left: nothing sent twice
    assert len(server.notices) == 1  # type: ignore[attr-defined]  # a test double's own attribute


async def test_a_printer_fault_is_reported_with_the_heartbeat_until_taken(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.printer.fail_next = 1  # type: ignore[attr-defined]  # a test double's own attribute
    kiosk.server.issue_then_unreachable = True  # type: ignore[attr-defined]  # reports wait
    await kiosk.pay()
    assert kiosk.screen == "print_failed"
    assert kiosk.ops.devices["printer"] == "fault"
    (fault,) = kiosk.ops.pending_faults()
    assert fault["device"] == "printer" and "printer.failed" in fault["message"]
    kiosk.server.reachable = True  # type: ignore[attr-defined]  # a test double's own attribute
    assert await kiosk.ops.heartbeat()
    beat = kiosk.server.heartbeats[-1]  # type: ignore[attr-defined]  # a test double's own attribute
    assert beat["devices"]["printer"] == "fault" and beat["faults"] == [fault]
    assert kiosk.ops.pending_faults() == []
    await kiosk.reprint()
    assert kiosk.screen == "done" and kiosk.ops.devices["printer"] == "ok"
    await kiosk.ops.heartbeat()
    assert kiosk.server.heartbeats[-1]["faults"] == []  # type: ignore[attr-defined]  # a test double's own attribute


async def test_a_suspension_learnt_from_the_heartbeat_closes_the_start_screen(
    kiosk: KioskFlow,
) -> None:
    kiosk.server.suspension = {"notice_ja": "点検中", "notice_en": "Check"}  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.ops.heartbeat()
    kiosk.show_start()
    assert kiosk.screen == "unavailable" and kiosk.reason == "kiosk.suspended"
    assert kiosk.ops.suspension_notice("en") == "Check"
    await kiosk.begin()
    assert kiosk.screen == "unavailable"  # nothing offered
    kiosk.server.suspension = None  # type: ignore[attr-defined]  # lifted
    await kiosk.ops.heartbeat()
    kiosk.show_start()
    assert kiosk.screen == "start"


async def test_out_of_service_survives_a_restart_and_closes_the_start_screen(
    kiosk: KioskFlow,
) -> None:
    kiosk.ops.set_out_of_service(True)
    again = KioskOperations(kiosk.settings, kiosk.server, lambda: NOON)
    assert again.out_of_service
    kiosk.show_start()
    assert kiosk.screen == "unavailable" and kiosk.reason == "kiosk.out_of_service"
    kiosk.ops.set_out_of_service(False)
    kiosk.show_start()
    assert kiosk.screen == "start"
    assert kiosk.ops.heartbeat_body()["in_service"] is True


def test_maintenance_sign_in_checks_the_secret_and_locks_after_repeated_failures() -> None:
    sessions = MaintenanceSessions(hash_secret("correct horse"))
    with pytest.raises(ValueError, match="maintenance.wrong_secret"):
        sessions.sign_in("wrong", NOON)
    token = sessions.sign_in("correct horse", NOON)
    assert sessions.valid(token, NOON) and not sessions.valid("forged", NOON)
    assert not sessions.valid(token, NOON.replace(hour=13))  # expired
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(ValueError, match="maintenance.wrong_secret"):
            sessions.sign_in("wrong", NOON)
    with pytest.raises(ValueError, match="maintenance.locked"):
        sessions.sign_in("wrong", NOON)
    with pytest.raises(ValueError, match="maintenance.locked"):
        sessions.sign_in("correct horse", NOON)  # even the right secret, for a while
    assert sessions.sign_in("correct horse", NOON.replace(hour=13))
    with pytest.raises(ValueError, match="maintenance.not_configured"):
        MaintenanceSessions("").sign_in("anything", NOON)
    with pytest.raises(ValueError):
        hash_secret("short")


def test_settings_of_heartbeat_maintenance_and_demo() -> None:
    base = {"VRS_KIOSK_SERVER_URL": "http://x", "VRS_KIOSK_TOKEN": "t", "VRS_KIOSK_STORE_ID": "s"}
    settings = load_kiosk_settings(
        {**base, "VRS_KIOSK_HEARTBEAT_SECONDS": "15", "VRS_KIOSK_DEMO": "1"}
    )
    assert settings.heartbeat_seconds == 15 and settings.demo
    assert settings.maintenance_hash == ""
    with pytest.raises(KioskSettingsError, match="VRS_KIOSK_HEARTBEAT_SECONDS"):
        load_kiosk_settings({**base, "VRS_KIOSK_HEARTBEAT_SECONDS": "0"})
    with pytest.raises(KioskSettingsError, match="argon2"):
        load_kiosk_settings({**base, "VRS_KIOSK_MAINTENANCE_HASH": "plaintext"})


async def test_a_reader_fault_is_noted_and_the_customer_told(kiosk: KioskFlow) -> None:
    from kiosk.card.errors import ReaderUnavailableError

    def unplugged() -> bool:
        raise ReaderUnavailableError("no reader")

    kiosk.reader.card_present = unplugged  # type: ignore[method-assign]  # a test double's method
    await kiosk.begin()
    await kiosk.read_card()
    assert kiosk.screen == "unreadable" and kiosk.reason == "kiosk.reader_fault"
    assert kiosk.ops.devices["reader"] == "fault"
    (fault,) = kiosk.ops.pending_faults()
    assert fault["device"] == "reader"
    assert kiosk.payment.charged == {}  # type: ignore[attr-defined]  # a test double's own attribute
