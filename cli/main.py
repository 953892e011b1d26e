"""The ``vrs`` command: set up, run and administer the server.

Every sub-command that needs the database first makes sure one is there: with
DATABASE_URL unset, it starts the embedded PostgreSQL under the data
directory. Tools run as the schema owner; the server itself runs every
request as the ``vrs_app`` role under row-level security.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from common.settings import (
    Settings,
    SettingsError,
    add_missing_secrets,
    default_data_dir,
    load_settings,
    write_secrets_file,
)


def settings_or_exit() -> Settings:
    """The settings, or exit naming what is missing."""
    try:
        return load_settings()
    except SettingsError as exc:
        sys.exit(f"vrs: {exc}")


def ensure_database(settings: Settings) -> str:
    """DATABASE_URL, starting the embedded server when none is configured."""
    url = settings.database_url
    if not url:
        from db.embedded import start_embedded

        url = start_embedded(settings.data_dir)
        print(f"vrs: embedded PostgreSQL, data in {settings.data_dir / 'pgdata'}", file=sys.stderr)
    os.environ["DATABASE_URL"] = url
    return url


def run_async(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine function to completion."""
    return asyncio.run(work())


async def _migrate_and_seed() -> None:
    from db.engine import owner_transaction
    from db.migrate import migrate
    from db.tenancy.queries import ensure_prefectures
    from db.vaccines.loader import load_master_data

    await migrate()
    async with owner_transaction():
        await ensure_prefectures()
        await load_master_data()


# --- sub-commands -------------------------------------------------------------


def cmd_init_secrets(args: argparse.Namespace) -> None:
    """Write a secrets file with fresh keys, unless one exists."""
    data_dir = Path(os.environ.get("VRS_DATA_DIR") or default_data_dir())
    path = Path(os.environ.get("VRS_SECRETS_FILE") or data_dir / "secrets.env")
    created = write_secrets_file(path)
    print(f"vrs: {'created' if created else 'kept existing'} secrets file {path}")
    for name in [] if created else add_missing_secrets(path):
        print(f"vrs: added {name} to {path}")


def cmd_migrate(args: argparse.Namespace) -> None:
    """Apply pending migrations and load the vaccine master data."""
    ensure_database(settings_or_exit())
    run_async(_migrate_and_seed)
    print("vrs: database is up to date")


def cmd_serve(args: argparse.Namespace) -> None:
    """Migrate, then serve HTTP(S) until interrupted."""
    settings = settings_or_exit()
    ensure_database(settings)
    run_async(_migrate_and_seed)
    serve(settings, args)


def serve(settings: Settings, args: argparse.Namespace) -> None:
    """Run uvicorn with the app factory (several workers share DATABASE_URL)."""
    import uvicorn

    if bool(args.tls_cert) != bool(args.tls_key):
        sys.exit("vrs: --tls-cert and --tls-key go together")
    scheme = "https" if args.tls_cert else "http"
    print(f"vrs: serving on {scheme}://{args.host}:{args.port}/", flush=True)
    # uvicorn re-raises the signal it stopped on, to the handler found before
    # it: make SIGTERM a normal exit so clean-up (the embedded server) runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


def cmd_demo(args: argparse.Namespace) -> None:
    """Load the demo data (idempotent), print how to sign in, optionally serve."""
    settings = settings_or_exit()
    ensure_database(settings)

    async def work() -> bool:
        from db.demo import load_demo
        from db.engine import owner_transaction
        from db.residents.my_number import MyNumberVault

        await _migrate_and_seed()
        async with owner_transaction():
            return await load_demo(MyNumberVault(settings.my_number_key))

    loaded = run_async(work)
    from cli.commands.keys import prepare_demo

    prepare_demo(settings)  # certificate keys, card trust, demo cards' J-LIS links
    from db.demo import DEMO_PASSWORD, demo_accounts

    print("vrs: demo data " + ("loaded" if loaded else "already present"))
    scheme = "https" if args.tls_cert else "http"
    print(f"\n  Open {scheme}://{args.host}:{args.port}/ and sign in with one of:")
    for account in demo_accounts():
        print(f"    {account.login:<16} {DEMO_PASSWORD}   ({account.role})")
    print()
    if args.serve:
        serve(settings, args)


def cmd_create_municipality(args: argparse.Namespace) -> None:
    """Register a municipality by its 6-digit code."""
    ensure_database(settings_or_exit())

    async def work() -> str:
        from db.engine import owner_transaction
        from db.tenancy.queries import create_municipality

        await _migrate_and_seed()
        async with owner_transaction():
            return await create_municipality(args.code, args.name, args.name_en, args.head or "")

    try:
        code = run_async(work)
    except ValueError as exc:
        sys.exit(f"vrs: {exc}")
    print(f"vrs: municipality {code} registered")


def cmd_create_user(args: argparse.Namespace) -> None:
    """Create an account; a generated password is a temporary one, changed at the first sign-in."""
    # --generate-password (or no password and no terminal to ask on) prints a one-time
    # password, as an admin's reset does: the account reaches only its password page until
    # its owner sets one. --machine: an account for bearer tokens only (vrs create-token),
    # with a random password nobody is shown, so nobody signs in with it.
    ensure_database(settings_or_exit())
    password = os.environ.get(args.password_env) if args.password_env else None
    generated = False
    if args.machine:
        password = secrets.token_urlsafe(32)  # never shown: the account signs in with no password
    elif not password:
        if sys.stdin.isatty() and not args.generate_password:
            password = getpass.getpass("password (12+ characters): ")
        else:
            from db.accounts.management import temporary_password

            password, generated = temporary_password(), True

    async def work() -> None:
        from db.accounts.queries import create_account
        from db.accounts.roles import Role
        from db.engine import owner_transaction
        from db.tenancy.venues import venue_by_code

        async with owner_transaction():
            venue_id = None
            if args.venue:
                venue = await venue_by_code(args.municipality or "", args.venue)
                if venue is None:
                    raise ValueError(
                        f"no venue {args.venue} in municipality {args.municipality}"
                        f" (add one: vrs venue add {args.municipality} {args.venue} NAME)"
                    )
                if not venue["active"]:
                    raise ValueError(f"venue {args.venue} is closed")
                venue_id = venue["id"]
            await create_account(
                login=args.login,
                display_name=args.display_name or args.login,
                password=password,
                role=Role(args.role),
                municipality_code=args.municipality,
                prefecture_code=args.prefecture,
                venue_id=venue_id,
                must_change_password=generated,
            )

    from db.accounts.queries import AccountError

    try:
        run_async(work)
    except AccountError as exc:
        sys.exit(f"vrs: {exc.key} {exc.params or ''}")
    except ValueError as exc:
        sys.exit(f"vrs: {exc}")
    print(f"vrs: account {args.login} created")
    if generated:
        print(f"vrs: password {password}")
        print("vrs: a temporary password, shown once: it must be changed at the first sign-in")
    elif args.machine:
        print(
            f"vrs: an account for tokens only (no password): vrs create-token --login {args.login}"
        )


def cmd_create_token(args: argparse.Namespace) -> None:
    """Print a new bearer token for an account (machine clients)."""
    ensure_database(settings_or_exit())

    async def work() -> str | None:
        from db.accounts.queries import account_id_by_login, create_api_token
        from db.engine import owner_transaction

        async with owner_transaction():
            account_id = await account_id_by_login(args.login)
            if account_id is None:
                return None
            return await create_api_token(account_id, args.label)

    from db.accounts.queries import AccountError

    try:
        token = run_async(work)
    except AccountError as exc:
        if exc.key != "account.password_change_pending":
            raise
        sys.exit(f"vrs: {exc.key}: {args.login} still has a temporary password; its owner signs in"
                 " and changes it first (an account for tokens only: vrs create-user --machine)")  # fmt: skip
    if token is None:
        sys.exit(f"vrs: no account {args.login}")
    print(token)


def cmd_load_vaccines(args: argparse.Namespace) -> None:
    """Load (missing) vaccine master data from a file."""
    ensure_database(settings_or_exit())

    async def work() -> dict[str, int]:
        from db.engine import owner_transaction
        from db.migrate import migrate
        from db.vaccines.loader import DEFAULT_FILE, load_master_data

        await migrate()
        async with owner_transaction():
            return await load_master_data(Path(args.file) if args.file else DEFAULT_FILE)

    print(f"vrs: added {run_async(work)}")


# --- parser -------------------------------------------------------------------


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--tls-cert", help="certificate (PEM) for HTTPS")
    parser.add_argument("--tls-key", help="private key (PEM) for HTTPS")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="vrs", description="Vaccination Record System")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init-secrets", help=cmd_init_secrets.__doc__).set_defaults(
        func=cmd_init_secrets
    )
    sub.add_parser("migrate", help=cmd_migrate.__doc__).set_defaults(func=cmd_migrate)

    serve_parser = sub.add_parser("serve", help=cmd_serve.__doc__)
    _serve_options(serve_parser)
    serve_parser.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help=cmd_demo.__doc__)
    _serve_options(demo)
    demo.add_argument("--serve", action="store_true", help="serve after loading")
    demo.set_defaults(func=cmd_demo)

    municipality = sub.add_parser("create-municipality", help=cmd_create_municipality.__doc__)
    municipality.add_argument("code", help="6-digit 市区町村コード with check digit")
    municipality.add_argument("name", help="name in Japanese, e.g. 千代田区")
    municipality.add_argument("name_en", help="name in English, e.g. Chiyoda City")
    municipality.add_argument(
        "--head", help="issuer title printed on certificates, e.g. 千代田区長"
    )
    municipality.set_defaults(func=cmd_create_municipality)

    user = sub.add_parser("create-user", help=cmd_create_user.__doc__)
    user.add_argument("--login", required=True)
    user.add_argument("--role", required=True, choices=[
        "national_admin", "municipal_admin", "clerk", "venue_operator",
        "prefecture_viewer", "national_viewer"])  # fmt: skip
    user.add_argument("--municipality", help="6-digit code, for municipal roles")
    user.add_argument("--prefecture", help="2-digit code, for prefecture viewers")
    user.add_argument("--venue", help="venue code, for venue operators")
    user.add_argument("--display-name")
    password = user.add_mutually_exclusive_group()
    password.add_argument("--password-env", help="read the password from this environment variable")
    password.add_argument(
        "--generate-password",
        action="store_true",
        help="generate and print a temporary one, changed at the first sign-in",
    )
    password.add_argument("--machine", action="store_true",
                          help="an account for bearer tokens only (vrs create-token): no password")  # fmt: skip
    user.set_defaults(func=cmd_create_user)

    token = sub.add_parser("create-token", help=cmd_create_token.__doc__)
    token.add_argument("--login", required=True)
    token.add_argument("--label", default="cli", help="what the token is for (unique per account)")
    token.set_defaults(func=cmd_create_token)

    vaccines = sub.add_parser("load-vaccines", help=cmd_load_vaccines.__doc__)
    vaccines.add_argument("file", nargs="?", help="master data JSON (default: the bundled file)")
    vaccines.set_defaults(func=cmd_load_vaccines)

    from cli.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vrs`` console script."""
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
