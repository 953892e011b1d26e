"""``vrs serve`` as a process of its own, for end-to-end tests and benchmarks.

One way to start the real server on a free port and wait for ``/readyz``: the
e2e fixtures, the kiosk browser tests, the reliability tests and ``bench/soak.py``
all use it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def vrs_server(
    database_url: str, *, workers: int = 1, pool: int = 10, log_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:  # fmt: skip
    """``vrs serve`` as its own process on a free port; yields its base URL once /readyz answers."""
    port = free_port()
    log_path = log_path or Path(tempfile.mkdtemp(prefix="vrs-server-")) / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env={**os.environ, "DATABASE_URL": database_url, "VRS_DB_POOL_SIZE": str(pool),
                 "PYTHONPATH": str(ROOT), **(extra_env or {})},
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready in 60 s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
