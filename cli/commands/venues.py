"""``vrs venue add|list|close``: a municipality's venues (接種会場), for the operator.

- ``add MUNICIPALITY CODE NAME [--kind venue|clinic|workplace] [--address A]``
- ``list MUNICIPALITY``: every venue, open and closed
- ``close MUNICIPALITY CODE``: no new accounts, tablets or records; its tablets are
  revoked; its records keep the venue's name

The same as the municipal admin's page ``/admin/venues``; each change is audited
(with no actor: the operator's command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    from cli.main import ensure_database, run_async, settings_or_exit
    from db.tenancy.venues import VenueError

    ensure_database(settings_or_exit())
    try:
        result: T = run_async(work)
        return result
    except VenueError as error:
        sys.exit(f"vrs: {error.key} {error.params or ''}".rstrip())


async def _known_municipality(code: str) -> None:
    from db.tenancy.queries import municipality

    if await municipality(code) is None:
        sys.exit(f"vrs: no municipality {code} (create it first: vrs create-municipality)")


def cmd_venue_add(args: argparse.Namespace) -> None:
    """Register a venue of a municipality."""

    async def work() -> None:
        from db.engine import owner_transaction
        from db.tenancy.venues import add_venue

        async with owner_transaction():
            await _known_municipality(args.municipality)
            await add_venue(args.municipality, code=args.code, name=args.name, kind=args.kind,
                            address=args.address or "")  # fmt: skip

    _run(work)
    print(f"vrs: venue {args.code} added to {args.municipality}")


def cmd_venue_list(args: argparse.Namespace) -> None:
    """List a municipality's venues, open and closed."""

    async def work() -> list[dict[str, Any]]:
        from db.engine import owner_transaction
        from db.tenancy.venues import all_venues

        async with owner_transaction():
            await _known_municipality(args.municipality)
            return await all_venues(args.municipality)

    for venue in _run(work):
        state = "open" if venue["active"] else "closed"
        print(f"{venue['code']}\t{state}\t{venue['kind']}\t{venue['name']}\t{venue['address']}")


def cmd_venue_close(args: argparse.Namespace) -> None:
    """Close a venue (its history stays; its tablets are revoked)."""

    async def work() -> int:
        from db.engine import owner_transaction
        from db.tenancy.venues import VenueError, close_venue, venue_by_code

        async with owner_transaction():
            venue = await venue_by_code(args.municipality, args.code)
            if venue is None:
                raise VenueError("venue_admin.not_found")
            return await close_venue(args.municipality, venue["id"])

    revoked = _run(work)
    print(f"vrs: venue {args.code} closed; {revoked} tablet(s) revoked")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs venue``."""
    venue = subparsers.add_parser("venue", help="a municipality's venues (add, list, close)")
    sub = venue.add_subparsers(dest="venue_command", required=True)
    add = sub.add_parser("add", help=cmd_venue_add.__doc__)
    add.add_argument("municipality", help="6-digit 市区町村コード")
    add.add_argument("code", help="the venue's short code, e.g. V001")
    add.add_argument("name", help="name, e.g. 千代田区役所 集団接種会場")
    add.add_argument("--kind", default="venue", choices=["venue", "clinic", "workplace"],
                     help="venue (集団接種会場), clinic (個別接種医療機関), workplace (職域接種)")  # fmt: skip
    add.add_argument("--address", help="address")
    add.set_defaults(func=cmd_venue_add)
    listing = sub.add_parser("list", help=cmd_venue_list.__doc__)
    listing.add_argument("municipality", help="6-digit 市区町村コード")
    listing.set_defaults(func=cmd_venue_list)
    close = sub.add_parser("close", help=cmd_venue_close.__doc__)
    close.add_argument("municipality", help="6-digit 市区町村コード")
    close.add_argument("code", help="the venue's code")
    close.set_defaults(func=cmd_venue_close)
