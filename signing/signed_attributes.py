"""Signed CMS attributes that asn1crypto encodes once, not once per access.

asn1crypto re-encodes a value built in Python (not parsed from DER) every time
its ``contents`` are read, and a parent reads each child's several times while
encoding itself: the cost grows about fourfold per level. pyHanko builds the
``signing-certificate-v2`` attribute (SigningCertificateV2 → ESSCertIDv2 →
DigestAlgorithm...) fresh for every signature, so encoding the CMS of one B-B
signature re-encoded its DigestAlgorithm over 5,000 times — most of the
signature's CPU time (measured with ``bench/certificates.py``).

:class:`KeptAttributesMixin` (for a pyHanko ``Signer``) builds that attribute's
value once per signer certificate and keeps it parsed from its DER, and returns
the signed attributes re-parsed from their DER, so each is encoded once. The
bytes are the same DER either way.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, tsp
from pyhanko.sign import attributes
from pyhanko.sign.general import as_signing_certificate_v2


class _KeptValue(attributes.SigningCertificateV2Provider):
    """signing-certificate-v2 with a value built beforehand."""

    def __init__(self, provider: attributes.SigningCertificateV2Provider, value: Any) -> None:
        super().__init__(provider.signing_cert)
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return self._value


class KeptAttributesMixin:
    """Mix into a pyHanko ``Signer`` (before it in the bases) to encode signed attributes once."""

    _kept_signing_certificate: tuple[bytes, tsp.SigningCertificateV2] | None = None

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Any:
        for provider in super()._signed_attr_providers(*args, **kwargs):  # type: ignore[misc]  # mixin: the Signer after it has it
            if type(provider) is attributes.SigningCertificateV2Provider:
                yield _KeptValue(provider, self._signing_certificate_value(provider.signing_cert))
            else:
                yield provider

    def _signing_certificate_value(self, cert: Any) -> tsp.SigningCertificateV2:
        der = cert.dump()
        kept = self._kept_signing_certificate
        if kept is None or kept[0] != der:
            value = tsp.SigningCertificateV2.load(as_signing_certificate_v2(cert).dump())
            kept = self._kept_signing_certificate = (der, value)
        return kept[1]

    async def signed_attrs(self, *args: Any, **kwargs: Any) -> cms.CMSAttributes | None:
        built = await super().signed_attrs(*args, **kwargs)  # type: ignore[misc]  # mixin: the Signer after it has it
        return None if built is None else cms.CMSAttributes.load(built.dump())
