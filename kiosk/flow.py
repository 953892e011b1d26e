"""The kiosk's transaction as a state machine: one screen, one decision at a time.

Screens: ``start`` → ``place_card`` → ``pin`` → ``choose_type`` → ``fee`` (the resident
chooses the municipalities to buy, seeing each one's name on record and fee, and why
any other is not offered) → (pay, issue, print) → ``done`` → ``start``; on the way
``not_offered`` (no municipality issues here, each with why), ``unavailable`` (outside hours),
``unreadable`` (not a usable card), ``locked`` (visit the municipal office),
``overseas_refused``, ``print_failed`` (reprint or refund: a refund reports the failure,
so the server voids the certificates), ``aborted`` (card removed: nothing charged, or
refunded), ``server_error``.

The PIN goes to the card only (:class:`~kiosk.card_session.HeldCard`); it is never
stored, logged or sent to the server. What the card yields and the PDFs live in
memory only for the transaction and are dropped at its end. The issuance log
holds dates, times, counts and fees, no personal data.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from common.clock import JAPAN, now_in_japan
from kiosk.card.errors import (
    CardError,
    CardRemovedError,
    PinLockedError,
    ReaderUnavailableError,
    WrongPinError,
)
from kiosk.card.reader import CardReader
from kiosk.card_session import HeldCard
from kiosk.devices import DeviceError, PaymentDevice, Printer, PrintJob
from kiosk.operations import KioskOperations
from kiosk.settings import KioskSettings
from kiosk.vrs_client import ServerError, VrsClient

_LOG = logging.getLogger("kiosk.flow")
T = TypeVar("T")

KINDS = ("domestic", "overseas")


@dataclass
class Transaction:
    """What one customer's visit holds; dropped by :meth:`KioskFlow.reset`."""

    id: str = field(default_factory=lambda: secrets.token_hex(4))
    card: HeldCard | None = None
    tries_left: int = 3
    municipalities: list[dict[str, Any]] = field(default_factory=list)
    """The municipalities the server offers (each with the name as it records it)."""
    not_offered: list[dict[str, Any]] = field(default_factory=list)
    """The others, each with why not and whom to contact."""
    chosen: set[str] = field(default_factory=set)
    """The municipality codes the resident buys (all offered ones at first)."""
    kind: str = "domestic"
    payment_id: str | None = None
    fee_yen: int = 0
    documents: list[PrintJob] = field(default_factory=list)
    printed: bool = False
    refunded: bool = False
    certificate_ids: list[str] = field(default_factory=list)


class KioskFlow:
    """One kiosk terminal's screens and devices."""

    def __init__(
        self,
        settings: KioskSettings,
        reader: CardReader,
        payment: PaymentDevice,
        printer: Printer,
        server: VrsClient,
        clock: Callable[[], dt.datetime] = now_in_japan,
        operations: KioskOperations | None = None,
    ) -> None:
        """Wire the flow to its devices, the server and the operations side."""
        self.settings = settings
        self.reader = reader
        self.payment = payment
        self.printer = printer
        self.server = server
        self.clock = clock
        self.screen = "start"
        self.reason: str | None = None
        self.transaction = Transaction()
        self.last_activity = clock()
        self._card_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-card")
        self.ops = operations or KioskOperations(settings, server, clock)
        self._reports: set[asyncio.Task[bool]] = set()

    # --- helpers ------------------------------------------------------------------------

    async def _card(self, call: Callable[[], T]) -> T:
        """Run a blocking card call on the one card thread (PC/SC contexts like that)."""
        return await asyncio.wrap_future(self._card_thread.submit(call))

    def _go(self, screen: str, reason: str | None = None) -> None:
        self.screen = screen
        self.reason = reason
        self.last_activity = self.clock()

    def _report_fault(self, device: str, message: str) -> None:
        """Note a device fault and report it to the server now (in the background)."""
        self.ops.fault(device, message)
        try:
            task = asyncio.get_running_loop().create_task(self.ops.heartbeat())
        except RuntimeError:
            return  # no loop: the next heartbeat reports it
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _learn_suspension(self, error: ServerError) -> bool:
        """A refusal because kiosk issuance is suspended: fetch the notice; ``True`` if so."""
        if not error.code.startswith("suspension."):
            return False
        if not await self.ops.heartbeat() or self.ops.suspension is None:
            self.ops.suspension = {"notice_ja": error.detail, "notice_en": ""}
        return True

    def unavailable_reason(self) -> str | None:
        """Why the service is unavailable now: suspended, out of service, outside hours."""
        if self.ops.suspension:
            return "kiosk.suspended"
        if self.ops.out_of_service:
            return "kiosk.out_of_service"
        if not self.in_service_hours():
            return "kiosk.outside_hours"
        return None

    def in_service_hours(self) -> bool:
        """Whether the kiosk's own service hours include now (JST)."""
        now = self.clock().astimezone(JAPAN).time().replace(tzinfo=None)
        return self.settings.hours_start <= now < self.settings.hours_end

    def selectable(self) -> list[dict[str, Any]]:
        """The offered municipalities that can issue the chosen kind (overseas: with passport
        data in their own issuance history)."""
        overseas = self.transaction.kind == "overseas"
        return [m for m in self.transaction.municipalities if m["passport_data"] or not overseas]

    def unavailable(self) -> list[dict[str, Any]]:
        """The municipalities not offered for the chosen kind, each with its reason."""
        overseas = self.transaction.kind == "overseas"
        lacking = [
            {**m, "reason": "no_passport_data"}
            for m in self.transaction.municipalities
            if overseas and not m["passport_data"]
        ]
        return [*self.transaction.not_offered, *lacking]

    def chosen(self) -> list[dict[str, Any]]:
        """The municipalities the resident buys."""
        return [m for m in self.selectable() if m["municipality_code"] in self.transaction.chosen]

    @property
    def certificate_count(self) -> int:
        """Certificates this transaction would issue (one per chosen municipality)."""
        return len(self.chosen())

    @property
    def total_fee(self) -> int:
        """The fee for them, tax included."""
        return self.settings.fee_yen * self.certificate_count

    async def _drop_card(self) -> None:
        card = self.transaction.card
        self.transaction.card = None
        if card is not None:
            try:
                await self._card(card.forget)
            except CardError:
                pass

    async def _abort_card_removed(self) -> None:
        await self._refund_if_paid()
        await self._drop_card()
        self._erase()
        self._go("aborted")

    async def _refund_if_paid(self, reason: str = "refunded") -> None:
        transaction = self.transaction
        if transaction.payment_id and not transaction.printed and not transaction.refunded:
            self.payment.refund(transaction.payment_id)
            transaction.refunded = True
            self._settled()
            _LOG.info("refund", extra={"fee_yen": transaction.fee_yen})
            if transaction.certificate_ids:
                await self._report_failure(reason)

    async def _report_failure(self, reason: str) -> None:
        """Kiosk terms 第7条6: the result of a failed sale, so its certificates are voided.

        Kept in the outbox like a completion notice (sent again until the server has it).
        """
        notice = self.ops.outbox.add(
            self.settings.store_id, self.settings.terminal_id, self.clock().astimezone(JAPAN),
            self.transaction.certificate_ids, failure=reason,
        )  # fmt: skip
        outcome = await self.ops.outbox.send(notice)
        self._log_failure(
            len(self.transaction.certificate_ids), notice["notice_id"], reason, outcome
        )

    # --- the open transaction, kept on disk so that a restart settles it ------------------

    @property
    def _marker(self) -> Path:
        return Path(self.settings.data_dir) / "open-transaction.json"

    def _opened(self) -> None:
        """Note the payment before anything else happens, and the certificate ids once issued
        (no personal data), so a restart refunds it and voids what was not printed."""
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._marker.write_text(
            json.dumps(
                {
                    "payment_id": self.transaction.payment_id,
                    "fee_yen": self.transaction.fee_yen,
                    "paid_at": self.clock().isoformat(timespec="seconds"),
                    "certificate_ids": self.transaction.certificate_ids,
                }
            )
        )

    def _settled(self) -> None:
        self._marker.unlink(missing_ok=True)

    def recover(self) -> str | None:
        """At start-up: a payment left open by a restart is refunded (never paid, no paper).

        Returns what was done (``"refunded"``, ``"refund_failed"``) or ``None``.
        """
        if not self._marker.exists():
            return None
        issued: list[str] = []
        try:
            open_payment = json.loads(self._marker.read_text())
            issued = [str(i) for i in open_payment.get("certificate_ids") or []]
            self.payment.refund(str(open_payment["payment_id"]))
            outcome = "refunded"
        except (ValueError, KeyError, DeviceError):
            outcome = "refund_failed"
        if issued and outcome == "refunded":
            # Issued, not printed, refunded: the failure result is owed (sent with the
            # pending notices at start), so the server voids those certificates.
            self.ops.outbox.add(
                self.settings.store_id, self.settings.terminal_id, self.clock().astimezone(JAPAN),
                issued, failure="refunded",
            )  # fmt: skip
        entry = {"recovered_at": self.clock().isoformat(timespec="seconds"), "outcome": outcome}
        _LOG.warning("open transaction settled at start-up", extra=entry)
        with (self._marker.parent / "recoveries.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        self._settled()
        return outcome

    def _erase(self) -> None:
        """Forget the PDFs and every personal datum of the transaction."""
        self.transaction.documents = []
        self.transaction.municipalities = []
        self.transaction.not_offered = []
        self.transaction.chosen = set()
        self.transaction.certificate_ids = []

    # --- screens ------------------------------------------------------------------------

    async def reset(self) -> None:
        """Back to the start screen; whatever the transaction held is dropped."""
        await self._refund_if_paid()
        await self._drop_card()
        self._erase()
        self.transaction = Transaction()
        self._go("start")

    async def idle_check(self) -> None:
        """Go back to the start when nobody touched the screen for the idle time."""
        idle = (self.clock() - self.last_activity).total_seconds()
        if self.screen not in ("start", "unavailable") and idle > self.settings.idle_seconds:
            await self.reset()

    def show_start(self) -> None:
        """The start screen, or why the service is unavailable."""
        if self.screen in ("start", "unavailable"):
            reason = self.unavailable_reason()
            if reason is None:
                self._go("start")
            else:
                self._go("unavailable", reason)

    async def begin(self) -> None:
        """The customer touched start."""
        reason = self.unavailable_reason()
        if reason is not None:
            self._go("unavailable", reason)
            return
        self.transaction = Transaction()
        self._go("place_card")

    async def read_card(self) -> None:
        """The card is in the reader: identify it and show the PIN pad with tries left."""
        if self.screen != "place_card":
            return
        try:
            present = await self._card(self.reader.card_present)
        except ReaderUnavailableError as error:
            self._report_fault("reader", error.key)
            self._go("unreadable", "kiosk.reader_fault")
            return
        if not present:
            self._go("place_card", "kiosk.no_card")
            return
        self.ops.device_ok("reader")
        card = HeldCard(self.reader)
        try:
            await self._card(card.connect)
            await self._card(card.identify)
            status = await self._card(card.pin_status)
        except CardRemovedError:
            self._go("place_card", "kiosk.no_card")
            return
        except CardError as error:
            _LOG.info("card unreadable", extra={"reason": error.key})
            await self._card(card.disconnect)
            self._go("unreadable", "kiosk.card_unreadable")
            return
        self.transaction.card = card
        self.transaction.tries_left = status.tries_left
        if status.locked:
            await self._drop_card()
            self._go("locked")
            return
        self._go("pin")

    async def enter_pin(self, pin: str) -> None:
        """Verify the PIN on the card, prove it to the server, see what can be issued."""
        card = self.transaction.card
        if card is None or self.screen != "pin":
            return
        if len(pin) != 4 or not pin.isdigit():
            self._go("pin", "kiosk.pin_format")
            return
        try:
            challenge = await self.server.challenge()
            proof = await self._card(lambda: card.unlock(pin, challenge.challenge))
        except WrongPinError as error:
            self.transaction.tries_left = error.tries_left
            self._go("pin", "kiosk.pin_wrong")
            return
        except PinLockedError:
            self.transaction.tries_left = 0
            await self._drop_card()
            self._go("locked")
            return
        except CardRemovedError:
            await self._abort_card_removed()
            return
        except CardError:
            await self._drop_card()
            self._go("unreadable", "kiosk.card_unreadable")
            return
        except ServerError as error:
            await self._server_refused(error)
            return
        try:
            offered, others = await self.server.preview(challenge.session_id, proof)
        except ServerError as error:
            await self._server_refused(error)
            return
        self.transaction.municipalities = offered
        self.transaction.not_offered = others
        self.transaction.chosen = {m["municipality_code"] for m in offered}
        if not offered:
            # None issues here: say why for each (closed, not taking part, identity…).
            await self._drop_card()
            self._go("not_offered", "card_proof.kiosk_not_offered")
            return
        self._go("choose_type")

    async def _server_refused(self, error: ServerError) -> None:
        await self._refund_if_paid()
        await self._drop_card()
        self._erase()
        if await self._learn_suspension(error):
            self._go("unavailable", "kiosk.suspended")
        else:
            self._go("server_error", error.code)

    async def choose_type(self, kind: str) -> None:
        """Domestic or overseas. Overseas is decided per municipality: those without passport
        data in their own issuance history are not offered (and the fee screen says so)."""
        if self.screen not in ("choose_type", "overseas_refused") or kind not in KINDS:
            return
        if not await self._card_still_there():
            return
        if kind == "overseas" and not any(
            m["passport_data"] for m in self.transaction.municipalities
        ):
            self._go("overseas_refused", "card_proof.no_passport_data")
            return
        self.transaction.kind = kind
        self._go("fee")

    async def toggle(self, code: str) -> None:
        """Buy, or not, the certificate of one offered municipality (fee screen)."""
        if self.screen != "fee":
            return
        if not any(m["municipality_code"] == code for m in self.selectable()):
            return
        self.transaction.chosen ^= {code}
        self._go("fee")

    async def _card_still_there(self) -> bool:
        try:
            if await self._card(self.reader.card_present):
                return True
        except CardError:
            pass
        await self._abort_card_removed()
        return False

    async def check_card(self) -> None:
        """Polled by the screens: a card pulled mid-flow aborts the transaction."""
        if self.transaction.card is not None and self.screen in (
            "pin",
            "choose_type",
            "overseas_refused",
            "fee",
        ):
            await self._card_still_there()

    async def pay(self) -> None:
        """Take the fee, have the server issue, print; a print failure offers reprint/refund."""
        transaction = self.transaction
        card = transaction.card
        if self.screen != "fee" or card is None:
            return
        if not await self._card_still_there():
            return
        if not self.chosen():
            self._go("fee", "kiosk.none_chosen")
            return
        transaction.fee_yen = self.total_fee
        try:
            transaction.payment_id = self.payment.charge(transaction.fee_yen)
        except DeviceError as error:
            if error.key != "payment.declined":
                self._report_fault("payment", error.key)
            self._go("fee", error.key)
            return
        self.ops.device_ok("payment")
        self._opened()
        try:
            challenge = await self.server.challenge()
            proof = await self._card(lambda: card.prove_again(challenge.challenge))
            certificates = await self.server.issue(
                challenge.session_id, proof, transaction.kind,
                [m["municipality_code"] for m in self.chosen()],
            )  # fmt: skip
        except CardRemovedError:
            await self._abort_card_removed()
            return
        except ServerError as error:
            await self._server_refused(error)
            return
        except CardError:
            await self._refund_if_paid()
            await self._drop_card()
            self._go("server_error", "kiosk.card_unreadable")
            return
        await self._drop_card()  # the card is not needed any more: the resident may take it
        transaction.certificate_ids = [
            str(c["certificate_id"]) for c in certificates if c.get("certificate_id")
        ]
        self._opened()  # the marker now names what a restart must void
        stamp = self.clock().strftime("%Y%m%d%H%M%S")
        transaction.documents = [
            PrintJob(
                f"{stamp}-{transaction.id}-{index}-{certificate['municipality_code']}.pdf",
                base64.b64decode(certificate["pdf_base64"]),
            )
            for index, certificate in enumerate(certificates, 1)
        ]
        transaction.documents.append(
            PrintJob(
                f"{stamp}-{transaction.id}-receipt.txt",
                self.receipt(len(certificates)).encode(),
                "text/plain",
            )
        )
        await self._print()

    async def _print(self) -> None:
        transaction = self.transaction
        try:
            self.printer.print_jobs(transaction.documents)
        except DeviceError as error:
            _LOG.warning("print failed", extra={"reason": error.key})
            self._report_fault("printer", f"{error.key}: {error}")
            self._go("print_failed", error.key)
            return
        self.ops.device_ok("printer")
        transaction.printed = True
        self._settled()
        completed_at = self.clock().astimezone(JAPAN)
        notice = self.ops.outbox.add(
            self.settings.store_id, self.settings.terminal_id, completed_at,
            transaction.certificate_ids,
        )  # fmt: skip
        outcome = await self.ops.outbox.send(notice)
        self._log_issuance(len(transaction.documents) - 1, notice["notice_id"], outcome)
        self._erase()  # the notice is sent (or kept without personal data): forget the rest
        self._go("done")

    async def reprint(self) -> None:
        """Try the printer again after a failure."""
        if self.screen == "print_failed":
            await self._print()

    async def refund(self) -> None:
        """Give the fee back after a print failure; the papers are not printed, so their
        certificates are voided (a failure result to the server)."""
        if self.screen == "print_failed":
            await self._refund_if_paid("print_failed")
            self._erase()
            self._go("refunded")

    # --- records without personal data ------------------------------------------------

    def receipt(self, count: int) -> str:
        """The receipt (領収書): store, terminal, time, count, fee; no personal data."""
        now = self.clock().astimezone(JAPAN)
        kind = "国内用 domestic" if self.transaction.kind == "domestic" else "海外用 overseas"
        return "\n".join(
            [
                "領収書 / Receipt",
                "新型コロナウイルス感染症予防接種証明書 / Vaccination certificate",
                f"種類 / Type: {kind}",
                f"店舗 / Store: {self.settings.store_id}  端末 / Terminal: "
                f"{self.settings.terminal_id}",
                f"日時 / Date: {now:%Y-%m-%d %H:%M}",
                f"{self.settings.fee_yen}円 × {count}",
                f"合計 / Total: {self.settings.fee_yen * count}円（税込 / tax included）",
                "",
            ]
        )

    def _log_failure(self, count: int, notice_id: str, reason: str, notice: str) -> None:
        """The kiosk's issuance log: a failed sale (no personal data)."""
        entry = {
            "failed_at": self.clock().astimezone(JAPAN).isoformat(timespec="seconds"),
            "certificates": count,
            "fee_yen": self.transaction.fee_yen,
            "refunded": True,
            "reason": reason,
            "store_id": self.settings.store_id,
            "terminal_id": self.settings.terminal_id,
            "notice_id": notice_id,
            "failure_notice": notice,
        }
        _LOG.warning("sale failed", extra=entry)
        folder = Path(self.settings.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "issuances.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def _log_issuance(self, count: int, notice_id: str, notice: str) -> None:
        """The kiosk's issuance log (date, time, count, fee) and its completion notice.

        ``completion_notice`` is ``sent`` when the server recorded it right away,
        ``pending`` when it is owed (sent later from :mod:`kiosk.outbox`, which logs it
        in ``notices.jsonl``) or ``refused``.
        """
        entry = {
            "issued_at": self.clock().astimezone(JAPAN).isoformat(timespec="seconds"),
            "certificates": count,
            "fee_yen": self.transaction.fee_yen,
            "kind": self.transaction.kind,
            "store_id": self.settings.store_id,
            "terminal_id": self.settings.terminal_id,
            "notice_id": notice_id,
            "completion_notice": notice,
        }
        _LOG.info("issuance", extra=entry)
        folder = Path(self.settings.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "issuances.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
