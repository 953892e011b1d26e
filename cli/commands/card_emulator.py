"""``vrs card-emulator``: a demo resident's emulated My Number card in pcscd's vpcd reader.

For demos and manual tests: ``vrs card-emulator --resident <id> --vpcd-port <port>``
connects our card emulator (:mod:`kiosk.card.vpcd`) to a running pcscd's vpcd
driver, so that any PC/SC application (the kiosk with a real reader setting,
``pcsc_scan``, pyscard) sees the card until the command is stopped. ``<id>`` is a
12-digit My Number, or the resident number of a card holder of the demo data
(``vrs demo`` prints them). The card's keys come from the deployment's demo-card
folder, so the card is the one ``vrs demo`` linked (test J-LIS CA, PIN 1234).
"""

from __future__ import annotations

import argparse
import re
import sys


def _my_number_of(resident: str) -> str:
    """The My Number of a demo card holder by resident number (from the database)."""
    from cli.main import ensure_database, run_async, settings_or_exit

    settings = settings_or_exit()
    ensure_database(settings)

    async def work() -> str | None:
        from db.cards.demo import demo_card_holders
        from db.engine import owner_transaction
        from db.residents.my_number import MyNumberVault

        async with owner_transaction():
            holders = await demo_card_holders(MyNumberVault(settings.my_number_key), count=100)
        return next((h["my_number"] for h in holders if h["resident_number"] == resident), None)

    found = run_async(work)
    if found is None:
        sys.exit(f"vrs: no demo card holder with resident number {resident!r} (see `vrs demo`)")
    return str(found)


def cmd_card_emulator(args: argparse.Namespace) -> None:
    """Put a demo resident's emulated card into pcscd's vpcd reader until stopped."""
    from kiosk.card import vpcd

    resident = args.resident.strip()
    my_number = resident if re.fullmatch(r"\d{12}", resident) else _my_number_of(resident)
    key_dir = args.key_dir
    if key_dir is None:
        from cli.main import settings_or_exit

        key_dir = settings_or_exit().data_dir / "demo-cards"
    argv = [
        "--resident-my-number", my_number, "--vpcd-port", str(args.vpcd_port),
        "--vpcd-host", args.vpcd_host, "--key-dir", str(key_dir),
    ]  # fmt: skip
    if args.pin:
        argv += ["--pin", args.pin]
    if args.once:
        argv.append("--once")
    sys.exit(vpcd.main(argv))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs card-emulator``."""
    from kiosk.card.vpcd import VPCD_DEFAULT_PORT

    parser = subparsers.add_parser("card-emulator", help=cmd_card_emulator.__doc__)
    parser.add_argument(
        "--resident", required=True, help="12-digit My Number, or a demo card holder's number"
    )
    parser.add_argument(
        "--vpcd-port", type=lambda text: int(text, 0), default=VPCD_DEFAULT_PORT,
        help="vpcd's TCP port (decimal or 0x...; default 0x8C7B = 35963)",
    )  # fmt: skip
    parser.add_argument("--vpcd-host", default="127.0.0.1")
    parser.add_argument("--key-dir", type=_path, default=None, help="card keys (default: demo's)")
    parser.add_argument("--pin", help="another 4-digit PIN than the demo's")
    parser.add_argument("--once", action="store_true", help="exit when vpcd disconnects")
    parser.set_defaults(func=cmd_card_emulator)


def _path(text: str) -> object:
    from pathlib import Path

    return Path(text)
