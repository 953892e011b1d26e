"""``vrs app-client-list`` and ``vrs app-client-revoke LABEL``: app and kiosk clients.

The same services as the national admin's page ``/national/clients``
(:mod:`db.cards.queries`); a revocation is audited with no actor (the
operator's command). ``vrs app-client`` (in :mod:`cli.commands.keys`) makes one.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_app_client_list(args: argparse.Namespace) -> None:
    """List the app and kiosk clients, live first."""
    from cli.main import ensure_database, run_async, settings_or_exit

    ensure_database(settings_or_exit())

    async def work() -> list[dict[str, Any]]:
        from db.cards.queries import list_app_clients
        from db.engine import owner_transaction

        async with owner_transaction():
            return await list_app_clients()

    for client in run_async(work):
        state = f"revoked {client['revoked_at']:%Y-%m-%d %H:%M}" if client["revoked_at"] else "live"
        print(f"{client['label']}\t{client['kind']}\t{client['created_at']:%Y-%m-%d}\t{state}")


def cmd_app_client_revoke(args: argparse.Namespace) -> None:
    """Revoke a live client by its label: its token is refused from its next request."""
    from cli.main import ensure_database, run_async, settings_or_exit

    ensure_database(settings_or_exit())

    async def work() -> bool:
        from db.audit.queries import record
        from db.cards.queries import list_app_clients, revoke_app_client
        from db.engine import owner_transaction

        async with owner_transaction():
            live = [c for c in await list_app_clients() if c["label"] == args.label]
            revoked = await revoke_app_client(live[0]["id"]) if live else None
            if revoked is None:
                return False
            await record("app_client.revoke", actor=None, municipality_code=None,
                         object_type="app_client", object_id=str(live[0]["id"]),
                         details=revoked)  # fmt: skip
            return True

    if not run_async(work):
        sys.exit(f"vrs: no live app or kiosk client {args.label}")
    print(f"vrs: client {args.label} revoked")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs app-client-list`` and ``vrs app-client-revoke``."""
    subparsers.add_parser("app-client-list", help=cmd_app_client_list.__doc__).set_defaults(
        func=cmd_app_client_list
    )
    revoke = subparsers.add_parser("app-client-revoke", help=cmd_app_client_revoke.__doc__)
    revoke.add_argument("label", help="the client's label (vrs app-client-list)")
    revoke.set_defaults(func=cmd_app_client_revoke)
