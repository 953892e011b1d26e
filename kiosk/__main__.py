"""``python -m kiosk``: serve the kiosk screens on localhost (settings from ``VRS_KIOSK_*``).

``python -m kiosk hash-secret`` prints the argon2 hash of a maintenance secret (read
from the terminal, or from standard input) for ``VRS_KIOSK_MAINTENANCE_HASH``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from kiosk.settings import KioskSettingsError, load_kiosk_settings


def hash_secret_command() -> int:
    """Read a maintenance secret and print its hash."""
    import getpass

    from kiosk.maintenance import hash_secret

    if sys.stdin.isatty():
        secret = getpass.getpass("maintenance secret: ")
        if getpass.getpass("again: ") != secret:
            print("kiosk: the two secrets differ", file=sys.stderr)
            return 2
    else:
        secret = sys.stdin.readline().rstrip("\n")
    try:
        print(hash_secret(secret))
    except ValueError as error:
        print(f"kiosk: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the kiosk app with uvicorn on 127.0.0.1 (or ``hash-secret``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hash-secret"]:
        return hash_secret_command()
    parser = argparse.ArgumentParser(prog="python -m kiosk", description=__doc__)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--host", default="127.0.0.1", help="keep it local: the kiosk's screen")
    options = parser.parse_args(argv)
    try:
        settings = load_kiosk_settings()
    except KioskSettingsError as error:
        print(f"kiosk: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from kiosk.app import create_kiosk_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(create_kiosk_app(settings), host=options.host, port=options.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
