"""``vrs keys init|rotate|renew-crl|retimestamp|show`` and ``vrs app-client``: certificate keys and app access.

The key store lives in ``<data dir>/keys`` (see :mod:`web.signing_context`),
encrypted with ``VRS_KEY_PASSPHRASE``. ``init`` is idempotent: it keeps an
existing store. ``init --pkcs11`` generates the PDF signer key inside the PKCS#11
token named by ``VRS_PDF_SIGNER_PKCS11_MODULE``/``_TOKEN``/``_PIN``/``_KEY`` (an HSM;
the key never leaves it) and certifies it with the new PDF root. :func:`prepare_demo` is what ``vrs demo`` calls: keys, the test
J-LIS CA as the card trust list, and the demo cards' linkage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.card_proof import Basic4
from common.settings import Settings
from signing.keys import KeyStore, KeyStoreError
from web.signing_context import card_trust_directory, crl_base_url, key_directory

if TYPE_CHECKING:
    from signing.pades import PdfSigner  # pyHanko: imported when a command signs


def _passphrase_or_exit(settings: Settings) -> str:
    if not settings.key_passphrase:
        sys.exit("vrs: VRS_KEY_PASSPHRASE is not set (set it, or run `vrs init-secrets`)")
    return settings.key_passphrase


def ensure_keys(settings: Settings, *, pkcs11: bool = False) -> bool:
    """Create the key store unless one exists; True when it was created.

    Args:
        pkcs11: generate the PDF signer key in the configured PKCS#11 token.

    Raises:
        KeyStoreError: the existing store cannot be opened, or the token cannot
            be used (the message says why).
    """
    directory = key_directory(settings)
    passphrase = _passphrase_or_exit(settings)
    try:
        KeyStore.load(directory, passphrase)
        return False
    except KeyStoreError:
        if (directory / "store.json").exists():
            raise
    in_token = None
    if pkcs11:
        from signing.hsm import TokenError, generate_signer_key
        from web.signing_context import token_settings

        if not settings.pdf_signer_pkcs11_module:
            raise KeyStoreError("--pkcs11 needs VRS_PDF_SIGNER_PKCS11_MODULE (and _TOKEN, _PIN)")
        tokens = token_settings(settings)
        try:
            in_token = (tokens.key_label, generate_signer_key(tokens))
        except TokenError as error:
            raise KeyStoreError(str(error)) from error
    KeyStore.init(
        directory, passphrase, pdf_signer_in_token=in_token, crl_base_url=crl_base_url(settings)
    )
    return True


def cmd_keys_init(args: argparse.Namespace) -> None:
    """Create the deployment's signing keys and certificates (kept if present)."""
    from cli.main import settings_or_exit

    settings = settings_or_exit()
    try:
        created = ensure_keys(settings, pkcs11=args.pkcs11)
    except KeyStoreError as error:
        sys.exit(f"vrs: {error}")
    print(f"vrs: {'created' if created else 'kept existing'} keys in {key_directory(settings)}")
    if created and args.pkcs11:
        print(
            f"vrs: the PDF signer key {settings.pdf_signer_pkcs11_key!r} was generated in"
            f" PKCS#11 token {settings.pdf_signer_pkcs11_token!r}"
        )
    _show(settings)


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    """Replace one signing key; the old public key stays published."""
    from cli.main import settings_or_exit

    settings = settings_or_exit()
    try:
        KeyStore.rotate(
            key_directory(settings),
            _passphrase_or_exit(settings),
            args.part,
            crl_base_url=crl_base_url(settings),
        )
    except KeyStoreError as error:
        sys.exit(f"vrs: {error}")
    print(f"vrs: rotated the {args.part} key; restart the server to sign with it")
    _show(settings)


def cmd_keys_renew_crl(args: argparse.Namespace) -> None:
    """Issue the next CRLs of the PDF root and the VDS-NC CSCA now (the server renews them itself when due)."""
    from cli.main import settings_or_exit

    settings = settings_or_exit()
    try:
        KeyStore.renew_crl(key_directory(settings), _passphrase_or_exit(settings))
    except KeyStoreError as error:
        sys.exit(f"vrs: {error}")
    print(f"vrs: renewed the PDF root and CSCA CRLs, published at {crl_base_url(settings)}/")


def cmd_keys_retimestamp(args: argparse.Namespace) -> None:
    """Add the next archival timestamp to stored PDFs whose last one expires soon (B-LTA)."""
    from cli.main import ensure_database, run_async, settings_or_exit

    settings = settings_or_exit()
    if not settings.tsa_url:
        sys.exit("vrs: retimestamp needs a timestamp authority: set VRS_TSA_URL")
    ensure_database(settings)
    try:
        from web.signing_context import load_signing_context

        signer = load_signing_context(settings).pdf_signer
    except KeyStoreError as error:
        sys.exit(f"vrs: {error}")
    counts = run_async(lambda: retimestamp_stored_pdfs(signer, dt.timedelta(days=args.within_days)))
    print(
        "vrs: re-timestamped {extended}, still valid {fresh}, B-B (reissue before the signer"
        " expires) {b_b}, failed {failed}".format(**counts)
    )
    if counts["failed"]:
        sys.exit(1)


async def retimestamp_stored_pdfs(
    signer: PdfSigner, margin: dt.timedelta, now: dt.datetime | None = None, batch: int = 50
) -> dict[str, int]:
    """Extend every stored PDF whose last timestamp expires within ``margin`` (or has none).

    Reads and writes in short transactions; the TSA is called between them.
    Returns counts: ``extended``, ``fresh`` (not due), ``b_b`` (cannot be
    extended) and ``failed`` (the TSA or validation failed; logged, retried next run).
    """
    from db.certificates.archive import replace_pdf, stored_pdfs_after
    from db.engine import owner_transaction
    from signing.errors import SigningServiceUnavailable
    from signing.pades import last_timestamp_expiry, signature_level

    when = now or dt.datetime.now(dt.UTC)
    counts = {"extended": 0, "fresh": 0, "b_b": 0, "failed": 0}
    last_id = None
    while True:
        async with owner_transaction():
            rows = await stored_pdfs_after(last_id, batch)
        if not rows:
            return counts
        for row in rows:
            last_id = row["id"]
            pdf = bytes(row["pdf"])
            expiry = last_timestamp_expiry(pdf)
            if expiry is not None and expiry - when > margin:
                counts["fresh"] += 1
                continue
            if signature_level(pdf) == "B-B":
                counts["b_b"] += 1
                continue
            try:
                extended = await signer.async_extend(pdf)
            except (SigningServiceUnavailable, ValueError) as error:
                print(f"vrs: {row['certificate_id']}: {error}", file=sys.stderr)
                counts["failed"] += 1
                continue
            async with owner_transaction():
                stored = await replace_pdf({**row, "pdf": pdf}, extended)
            counts["extended" if stored else "fresh"] += 1


def cmd_keys_show(args: argparse.Namespace) -> None:
    """Describe the key store (no secrets)."""
    from cli.main import settings_or_exit

    _show(settings_or_exit())


def _show(settings: Settings) -> None:
    from signing.cli import show

    try:
        print(show(KeyStore.load(key_directory(settings), _passphrase_or_exit(settings))))
    except KeyStoreError as error:
        sys.exit(f"vrs: {error}")


def cmd_app_client(args: argparse.Namespace) -> None:
    """Print a new bearer token for the smartphone app (or a kiosk)."""
    from cli.main import ensure_database, run_async, settings_or_exit

    ensure_database(settings_or_exit())

    async def work() -> str:
        from db.cards.queries import create_app_client
        from db.engine import owner_transaction

        async with owner_transaction():
            return await create_app_client(args.label, args.kind)

    try:
        print(run_async(work))
    except Exception as error:  # noqa: BLE001 - a duplicate label is the likely cause
        sys.exit(f"vrs: could not create the client ({type(error).__name__}): is the label taken?")


# --- the demo ---------------------------------------------------------------------


def _ensure_passphrase(settings: Settings) -> Settings:
    """Demo only: add a key passphrase to an older secrets file that lacks one."""
    if settings.key_passphrase:
        return settings
    import os
    from dataclasses import replace

    path = Path(os.environ.get("VRS_SECRETS_FILE") or settings.data_dir / "secrets.env")
    passphrase = secrets.token_urlsafe(32)
    if path.is_file():
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"VRS_KEY_PASSPHRASE={passphrase}\n")
        print(f"vrs: added VRS_KEY_PASSPHRASE to {path}")
    os.environ["VRS_KEY_PASSPHRASE"] = passphrase
    return replace(settings, key_passphrase=passphrase)


def write_demo_card_trust(settings: Settings) -> list[object]:
    """Trust the test J-LIS CA (certificate and a fresh 30-day CRL); returns its cards for
    :data:`kiosk.card.demo_cards.DEMO_RESIDENTS` (tests use them)."""
    from cryptography.hazmat.primitives import serialization

    from kiosk.card.demo_cards import DEMO_RESIDENTS, issue_demo_card, load_test_ca

    card_keys = settings.data_dir / "demo-cards"
    ca = load_test_ca(card_keys)
    trust = card_trust_directory(settings)
    trust.mkdir(parents=True, exist_ok=True)
    (trust / "jlis-test-ca.crt.pem").write_bytes(
        ca.certificate.public_bytes(serialization.Encoding.PEM)
    )
    now = dt.datetime.now(dt.UTC)
    crl = ca.crl(this_update=now - dt.timedelta(minutes=5), next_update=now + dt.timedelta(days=30))
    (trust / "jlis-test-ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return [issue_demo_card(ca, resident, card_keys) for resident in DEMO_RESIDENTS]


def prepare_demo(settings: Settings) -> None:
    """Keys, card trust and the demo cards' linkage, for ``vrs demo`` (idempotent)."""
    from cli.main import run_async

    settings = _ensure_passphrase(settings)
    created = ensure_keys(settings)
    print(f"vrs: certificate keys {'created' if created else 'present'}")
    write_demo_card_trust(settings)

    async def work() -> list[str]:
        from db.cards.demo import demo_card_holders, link_demo_cards
        from db.engine import owner_transaction
        from db.residents.my_number import MyNumberVault
        from kiosk.card.demo_cards import DemoResident, issue_demo_card, load_test_ca

        vault = MyNumberVault(settings.my_number_key)
        card_keys = settings.data_dir / "demo-cards"
        ca = load_test_ca(card_keys)
        async with owner_transaction():
            holders = await demo_card_holders(vault)
            cards = []
            for holder in holders:
                resident = DemoResident(
                    holder["my_number"],
                    Basic4(holder["name"], "東京都千代田区", holder["birth_date"], holder["sex"]),
                )
                cards.append(issue_demo_card(ca, resident, card_keys))
            await link_demo_cards(vault, [(c.certificate_fingerprint, c.my_number) for c in cards])
        return [f"{h['resident_number']} ({h['areas']} municipalities)" for h in holders]

    holders = run_async(work)
    print(f"vrs: demo My Number cards (PIN 1234, test J-LIS CA) for residents {', '.join(holders)}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs keys ...`` and ``vrs app-client``."""
    keys = subparsers.add_parser("keys", help="certificate signing keys")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    init = sub.add_parser("init", help=cmd_keys_init.__doc__)
    init.add_argument(
        "--pkcs11",
        action="store_true",
        help="generate the PDF signer key in the PKCS#11 token of VRS_PDF_SIGNER_PKCS11_*",
    )
    init.set_defaults(func=cmd_keys_init)
    rotate = sub.add_parser("rotate", help=cmd_keys_rotate.__doc__)
    rotate.add_argument("part", choices=["shc", "pdf", "vdsnc"], help="which key to replace")
    rotate.set_defaults(func=cmd_keys_rotate)
    sub.add_parser("renew-crl", help=cmd_keys_renew_crl.__doc__).set_defaults(
        func=cmd_keys_renew_crl
    )
    retimestamp = sub.add_parser("retimestamp", help=cmd_keys_retimestamp.__doc__)
    retimestamp.add_argument(
        "--within-days",
        type=int,
        default=365,
        help="extend PDFs whose last timestamp expires within this many days (default 365)",
    )
    retimestamp.set_defaults(func=cmd_keys_retimestamp)
    sub.add_parser("show", help=cmd_keys_show.__doc__).set_defaults(func=cmd_keys_show)

    client = subparsers.add_parser("app-client", help=cmd_app_client.__doc__)
    client.add_argument("--label", required=True, help="which app or kiosk (unique)")
    client.add_argument("--kind", choices=["app", "kiosk"], default="app")
    client.set_defaults(func=cmd_app_client)
