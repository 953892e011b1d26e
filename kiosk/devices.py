"""The kiosk's payment device and printer, each behind a small interface.

Real and test implementations share the interface: :class:`SimulatedPayment`
(the UI and tests drive it, and can make it fail), :class:`SpoolPrinter` (writes
what would be printed into a folder, and can be told to fail) and
:class:`CupsPrinter` (``lp``). The card reader is :mod:`kiosk.card.reader`.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


class DeviceError(Exception):
    """A device did not do what was asked; ``key`` names the message."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key


# --- payment -----------------------------------------------------------------------------


class PaymentDevice(ABC):
    """Takes the fee and gives it back."""

    @abstractmethod
    def charge(self, amount_yen: int) -> str:
        """Take ``amount_yen``; returns the payment id. Raises :class:`DeviceError`."""

    @abstractmethod
    def refund(self, payment_id: str) -> None:
        """Give a payment back in full."""


@dataclass
class SimulatedPayment(PaymentDevice):
    """A payment device in memory; ``fail_next`` makes the next charge fail (declined)."""

    fail_next: bool = False
    charged: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)

    def charge(self, amount_yen: int) -> str:
        """Take the fee (always succeeds unless told to fail)."""
        if amount_yen <= 0:
            raise DeviceError("payment.invalid_amount", str(amount_yen))
        if self.fail_next:
            self.fail_next = False
            raise DeviceError("payment.declined")
        payment_id = "pay-" + secrets.token_hex(6)
        self.charged[payment_id] = amount_yen
        return payment_id

    def refund(self, payment_id: str) -> None:
        """Give it back; refunding twice or an unknown payment is an error."""
        if payment_id not in self.charged or payment_id in self.refunded:
            raise DeviceError("payment.refund_unknown", payment_id)
        self.refunded[payment_id] = self.charged[payment_id]

    @property
    def net_yen(self) -> int:
        """What the customer paid in the end, over all payments."""
        return sum(self.charged.values()) - sum(self.refunded.values())


# --- printer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintJob:
    """One document to print: a certificate PDF or the receipt."""

    name: str
    data: bytes
    content_type: str = "application/pdf"


class Printer(ABC):
    """Puts documents on paper."""

    @abstractmethod
    def print_jobs(self, jobs: list[PrintJob]) -> None:
        """Print every job or raise :class:`DeviceError` (``printer.failed``)."""


@dataclass
class SpoolPrinter(Printer):
    """Writes each job into ``folder`` (the stand-in for paper); ``fail_next`` fails a run."""

    folder: Path
    fail_next: int = 0

    def print_jobs(self, jobs: list[PrintJob]) -> None:
        """Write the jobs (all or, when failing, none)."""
        if self.fail_next:
            self.fail_next -= 1
            raise DeviceError("printer.failed", "paper jam (simulated)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for job in jobs:
            (self.folder / job.name).write_bytes(job.data)


@dataclass
class CupsPrinter(Printer):
    """Prints through CUPS with ``lp -d <destination>``."""

    destination: str

    def print_jobs(self, jobs: list[PrintJob]) -> None:
        """Hand each job to ``lp``; the temporary file is removed right after."""
        for job in jobs:
            with tempfile.NamedTemporaryFile(suffix=Path(job.name).suffix) as file:
                file.write(job.data)
                file.flush()
                try:
                    result = subprocess.run(
                        ["lp", "-d", self.destination, file.name],
                        capture_output=True,
                        timeout=30,
                        check=False,
                    )
                except (OSError, subprocess.TimeoutExpired) as error:
                    raise DeviceError("printer.failed", type(error).__name__) from None
                if result.returncode != 0:
                    raise DeviceError("printer.failed", f"lp exited {result.returncode}")
