"""The kiosk flow state machine: real kiosk code, the real emulator, fake payment/printer/server."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from common.card_proof import CardProof, verify_proof
from common.clock import JAPAN
from kiosk.card.demo_cards import DemoCard, JlisTestCa
from kiosk.card.reader import InProcessReader
from kiosk.devices import SimulatedPayment, SpoolPrinter
from kiosk.flow import KioskFlow
from kiosk.settings import KioskSettings
from kiosk.vrs_client import Challenge, ServerError

NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=JAPAN)


class FakeServer:
    """Stands in for the VRS server: real challenges, proofs checked with the test CA."""

    def __init__(self, ca: JlisTestCa, municipalities: list[dict]) -> None:
        self.ca = ca
        self.municipalities = municipalities
        self.challenges: dict[str, bytes] = {}
        self.issued: list[str] = []
        self.seen_bodies: list[str] = []
        self.fail_issue = False
        self.reachable = True
        self.notices: dict[str, dict] = {}  # recorded once per notice id, as the server does
        self.failures: dict[str, dict] = {}
        self.not_offered: list[dict] = []
        self.asked_for: list[list[str] | None] = []
        self.heartbeats: list[dict] = []
        self.suspension: dict | None = None

    async def challenge(self) -> Challenge:
        session = f"s{len(self.challenges)}"
        self.challenges[session] = bytes([len(self.challenges)]) * 32
        return Challenge(session, self.challenges[session])

    def _check(self, session_id: str, proof: CardProof) -> None:
        now = dt.datetime.now(dt.UTC)
        challenge = self.challenges.pop(session_id)  # single use
        self.seen_bodies.append(json.dumps(proof.to_dict()))
        verify_proof(proof, challenge, [self.ca.certificate], self.ca.crl(this_update=now), now)

    async def preview(self, session_id: str, proof: CardProof) -> tuple[list[dict], list[dict]]:
        self._check(session_id, proof)
        return self.municipalities, self.not_offered

    async def issue(
        self, session_id: str, proof: CardProof, kind: str, municipalities: list[str] | None = None
    ) -> list[dict]:
        self._check(session_id, proof)
        if self.fail_issue:
            raise ServerError("server.unreachable")
        self.issued.append(kind)
        self.asked_for.append(municipalities)
        if getattr(self, "issue_then_unreachable", False):
            self.reachable = False
        return [
            {"municipality_code": m["municipality_code"], "pdf_base64": base64.b64encode(
                b"%PDF-1.7 " + m["municipality_code"].encode()).decode(),
             "certificate_id": f"C{len(self.issued)}-{m['municipality_code']}"}
            for m in self.municipalities
            if municipalities is None or m["municipality_code"] in municipalities
        ]  # fmt: skip

    async def complete(self, notice: dict) -> dict:
        if not self.reachable:
            raise ServerError("server.unreachable")
        self.notices.setdefault(notice["notice_id"], notice)
        return {"recorded": notice["certificate_ids"], "already": []}

    async def fail(self, notice: dict) -> dict:
        if not self.reachable:
            raise ServerError("server.unreachable")
        self.failures.setdefault(notice["notice_id"], notice)
        return {"recorded": notice["certificate_ids"], "already": [], "completed": []}

    async def heartbeat(self, body: dict) -> dict:
        if not self.reachable:
            raise ServerError("server.unreachable")
        self.heartbeats.append(body)
        return {"faults_recorded": len(body["faults"]), "suspension": self.suspension}


CHIYODA = {"municipality_code": "131016", "municipality_name": "千代田区", "passport_data": False,
           "record_name": "デジタル 太郎", "name_matches": True, "contact": "03-0000-0000"}  # fmt: skip
SHINJUKU = {"municipality_code": "131041", "municipality_name": "新宿区", "passport_data": True,
            "record_name": "デジタル 太郎", "name_matches": True, "contact": "03-1111-1111"}  # fmt: skip


@pytest.fixture
def kiosk(tmp_path: Path, jlis_ca: JlisTestCa, card, request):
    municipalities = getattr(request, "param", [CHIYODA])
    settings = KioskSettings(
        server_url="http://vrs.test",
        token="kiosk-token",  # noqa: S106  (a test value)
        store_id="store-1",
        terminal_id="3",
        spool_dir=tmp_path / "spool",
        data_dir=tmp_path / "data",
    )
    reader = InProcessReader()
    flow = KioskFlow(
        settings,
        reader,
        SimulatedPayment(),
        SpoolPrinter(settings.spool_dir),
        FakeServer(jlis_ca, municipalities),  # type: ignore[arg-type]  # a test double for the server
        clock=lambda: NOON,
    )
    flow.card_emulator = card  # type: ignore[attr-defined]  # a test double's own attribute
    return flow


async def _to_pin(flow: KioskFlow) -> None:
    await flow.begin()
    assert flow.screen == "place_card"
    flow.reader.insert(flow.card_emulator)  # type: ignore[attr-defined]  # a test double's own attribute
    await flow.read_card()
    assert flow.screen == "pin" and flow.transaction.tries_left == 3


async def _to_fee(flow: KioskFlow, pin: str) -> None:
    await _to_pin(flow)
    await flow.enter_pin(pin)
    await flow.choose_type("domestic")
    assert flow.screen == "fee"


async def test_domestic_success_prints_certificate_and_receipt(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    assert kiosk.screen == "choose_type"
    await kiosk.choose_type("domestic")
    assert kiosk.screen == "fee" and kiosk.total_fee == 120
    await kiosk.pay()
    assert kiosk.screen == "done"
    printed = sorted(p.name for p in (tmp_path / "spool").iterdir())
    assert len(printed) == 2 and printed[0].endswith("-131016.pdf")
    receipt = next((tmp_path / "spool").glob("*-receipt.txt")).read_text()
    assert "合計 / Total: 120円" in receipt and "store-1" in receipt
    assert demo_card.resident.basic4.name not in receipt
    assert kiosk.payment.net_yen == 120  # type: ignore[attr-defined]  # a test double's own attribute
    assert kiosk.server.issued == ["domestic"]  # type: ignore[attr-defined]  # a test double's own attribute
    # Nothing personal is left on the kiosk, and the PIN never reached the server.
    assert kiosk.transaction.documents == [] and kiosk.transaction.municipalities == []
    assert kiosk.transaction.card is None
    for body in kiosk.server.seen_bodies:  # type: ignore[attr-defined]  # a test double's own attribute
        assert set(json.loads(body)) == {"auth_certificate", "signature", "my_number", "basic4"}
    log = [json.loads(line) for line in (tmp_path / "data" / "issuances.jsonl").open()]
    (notice,) = kiosk.server.notices.values()  # type: ignore[attr-defined]  # a test double's own attribute
    assert notice["certificate_ids"] == ["C1-131016"] and notice["store_id"] == "store-1"
    assert notice["completed_at"] == "2026-12-01T12:00:00+09:00"
    assert notice["terminal_id"] == "3"
    assert log == [
        {
            "issued_at": "2026-12-01T12:00:00+09:00",
            "certificates": 1,
            "fee_yen": 120,
            "kind": "domestic",
            "store_id": "store-1",
            "terminal_id": "3",
            "notice_id": notice["notice_id"],
            "completion_notice": "sent",
        }
    ]
    await kiosk.reset()
    assert kiosk.screen == "start"


@pytest.mark.parametrize("kiosk", [[CHIYODA, SHINJUKU]], indirect=True)
async def test_overseas_is_decided_per_municipality(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    await kiosk.choose_type("overseas")
    # Before: refused outright because 千代田区 lacks passport data.
    assert kiosk.screen == "fee"
    assert [m["municipality_code"] for m in kiosk.chosen()] == ["131041"]
    assert [(m["municipality_code"], m["reason"]) for m in kiosk.unavailable()] == [
        ("131016", "no_passport_data")
    ]
    assert kiosk.total_fee == 120
    await kiosk.toggle("131016")  # not selectable for overseas
    assert kiosk.total_fee == 120
    await kiosk.pay()
    assert kiosk.server.asked_for == [["131041"]]  # type: ignore[attr-defined]  # a test double's own attribute


@pytest.mark.parametrize("kiosk", [[CHIYODA]], indirect=True)
async def test_overseas_without_passport_data_anywhere_is_refused(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    await kiosk.choose_type("overseas")
    assert (kiosk.screen, kiosk.reason) == ("overseas_refused", "card_proof.no_passport_data")


@pytest.mark.parametrize("kiosk", [[CHIYODA, SHINJUKU]], indirect=True)
async def test_the_resident_chooses_which_municipalities_to_buy(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    await kiosk.choose_type("domestic")
    assert kiosk.total_fee == 240
    await kiosk.toggle("131016")  # before: all (240 yen) or nothing
    assert kiosk.total_fee == 120
    await kiosk.toggle("131041")
    await kiosk.pay()
    assert (kiosk.screen, kiosk.reason) == ("fee", "kiosk.none_chosen")
    assert kiosk.payment.net_yen == 0  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.toggle("131016")
    await kiosk.pay()
    assert kiosk.screen == "done"
    assert kiosk.server.asked_for == [["131016"]]  # type: ignore[attr-defined]  # a test double's own attribute
    assert kiosk.payment.net_yen == 120  # type: ignore[attr-defined]  # a test double's own attribute


@pytest.mark.parametrize("kiosk", [[]], indirect=True)
async def test_no_municipality_offered_says_why_for_each(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    kiosk.server.not_offered = [  # type: ignore[attr-defined]  # a test double's own attribute
        {**CHIYODA, "offered": False, "reason": "not_taking_part"},
        {**SHINJUKU, "offered": False, "reason": "identity_mismatch"},
    ]
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    assert (kiosk.screen, kiosk.reason) == ("not_offered", "card_proof.kiosk_not_offered")
    assert [m["reason"] for m in kiosk.unavailable()] == ["not_taking_part", "identity_mismatch"]


@pytest.mark.parametrize("kiosk", [[CHIYODA, SHINJUKU]], indirect=True)
async def test_two_municipalities_cost_240(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin(demo_card.pin)
    await kiosk.choose_type("domestic")
    assert kiosk.total_fee == 240
    await kiosk.pay()
    assert kiosk.screen == "done"
    assert len(list((tmp_path / "spool").glob("*.pdf"))) == 2
    assert kiosk.payment.net_yen == 240  # type: ignore[attr-defined]  # a test double's own attribute


async def test_wrong_pin_three_times_locks_the_card(kiosk: KioskFlow, demo_card: DemoCard) -> None:
    wrong = "0000" if demo_card.pin != "0000" else "1111"
    await _to_pin(kiosk)
    await kiosk.enter_pin(wrong)
    assert (kiosk.screen, kiosk.reason, kiosk.transaction.tries_left) == (
        "pin",
        "kiosk.pin_wrong",
        2,
    )
    await kiosk.enter_pin(wrong)
    assert kiosk.transaction.tries_left == 1
    await kiosk.enter_pin(wrong)
    assert kiosk.screen == "locked"
    # Even the right PIN does not help now, and the locked card is said so on reading.
    await kiosk.reset()
    await kiosk.begin()
    await kiosk.read_card()
    assert kiosk.screen == "locked"
    assert kiosk.payment.charged == {}  # type: ignore[attr-defined]  # a test double's own attribute


async def test_pin_format_is_checked_before_the_card(kiosk: KioskFlow) -> None:
    await _to_pin(kiosk)
    await kiosk.enter_pin("12")
    assert (kiosk.screen, kiosk.reason, kiosk.transaction.tries_left) == (
        "pin",
        "kiosk.pin_format",
        3,
    )


async def test_outside_service_hours_is_unavailable(kiosk: KioskFlow) -> None:
    kiosk.clock = lambda: dt.datetime(2026, 12, 1, 23, 0, tzinfo=JAPAN)
    kiosk.show_start()
    assert (kiosk.screen, kiosk.reason) == ("unavailable", "kiosk.outside_hours")
    await kiosk.begin()
    assert kiosk.screen == "unavailable"
    kiosk.clock = lambda: dt.datetime(2026, 12, 1, 6, 30, tzinfo=JAPAN)
    kiosk.show_start()
    assert kiosk.screen == "start"


async def test_card_removed_mid_flow_aborts_without_charge(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.reader.remove()  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.check_card()
    assert kiosk.screen == "aborted"
    await kiosk.pay()
    assert kiosk.payment.charged == {}  # type: ignore[attr-defined]  # a test double's own attribute
    assert kiosk.server.issued == []  # type: ignore[attr-defined]  # a test double's own attribute


async def test_unreadable_card_gets_the_service_terms_message(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    from kiosk.card import layout

    broken = demo_card.emulator(
        file_contents={(layout.JPKI_AID, layout.JPKI_AUTH_CERTIFICATE): b"\x30\x82"}
    )
    await kiosk.begin()
    kiosk.reader.insert(broken)  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.read_card()
    # SELECT works on this card; its certificate is broken: refused when the PIN is used.
    await kiosk.enter_pin(demo_card.pin)
    assert (kiosk.screen, kiosk.reason) == ("unreadable", "kiosk.card_unreadable")


async def test_printer_failure_after_payment_offers_reprint_or_refund(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.printer.fail_next = 2  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.pay()
    assert (kiosk.screen, kiosk.reason) == ("print_failed", "printer.failed")
    await kiosk.reprint()
    assert kiosk.screen == "print_failed"
    await kiosk.refund()
    assert kiosk.screen == "refunded"
    assert kiosk.payment.net_yen == 0  # type: ignore[attr-defined]  # a test double's own attribute
    assert not (tmp_path / "spool").exists()
    assert kiosk.transaction.documents == []
    # Before: the certificates stayed valid and no result was recorded (terms 第7条6).
    (failure,) = kiosk.server.failures.values()  # type: ignore[attr-defined]  # a test double's own attribute
    assert failure["certificate_ids"] == ["C1-131016"] and failure["reason"] == "print_failed"
    assert "completed_at" not in failure and failure["failed_at"]
    log = [
        json.loads(line)
        for line in (tmp_path / "data" / "issuances.jsonl").read_text().splitlines()
    ]
    assert log[-1]["reason"] == "print_failed" and log[-1]["failure_notice"] == "sent"


async def test_a_failure_result_waits_in_the_outbox_when_the_server_is_away(
    kiosk: KioskFlow, demo_card: DemoCard
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.printer.fail_next = 1  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.pay()
    kiosk.server.reachable = False  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.reset()  # the resident walks away: refunded, the failure owed
    assert kiosk.server.failures == {}  # type: ignore[attr-defined]  # a test double's own attribute
    (pending,) = kiosk.ops.outbox.pending()
    assert pending["reason"] == "refunded"
    kiosk.server.reachable = True  # type: ignore[attr-defined]  # a test double's own attribute
    assert (await kiosk.ops.outbox.send_pending())["sent"] == 1
    assert len(kiosk.server.failures) == 1  # type: ignore[attr-defined]  # a test double's own attribute


async def test_printer_failure_then_reprint_prints_once_charged_once(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.printer.fail_next = 1  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.pay()
    await kiosk.reprint()
    assert kiosk.screen == "done"
    assert len(list((tmp_path / "spool").glob("*.pdf"))) == 1
    assert kiosk.payment.net_yen == 120  # type: ignore[attr-defined]  # a test double's own attribute


async def test_server_failure_after_payment_refunds(kiosk: KioskFlow, demo_card: DemoCard) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.server.fail_issue = True  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.pay()
    assert (kiosk.screen, kiosk.reason) == ("server_error", "server.unreachable")
    assert kiosk.payment.net_yen == 0  # type: ignore[attr-defined]  # a test double's own attribute


async def test_idle_goes_back_to_start(kiosk: KioskFlow) -> None:
    await _to_pin(kiosk)
    kiosk.clock = lambda: NOON + dt.timedelta(seconds=61)
    await kiosk.idle_check()
    assert kiosk.screen == "start" and kiosk.transaction.card is None


async def test_restart_mid_transaction_refunds_the_open_payment(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    kiosk.printer.fail_next = 1  # type: ignore[attr-defined]  # a test double's own attribute
    await kiosk.pay()
    marker = tmp_path / "data" / "open-transaction.json"
    assert kiosk.payment.net_yen == 120 and marker.exists()  # type: ignore[attr-defined]  # a test double's own attribute
    assert demo_card.my_number not in marker.read_text()
    # The kiosk restarts here: a new flow on the same devices and data folder.
    restarted = KioskFlow(
        kiosk.settings, InProcessReader(), kiosk.payment, kiosk.printer, kiosk.server
    )
    assert restarted.recover() == "refunded"
    assert kiosk.payment.net_yen == 0  # type: ignore[attr-defined]  # a test double's own attribute
    assert not marker.exists() and restarted.recover() is None
    assert "refunded" in (tmp_path / "data" / "recoveries.jsonl").read_text()
    # The issued, unprinted certificate is voided: its failure result waits to be sent.
    (owed,) = restarted.ops.outbox.pending()
    assert owed["certificate_ids"] == ["C1-131016"] and owed["reason"] == "refunded"


async def test_a_printed_transaction_leaves_nothing_to_recover(
    kiosk: KioskFlow, demo_card: DemoCard, tmp_path: Path
) -> None:
    await _to_fee(kiosk, demo_card.pin)
    await kiosk.pay()
    assert not (tmp_path / "data" / "open-transaction.json").exists()
    assert kiosk.recover() is None
