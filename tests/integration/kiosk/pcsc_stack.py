"""The real PC/SC stack for tests: our own pcscd, its vpcd reader, our emulator as the card.

pyscard → pcscd → vpcd driver → TCP → :class:`kiosk.card.vpcd.VpcdCardSlot` →
:class:`kiosk.card.emulator.MyNumberCardEmulator`. :class:`PcscStack` writes a reader
config for vpcd alone in its own folder (pcscd reads every file there), starts
``pcscd --foreground -c <folder>`` with its log outside that folder, waits until the
reader is listed, and at the end stops exactly the process it started.

There is one pcscd per machine (``/run/pcscd/pcscd.comm``), so:

- a pcscd that is not ours makes :meth:`PcscStack.start` raise
  :class:`PcscdAlreadyRunning` (the fixture turns it into a skip, or a failure in CI);
- a file lock keeps two test runs on this machine from starting theirs at once;
- tests using the stack are marked ``pcsc`` and ``xdist_group("pcsc")`` so that under
  ``pytest -n 2 --dist loadgroup`` they all run in one worker.

Reusable by other suites (the kiosk's Playwright tests) through
:func:`running_pcsc_stack`: ``insert(card)``, ``remove()``, ``reader_name``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from kiosk.card.emulator import MyNumberCardEmulator
from kiosk.card.errors import ReaderUnavailableError
from kiosk.card.reader import PcscReader
from kiosk.card.vpcd import VpcdCardSlot

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_FRIENDLY_NAME = "Virtual PCD"
#: Held while a test run owns the machine's pcscd.
LOCK_FILE = Path(tempfile.gettempdir()) / "vrs-tests-pcscd.lock"

_START_TIMEOUT = 10.0
_LOCK_TIMEOUT = 60.0
#: pcscd polls vpcd about every 0.4 s; give insertion and removal a few rounds.
CARD_EVENT_TIMEOUT = 5.0


class PcscStackError(RuntimeError):
    """The stack could not be set up (pcscd died, the reader never appeared, ...)."""


class PcscdAlreadyRunning(PcscStackError):
    """Another pcscd (not ours) holds the machine's PC/SC socket."""


def free_tcp_port() -> int:
    """A TCP port free on all interfaces now (vpcd binds 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _foreign_pcscd() -> str | None:
    """A description of a running pcscd that answers on the machine socket, if any."""
    if not PCSCD_SOCKET.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(PCSCD_SOCKET))
        except OSError:
            return None  # a stale socket; pcscd replaces it on start
    pid = PCSCD_PID_FILE.read_text().strip() if PCSCD_PID_FILE.exists() else "unknown"
    return f"pid {pid}"


class PcscStack:
    """One pcscd with one vpcd reader, and the slot that puts emulated cards into it."""

    def __init__(
        self, workdir: Path, port: int | None = None, lock_timeout: float = _LOCK_TIMEOUT
    ) -> None:
        """Prepare a stack under ``workdir`` (config folder and log go there).

        ``lock_timeout`` is how long to wait for another test run to finish with pcscd.
        """
        self.workdir = workdir
        self.lock_timeout = lock_timeout
        self.port = port or free_tcp_port()
        self.config_dir = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.slot = VpcdCardSlot(port=self.port)
        self.reader_name = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock: IO[bytes] | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start pcscd and wait until it lists the vpcd reader.

        Raises:
            PcscdAlreadyRunning: another pcscd runs, or another test run holds the lock.
            PcscStackError: pcscd did not come up (its log is in the message).
        """
        self._acquire_lock()
        try:
            foreign = _foreign_pcscd()
            if foreign is not None:
                raise PcscdAlreadyRunning(
                    f"a pcscd that is not this test run's is running ({foreign}); stop it "
                    "(systemctl stop pcscd.socket pcscd) to run the PC/SC tests"
                )
            self._write_config()
            self._log = self.log_path.open("wb")
            # Never pass -a/--apdu: pcscd would write every VERIFY, PIN included, to the log.
            self._process = subprocess.Popen(
                ["pcscd", "--foreground", "--config", str(self.config_dir)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.reader_name = self._wait_for_reader()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Remove the card, stop the pcscd this stack started (that PID only), free the lock."""
        self.slot.remove()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    @property
    def pid(self) -> int | None:
        """The PID of our pcscd while it runs."""
        return self._process.pid if self._process is not None else None

    # --- cards ----------------------------------------------------------------------------

    def insert(self, card: MyNumberCardEmulator, wait: bool = True) -> None:
        """Insert ``card``; with ``wait``, return once pcscd reports it present."""
        self.slot.insert(card)
        if wait:
            self._wait_for_card_state(present=True)

    def remove(self, wait: bool = True) -> None:
        """Remove the card; with ``wait``, return once pcscd reports the reader empty."""
        was_inserted = self.slot.inserted
        self.slot.remove()
        if wait and was_inserted:
            self._wait_for_card_state(present=False)

    def reader(self) -> PcscReader:
        """A new PC/SC reader on the vpcd slot (close it when done)."""
        return PcscReader(self.reader_name)

    def log_tail(self, lines: int = 20) -> str:
        """The end of pcscd's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # --- helpers --------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        self._lock = LOCK_FILE.open("wb")
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    self._lock.close()
                    self._lock = None
                    raise PcscdAlreadyRunning(
                        f"another test run holds {LOCK_FILE} (its pcscd is in use)"
                    ) from None
                time.sleep(0.2)

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.config_dir.iterdir():
            stale.unlink()  # pcscd reads every file here as a reader config
        channel = f"0x{self.port:04X}"
        (self.config_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_FRIENDLY_NAME}"\n'
            f"DEVICENAME /dev/null:{channel}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
            f"CHANNELID {channel}\n"
        )

    def _wait_for_reader(self) -> str:
        deadline = time.monotonic() + _START_TIMEOUT
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PcscStackError(
                    f"pcscd exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                reader = PcscReader(READER_FRIENDLY_NAME)
                try:
                    return reader.name
                finally:
                    reader.close()
            except ReaderUnavailableError as error:
                last_error = str(error)
            time.sleep(0.05)
        raise PcscStackError(
            f"no vpcd reader after {_START_TIMEOUT} s ({last_error}):\n{self.log_tail()}"
        )

    def _wait_for_card_state(self, present: bool) -> None:
        reader = self.reader()
        try:
            arrived = (
                reader.wait_for_card(CARD_EVENT_TIMEOUT)
                if present
                else reader.wait_for_removal(CARD_EVENT_TIMEOUT)
            )
        finally:
            reader.close()
        if not arrived:
            state = "present" if present else "gone"
            raise PcscStackError(
                f"pcscd did not see the card {state} within {CARD_EVENT_TIMEOUT} s"
            )


@contextmanager
def running_pcsc_stack(workdir: Path, port: int | None = None) -> Iterator[PcscStack]:
    """A started :class:`PcscStack`, stopped on exit (wrap it in a fixture)."""
    stack = PcscStack(workdir, port)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def environment_problem() -> str | None:
    """What is missing for the stack on this machine, or ``None`` when it can run."""
    if not VPCD_DRIVER.exists():
        return f"vpcd driver {VPCD_DRIVER} (Debian package vsmartcard-vpcd)"
    if os.geteuid() != 0 and not os.access(PCSCD_SOCKET.parent, os.W_OK):
        return f"permission to run pcscd (root, or write access to {PCSCD_SOCKET.parent})"
    try:
        import smartcard  # noqa: F401
    except ImportError:
        return "pyscard (pip install pyscard; needs swig and libpcsclite-dev)"
    return None
