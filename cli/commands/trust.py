"""``vrs trust add-issuer|add-csca|refresh|list``: the verify page's trust directory.

- ``add-issuer ISS [--name N] [--jwks FILE|URL] [--crl KID=FILE|URL ...]``: trust a SMART
  Health Card issuer; its keys verify only cards naming this ``iss``. The JWKS defaults
  to ``ISS/.well-known/jwks.json``, each CRL (for keys with ``crlVersion``) to
  ``ISS/.well-known/crl/KID.json``.
- ``add-csca NAME FILE|URL [--crl FILE|URL]``: trust a CSCA for VDS-NC seals (e.g. Japan's
  published CSCA) and apply its CRL.
- ``refresh``: fetch every issuer's JWKS and CRLs and every CSCA's CRL again from where
  they were first read (run it daily, e.g. from cron); restart the server to use them.
- ``list``: what is trusted.

See :mod:`web.issuer_directory`.
"""

from __future__ import annotations

import argparse
import sys


def cmd_trust_add_issuer(args: argparse.Namespace) -> None:
    """Trust a SMART Health Card issuer (its keys bound to its iss)."""
    from cli.main import settings_or_exit
    from web.issuer_directory import add_issuer

    crls = {}
    for item in args.crl or []:
        kid, separator, source = item.partition("=")
        if not separator:
            sys.exit("vrs: --crl takes KID=FILE|URL")
        crls[kid] = source
    try:
        issuer = add_issuer(
            settings_or_exit().data_dir, args.iss, name=args.name or "", jwks_source=args.jwks or "",
            crl_sources=crls,
        )  # fmt: skip
    except ValueError as error:
        sys.exit(f"vrs: {error}")
    print(f"vrs: trusting {issuer.iss}: {len(issuer.keys)} keys, {len(issuer.crls)} CRLs")


def cmd_trust_add_csca(args: argparse.Namespace) -> None:
    """Trust a CSCA for VDS-NC seals, with its CRL."""
    from cli.main import settings_or_exit
    from web.issuer_directory import add_csca

    try:
        add_csca(settings_or_exit().data_dir, args.name, args.certificate, args.crl or "")
    except ValueError as error:
        sys.exit(f"vrs: {error}")
    print(f"vrs: trusting CSCA {args.name}" + (" with its CRL" if args.crl else ""))


def cmd_trust_refresh(args: argparse.Namespace) -> None:
    """Fetch every trusted issuer's JWKS and CRLs and every CSCA's CRL again."""
    from cli.main import settings_or_exit
    from web.issuer_directory import refresh

    for line in refresh(settings_or_exit().data_dir):
        print(f"vrs: {line}")


def cmd_trust_list(args: argparse.Namespace) -> None:
    """What the verify page trusts besides our own keys."""
    from cli.main import settings_or_exit
    from web.issuer_directory import load_directory

    directory = load_directory(settings_or_exit().data_dir)
    for issuer in directory.issuers.values():
        print(f"issuer {issuer.iss} ({issuer.name}): keys {', '.join(sorted(issuer.keys))}")
    for csca in directory.cscas:
        crl = f", CRL revokes {len(csca.revoked_serials)}" if csca.has_crl else ", no CRL"
        print(f"CSCA {csca.name}: {csca.certificate.subject.human_friendly}{crl}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vrs trust ...``."""
    trust = subparsers.add_parser("trust", help="issuers and CSCAs the verify page trusts")
    sub = trust.add_subparsers(dest="trust_command", required=True)
    issuer = sub.add_parser("add-issuer", help=cmd_trust_add_issuer.__doc__)
    issuer.add_argument("iss", help="the issuer URL cards name in iss")
    issuer.add_argument("--name", help="shown on the verify page")
    issuer.add_argument(
        "--jwks", help="file or URL of its JWKS (default ISS/.well-known/jwks.json)"
    )
    issuer.add_argument("--crl", action="append", help="KID=FILE|URL of a key's CRL")
    issuer.set_defaults(func=cmd_trust_add_issuer)
    csca = sub.add_parser("add-csca", help=cmd_trust_add_csca.__doc__)
    csca.add_argument("name", help="a short name, e.g. japan-2023")
    csca.add_argument("certificate", help="file or URL of the CSCA certificate (DER or PEM)")
    csca.add_argument("--crl", help="file or URL of its CRL (DER or PEM)")
    csca.set_defaults(func=cmd_trust_add_csca)
    sub.add_parser("refresh", help=cmd_trust_refresh.__doc__).set_defaults(func=cmd_trust_refresh)
    sub.add_parser("list", help=cmd_trust_list.__doc__).set_defaults(func=cmd_trust_list)
