"""The key setup command: ``python -m signing.cli init|rotate|renew-crl|jwks|show DIRECTORY``.

A deployment runs ``init`` once to generate its PDF root CA and signer, SHC
issuer key and VDS-NC CSCA and barcode signer; ``rotate`` and ``renew-crl`` on
schedule. The passphrase comes from ``VRS_KEY_PASSPHRASE`` or, when that is
unset, a prompt; it is never taken from the command line, where ``ps`` shows it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence

from cryptography import x509

from signing.keys import KeyStore, KeyStoreError

PASSPHRASE_VARIABLE = "VRS_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_VARIABLE)
    if value:
        return value
    value = getpass.getpass("Key store passphrase: ")
    if confirm and getpass.getpass("Again: ") != value:
        raise KeyStoreError("the two passphrases differ")
    return value


def _describe(name: str, cert: x509.Certificate) -> str:
    return (
        f"{name}: {cert.subject.rfc4514_string()} "
        f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
    )


def show(store: KeyStore) -> str:
    """A human-readable summary of a key store (no secrets)."""
    lines = [
        _describe("PDF root CA", store.pdf_root),
        _describe(
            "PDF signer" + (" (key in PKCS#11 token)" if store.pdf_signer_in_token else ""),
            store.pdf_signer_certificate,
        ),
        f"PDF root CRL: next update {store.pdf_crl.next_update_utc:%Y-%m-%d}",
        _describe("VDS-NC CSCA", store.vdsnc_csca),
        "CSCA CRL: "
        + (
            f"next update {store.vdsnc_crl.next_update_utc:%Y-%m-%d}"
            if store.vdsnc_crl is not None
            else "none yet (run renew-crl)"
        ),
        f"CRLs published at: {store.crl_base_url or 'nowhere (signers name no CRL URL)'}",
        _describe("VDS-NC barcode signer", store.vdsnc_signer.certificate),
    ]
    for key in store.shc_keys:
        state = "signs" if key is store.shc_signing_key else "retired, still published"
        lines.append(f"SHC key {key.kid} ({state})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m signing.cli", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="generate a new key store in an empty directory")
    init.add_argument("directory")
    init.add_argument("--organization", default="Vaccination Record System")
    init.add_argument("--country", default="JP")
    init.add_argument(
        "--crl-base-url",
        help="where the CRLs are served (<VRS_BASE_URL>/pki), named in the signer certificates",
    )
    rotate = commands.add_parser(
        "rotate", help="replace a signing key, keeping its predecessor's public part"
    )
    rotate.add_argument("directory")
    rotate.add_argument("part", choices=["shc", "pdf", "vdsnc"])
    for name, help_text in (
        ("renew-crl", "issue the PDF root's next CRL"),
        ("jwks", "print the SHC issuer's JWKS"),
        ("show", "summarise the keys and certificates"),
    ):
        commands.add_parser(name, help=help_text).add_argument("directory")
    args = parser.parse_args(argv)
    try:
        passphrase = _passphrase(confirm=args.command == "init")
        if args.command == "init":
            store = KeyStore.init(
                args.directory,
                passphrase,
                organization=args.organization,
                country=args.country,
                crl_base_url=args.crl_base_url,
            )
        elif args.command == "rotate":
            store = KeyStore.rotate(args.directory, passphrase, args.part)
        elif args.command == "renew-crl":
            store = KeyStore.renew_crl(args.directory, passphrase)
        else:
            store = KeyStore.load(args.directory, passphrase)
        print(json.dumps(store.jwks(), indent=2) if args.command == "jwks" else show(store))
    except KeyStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
