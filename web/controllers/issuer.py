"""Public issuer endpoints: SHC keys (JWKS), SHC revocation lists, the VDS-NC revoked-UVCI list,
and the X.509 CRLs of our CAs.

Served under the issuer URL (``VRS_ISSUER_URL``, by default ``<base>/issuer``;
a reverse proxy maps a custom issuer host onto ``/issuer``), with
``Access-Control-Allow-Origin: *`` so browser-based verifiers can fetch them.
The CRLs are at ``<VRS_BASE_URL>/pki/pdf-root.crl`` (the PDF signer's CA) and
``/pki/csca.crl`` (the VDS-NC CSCA), the addresses the signer certificates name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from db.certificates.queries import revoked_certificates
from db.engine import tenant_transaction
from signing.keys import FIRST_CRL_VERSION
from web.errors import NotFound
from web.signing_context import SigningContext

CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}


async def revoked() -> list[dict[str, Any]]:
    """Every revoked certificate (id, key, date), read through the public crossing."""
    async with tenant_transaction(None):
        return await revoked_certificates()


def crl_versions(rows: list[dict[str, Any]]) -> dict[str, int]:
    """kid → CRL counter (``ctr``): 1 for the first, empty list, plus one per update.

    Each revocation of a card that key signed is one update; revocations are
    never undone, so the counter only goes up.
    """
    updates = Counter(row["shc_kid"] for row in rows if row["shc_kid"])
    return {kid: FIRST_CRL_VERSION + count for kid, count in updates.items()}


class IssuerController(Controller):
    """What any verifier may fetch."""

    path = "/issuer/.well-known"

    @get("/jwks.json", name="issuer_jwks", summary="SMART Health Card issuer keys")
    async def jwks(self, signing: NamedDependency[SigningContext]) -> Response[dict[str, Any]]:
        """Every SHC public key, newest first; retired keys stay (their cards still verify)."""
        rows = await revoked()
        return Response(signing.keys.jwks(crl_versions(rows)), headers=CORS)

    @get("/crl/{filename:str}", name="issuer_crl", summary="SMART Health Card revocation list")
    async def crl(
        self, signing: NamedDependency[SigningContext], filename: FromPath[str]
    ) -> Response[dict[str, Any]]:
        """The rids revoked among the cards this key signed (``{kid}.json``).

        A rid is the one-way value :meth:`~signing.keys.KeyStore.shc_rid` of the
        certificate id, so the list names no printed id.
        """
        kid = filename.removesuffix(".json")
        if kid not in {key.kid for key in signing.keys.shc_keys}:
            raise NotFound("certificate.unknown_kid")
        rows = await revoked()
        ctr = crl_versions(rows).get(kid, FIRST_CRL_VERSION)
        rids = sorted(
            signing.keys.shc_rid(row["certificate_id"]) for row in rows if row["shc_kid"] == kid
        )
        return Response({"kid": kid, "method": "rid", "ctr": ctr, "rids": rids}, headers=CORS)

    @get(
        "/vdsnc/revoked.json",
        name="issuer_vdsnc_revoked",
        summary="Revoked VDS-NC certificates (UVCIs)",
    )
    async def revoked_uvcis(self) -> Response[dict[str, Any]]:
        """The UVCIs (certificate ids) of revoked overseas certificates."""
        rows = await revoked()
        return Response(
            {"issuing_state": "JPN", "uvcis": sorted(row["certificate_id"] for row in rows)},
            headers=CORS,
        )


class PkiController(Controller):
    """The CRLs of the system's own CAs, as their signer certificates' distribution points name."""

    path = "/pki"

    @get(
        "/{filename:str}",
        name="pki_crl",
        summary="X.509 CRL of the PDF root CA or the VDS-NC CSCA",
        media_type="application/pkix-crl",
    )
    async def crl(
        self, signing: NamedDependency[SigningContext], filename: FromPath[str]
    ) -> Response[bytes]:
        """``pdf-root.crl`` or ``csca.crl`` in DER (RFC 5280), as last renewed."""
        der = signing.keys.published_crl(filename)
        if der is None:
            raise NotFound("certificate.unknown_crl")
        return Response(der, headers=CORS, media_type="application/pkix-crl")


ROUTES = [IssuerController, PkiController]
