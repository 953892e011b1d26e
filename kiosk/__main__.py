"""``python -m kiosk``: serve the kiosk screens on localhost (settings from ``VRS_KIOSK_*``)."""

from __future__ import annotations

import argparse
import logging
import sys

from kiosk.settings import KioskSettingsError, load_kiosk_settings


def main(argv: list[str] | None = None) -> int:
    """Run the kiosk app with uvicorn on 127.0.0.1."""
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
