"""The PDF signer key in a PKCS#11 token (an HSM; SoftHSM in tests).

:func:`generate_signer_key` makes an ECDSA P-256 key pair inside the token
(private part sensitive and not extractable) and returns the public key, which
:meth:`signing.keys.KeyStore.init` certifies with the deployment's PDF root.
:func:`token_signer` opens the token for signing and gives a pyHanko signer
for :class:`signing.pades.PdfSigner`.

A token's session serves one operation at a time (PKCS#11 §5): certificates
are signed from several worker threads, so signing through one session is
serialised with a lock. The hash is computed here and the token asked for a
raw ``CKM_ECDSA`` signature, which every token that knows P-256 implements.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pkcs11
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pyhanko.sign.pkcs11 import PKCS11Signer

from signing.signed_attributes import KeptAttributesMixin

_P256 = "1.2.840.10045.3.1.7"  # secp256r1 / prime256v1


class TokenError(Exception):
    """The PKCS#11 module, token or key cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TokenSettings:
    """Where the PDF signer key lives: module, token label, user PIN, key label."""

    module: str
    token_label: str
    pin: str
    key_label: str

    def __repr__(self) -> str:  # never print the PIN
        return f"TokenSettings({self.module!r}, {self.token_label!r}, key {self.key_label!r})"


def _open(settings: TokenSettings, *, read_write: bool = False) -> Any:
    """An open, logged-in session on the token."""
    if not settings.token_label:
        raise TokenError("no PKCS#11 token label is set (VRS_PDF_SIGNER_PKCS11_TOKEN)")
    try:
        library = pkcs11.lib(settings.module)
    except (RuntimeError, OSError, pkcs11.PKCS11Error) as error:
        raise TokenError(f"cannot load the PKCS#11 module {settings.module}: {error}") from error
    try:
        token = library.get_token(token_label=settings.token_label)
    except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as error:
        raise TokenError(
            f"no single token labelled {settings.token_label!r} in {settings.module}"
        ) from error
    try:
        return token.open(rw=read_write, user_pin=settings.pin or None)
    except pkcs11.UserAlreadyLoggedIn:
        # Login is per process in PKCS#11: another session of ours is logged in already.
        return token.open(rw=read_write)
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid) as error:
        raise TokenError(f"the PIN of token {settings.token_label!r} is wrong") from error
    except pkcs11.PKCS11Error as error:
        raise TokenError(f"cannot open token {settings.token_label!r}: {error!r}") from error


def _private_keys(session: Any, label: str) -> list[Any]:
    return list(
        session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
    )


def generate_signer_key(settings: TokenSettings) -> ec.EllipticCurvePublicKey:
    """Generate the PDF signer's P-256 key pair in the token; returns its public key.

    Raises:
        TokenError: the module, token or PIN is wrong, or the token already
            holds a key with this label (never replaced).
    """
    session = _open(settings, read_write=True)
    try:
        if _private_keys(session, settings.key_label):
            raise TokenError(
                f"token {settings.token_label!r} already holds a key labelled"
                f" {settings.key_label!r}; refusing to replace it"
            )
        parameters = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_P256)}, local=True
        )
        public, _private = parameters.generate_keypair(
            store=True,
            label=settings.key_label,
            id=settings.key_label.encode("utf-8"),
            public_template={Attribute.VERIFY: True},
            private_template={
                Attribute.SIGN: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
            },
        )
        key = serialization.load_der_public_key(encode_ec_public_key(public))
    except pkcs11.PKCS11Error as error:
        raise TokenError(f"the token could not generate the key: {error!r}") from error
    finally:
        session.close()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # pragma: no cover - we asked for EC
        raise TokenError("the token returned a public key that is not EC")
    return key


class _SerialPkcs11Signer(KeptAttributesMixin, PKCS11Signer):
    """pyHanko's PKCS#11 signer, one signature at a time through its session."""

    _lock = threading.Lock()

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        key = self._key_handle
        assert key is not None, "token_signer loads the key handle"
        spec = self._select_pkcs11_signing_params(
            digest_algorithm, sign_kwargs=self.sign_kwargs(data)
        )
        to_sign = spec.pre_sign_transform(data) if spec.pre_sign_transform else data

        def perform() -> bytes:
            # The lock is held in the worker thread only, never across an await.
            with self._lock:
                signature = key.sign(to_sign, **spec.sign_kwargs)
            return spec.post_sign_transform(signature) if spec.post_sign_transform else signature

        return await asyncio.get_running_loop().run_in_executor(None, perform)


def token_signer(
    settings: TokenSettings,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
) -> PKCS11Signer:
    """A pyHanko signer using the token's key ``settings.key_label`` with ``certificate``.

    Raises:
        TokenError: the token cannot be opened, holds no such key, or its key
            does not match ``certificate``.
    """
    session = _open(settings)
    keys = _private_keys(session, settings.key_label)
    if len(keys) != 1:
        session.close()
        raise TokenError(
            f"token {settings.token_label!r} holds {len(keys)} keys labelled"
            f" {settings.key_label!r}, not one (run `vrs keys init --pkcs11`)"
        )
    public = _public_key(session, settings.key_label)
    expected = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public is not None and public != expected:
        session.close()
        raise TokenError(
            f"the key {settings.key_label!r} in the token is not the one the PDF signer"
            " certificate certifies"
        )

    def asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    signer = _SerialPkcs11Signer(
        session,
        key_label=settings.key_label,
        signing_cert=asn1(certificate),
        ca_chain=[asn1(c) for c in chain],
        use_raw_mechanism=True,
    )
    # Find the key handle now, in this thread: pyHanko's lazy loading waits on an
    # asyncio event, which cannot be shared by the event loops of several threads.
    signer._load_objects()  # type: ignore[no-untyped-call]  # noqa: SLF001 - pyHanko's synchronous loader, unannotated
    return signer


def _public_key(session: Any, label: str) -> bytes | None:
    found = list(
        session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
    )
    return encode_ec_public_key(found[0]) if len(found) == 1 else None
