"""``vrs demo-kiosk``: the demo kiosk against the demo server, in one command.

Run it beside ``./scripts/start`` (``vrs demo --serve``): it registers a fresh
kiosk client (an earlier demo kiosk's token is revoked, its row kept), gives the
kiosk the demo card holders' cards (the ones ``vrs demo`` linked; PIN 1234) to
"place" on screen, and serves the kiosk on http://127.0.0.1:8100/. A random
maintenance secret is printed for ``/maintenance``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets


def cmd_demo_kiosk(args: argparse.Namespace) -> None:
    """Serve the demo kiosk (demo cards on screen) against the demo server."""
    from cli.commands.keys import prepare_demo
    from cli.main import ensure_database, run_async, settings_or_exit
    from common.card_proof import Basic4
    from kiosk.card.demo_cards import DemoResident, issue_demo_card, load_test_ca
    from kiosk.maintenance import hash_secret
    from kiosk.settings import KioskSettings

    settings = settings_or_exit()
    ensure_database(settings)
    prepare_demo(settings)  # idempotent: card trust and the demo cards' links

    async def work() -> tuple[str, list[dict[str, object]]]:
        from db.cards.demo import demo_card_holders
        from db.cards.queries import create_app_client, retire_app_clients
        from db.engine import owner_transaction
        from db.residents.my_number import MyNumberVault

        async with owner_transaction():
            await retire_app_clients("demo-kiosk")  # an earlier demo kiosk's token stops working
            token = await create_app_client("demo-kiosk", kind="kiosk")
            holders = await demo_card_holders(MyNumberVault(settings.my_number_key))
        return token, holders

    token, holders = run_async(work)
    key_dir = settings.data_dir / "demo-cards"
    ca = load_test_ca(key_dir)
    cards = [
        issue_demo_card(
            ca,
            DemoResident(
                str(h["my_number"]),
                Basic4(str(h["name"]), "東京都千代田区", h["birth_date"], str(h["sex"])),
            ),
            key_dir,
        )
        for h in holders
    ]
    secret = secrets.token_urlsafe(9)
    folder = settings.data_dir / "demo-kiosk"
    kiosk_settings = KioskSettings(
        server_url=args.server.rstrip("/"),
        token=token,
        store_id="DEMO-STORE-001",
        terminal_id="1",
        spool_dir=folder / "spool",
        data_dir=folder / "data",
        hours_start=dt.time(0),
        hours_end=dt.time.max,
        heartbeat_seconds=30,
        maintenance_hash=hash_secret(secret),
        demo=True,
    )
    print(f"vrs: demo kiosk on http://{args.host}:{args.port}/ against {kiosk_settings.server_url}")
    print(
        f"vrs: {len(cards)} demo cards on screen (PIN 1234); printed papers go to {folder / 'spool'}"
    )
    print(f"vrs: maintenance at http://{args.host}:{args.port}/maintenance, secret {secret}")
    import uvicorn

    from kiosk.app import create_kiosk_app

    uvicorn.run(
        create_kiosk_app(kiosk_settings, demo_cards=cards),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs demo-kiosk``."""
    parser = subparsers.add_parser("demo-kiosk", help=cmd_demo_kiosk.__doc__)
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the demo server's URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.set_defaults(func=cmd_demo_kiosk)
