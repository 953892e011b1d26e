"""Put an emulated My Number card into pcscd's virtual reader (vsmartcard vpcd).

vpcd is a pcscd reader driver that listens on a TCP port; the card side is a TCP
client. Connecting is inserting the card, closing is removing it (pcscd notices
within its ~0.4 s poll). Every message both ways is a 2-byte big-endian length and
a payload. From vpcd, a 1-byte payload is a control code — ``00`` power off, ``01``
power on, ``02`` reset, ``04`` get ATR (the only one answered, with the ATR) — and a
longer one is a command APDU, answered data‖SW1SW2 (FORMATS §4).

:class:`VpcdCardSlot` runs the connection in a background thread with
:meth:`~VpcdCardSlot.insert` / :meth:`~VpcdCardSlot.remove` for tests; :func:`main`
is the command line (``python -m kiosk.card.vpcd --resident-my-number ... --vpcd-port
...``) that keeps a demo resident's card inserted. vpcd listens on all interfaces:
it is a test and demo fixture, never part of a kiosk install.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

from kiosk.card.apdu import ResponseApdu, StatusWord
from kiosk.card.emulator import MyNumberCardEmulator

_LOG = logging.getLogger(__name__)

#: vpcd's default port (0x8C7B); our test harness gives each stack its own.
VPCD_DEFAULT_PORT = 0x8C7B

_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0x00, 0x01, 0x02, 0x04


class VpcdCardSlot:
    """The card end of one vpcd reader: insert an emulator, remove it, insert again."""

    def __init__(
        self,
        card: MyNumberCardEmulator | None = None,
        *,
        port: int = VPCD_DEFAULT_PORT,
        host: str = "127.0.0.1",
    ) -> None:
        """Prepare a slot for vpcd at ``host:port``; :meth:`start` inserts ``card``."""
        self.card = card
        self.host = host
        self.port = port
        self.commands_answered = 0  # APDUs (not control codes), for the harness' figures
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VpcdCardSlot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    @property
    def inserted(self) -> bool:
        """Whether the connection to vpcd (the "card in the slot") is up."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Insert the card given at construction."""
        if self.card is None:
            raise ValueError("no card to insert")
        self.insert(self.card, timeout)

    def insert(self, card: MyNumberCardEmulator | None = None, timeout: float = 10.0) -> None:
        """Connect to vpcd with ``card`` (default: the current one), retrying until it listens.

        Raises:
            ConnectionError: vpcd did not accept a connection within ``timeout`` seconds.
        """
        self.remove()
        if card is not None:
            self.card = card
        if self.card is None:
            raise ValueError("no card to insert")
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"vpcd is not listening on {self.host}:{self.port}: {error}"
                    ) from None
                time.sleep(0.05)
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = connection
        self._thread = threading.Thread(
            target=self._serve, args=(connection, self.card), name="vpcd-card", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Close the connection (the card leaves the reader) and wait for the thread."""
        connection, thread = self._socket, self._thread
        self._socket = self._thread = None
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv
            except OSError:
                pass  # vpcd closed first
            connection.close()
        if thread is not None:
            thread.join(timeout=5.0)

    def wait_until_removed(self, timeout: float | None = None) -> bool:
        """Block while the connection lives (vpcd or :meth:`remove` may end it)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.inserted

    # --- the connection thread ---------------------------------------------------------

    def _serve(self, connection: socket.socket, card: MyNumberCardEmulator) -> None:
        try:
            while True:
                header = _receive_exactly(connection, 2)
                if header is None:
                    return
                payload = _receive_exactly(connection, int.from_bytes(header, "big"))
                if payload is None:
                    return
                answer = self._answer(card, payload)
                if answer is not None:
                    connection.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError:
            return  # removed (socket shut down) or vpcd went away: the card is out

    def _answer(self, card: MyNumberCardEmulator, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            code = payload[0]
            if code == _GET_ATR:
                return card.atr
            if code in (_POWER_OFF, _POWER_ON, _RESET):
                card.reset()
            return None  # vpcd expects no answer to the other control codes
        self.commands_answered += 1
        try:
            return card.transmit(payload)
        except Exception:  # a bug in the emulator must not look like a removed card
            _LOG.exception("emulator failed on an APDU")
            return ResponseApdu(b"", StatusWord.NO_DIAGNOSIS).to_bytes()


def _receive_exactly(connection: socket.socket, count: int) -> bytes | None:
    """``count`` bytes, or ``None`` at end of stream.

    TCP_QUICKACK is re-armed before every receive: vpcd writes the length and the
    payload separately, and with delayed ACKs each APDU then waits ~40 ms for the
    ACK of the first write (Nagle on vpcd's side).
    """
    chunks = bytearray()
    while len(chunks) < count:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = connection.recv(count - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


# --- command line ------------------------------------------------------------------------


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.card.vpcd",
        description="Insert a demo resident's emulated My Number card into pcscd's vpcd reader.",
    )
    parser.add_argument(
        "--resident-my-number", required=True, help="12-digit My Number of the card"
    )
    parser.add_argument(
        "--vpcd-port",
        type=lambda text: int(text, 0),
        default=VPCD_DEFAULT_PORT,
        help="vpcd's TCP port (decimal or 0x...; default 0x8C7B)",
    )
    parser.add_argument("--vpcd-host", default="127.0.0.1")
    parser.add_argument(
        "--key-dir",
        type=Path,
        default=Path.home() / ".cache" / "vrs" / "demo-card-keys",
        help="where the test CA's and the cards' RSA keys are cached",
    )
    parser.add_argument("--pin", help="override the demo resident's PIN (4 digits)")
    parser.add_argument(
        "--ca-certificate-out",
        type=Path,
        help="write the test CA certificate (PEM) here for the server to trust",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="exit when vpcd closes the connection instead of reconnecting",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the card emulator until interrupted; returns the process exit status."""
    from cryptography.hazmat.primitives import serialization

    from common.identifiers import IdentifierError
    from kiosk.card.demo_cards import demo_resident, issue_demo_card, load_test_ca

    arguments = _parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        resident = demo_resident(arguments.resident_my_number)
    except IdentifierError as error:
        print(f"--resident-my-number: {error.key}", file=sys.stderr)
        return 2
    ca = load_test_ca(arguments.key_dir)
    card = issue_demo_card(ca, resident, arguments.key_dir)
    if arguments.pin is not None:
        card = card.with_pin(arguments.pin)
    if arguments.ca_certificate_out is not None:
        arguments.ca_certificate_out.write_bytes(
            ca.certificate.public_bytes(serialization.Encoding.PEM)
        )
    try:
        emulator = card.emulator()
    except ValueError as error:
        print(f"--pin: {error}", file=sys.stderr)
        return 2
    # The certificate fingerprint is what the server's linkage table needs; the My Number
    # is shown masked only.
    print(
        f"card for ********{resident.my_number[-4:]}: certificate serial {card.certificate_serial:X}, "
        f"sha256 {card.certificate_fingerprint}",
        flush=True,
    )

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    slot = VpcdCardSlot(emulator, port=arguments.vpcd_port, host=arguments.vpcd_host)
    try:
        while not stopping.is_set():
            try:
                slot.insert(timeout=1.0)
            except ConnectionError:
                continue  # vpcd (pcscd) not up yet: keep trying until stopped
            _LOG.info("card inserted into vpcd at %s:%d", slot.host, slot.port)
            while slot.inserted and not stopping.is_set():
                slot.wait_until_removed(timeout=0.2)
            if arguments.once:
                break
    finally:
        slot.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
