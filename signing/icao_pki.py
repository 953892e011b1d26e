"""Reading ICAO PKI certificates that ``cryptography`` refuses, and checking who issued them.

Japan's VDS-NC signer certificate writes its signature algorithm with explicit
NULL parameters and Japan's CSCA writes its P-384 key with explicit curve
parameters; OpenSSL 3 (and so ``cryptography``) refuses both (FORMATS §2).
``asn1crypto`` reads them. A key given with explicit parameters is accepted
when the parameters are exactly those of a named curve (here P-256 or P-384,
the curves ICAO CSCAs use with ES256/ES384), and is then verified as that
named curve; other explicit curves are reported as unsupported, never guessed.
"""

from __future__ import annotations

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key


class UnsupportedKeyError(ValueError):
    """A certificate's key or signature algorithm is one we cannot check."""


# Domain parameters (p, a, b, Gx, Gy, n, h) from FIPS 186-4 / SEC 2.
_P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_P384_P = 2**384 - 2**128 - 2**96 + 2**32 - 1
NAMED_CURVE_PARAMETERS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "secp256r1": (
        _P256_P,
        _P256_P - 3,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        1,
    ),
    "secp384r1": (
        _P384_P,
        _P384_P - 3,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
        0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        1,
    ),
}
_CURVES: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def load_certificate(der: bytes) -> asn1_x509.Certificate:
    """Parse a DER certificate with asn1crypto (which accepts what OpenSSL 3 refuses).

    Raises:
        ValueError: not a DER X.509 certificate.
    """
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        cert.native  # noqa: B018 - parse everything now so errors surface here, not later
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a DER X.509 certificate: {error}") from error
    return cert


def named_curve_of(parameters: asn1_keys.SpecifiedECDomain) -> str:
    """The named curve whose parameters ``parameters`` spell out explicitly.

    Raises:
        UnsupportedKeyError: they match none of the curves we know.
    """
    field = parameters["field_id"]
    if field["field_type"].native != "prime_field":
        raise UnsupportedKeyError("explicit EC parameters over a non-prime field")
    p = field["parameters"].native
    curve = parameters["curve"]
    a = int.from_bytes(curve["a"].native, "big")
    b = int.from_bytes(curve["b"].native, "big")
    base = parameters["base"].native
    size = (p.bit_length() + 7) // 8
    if len(base) != 1 + 2 * size or base[0] != 4:
        raise UnsupportedKeyError("explicit EC base point is not uncompressed")
    gx, gy = int.from_bytes(base[1 : 1 + size], "big"), int.from_bytes(base[1 + size :], "big")
    n = parameters["order"].native
    h = parameters["cofactor"].native or 1
    for name, known in NAMED_CURVE_PARAMETERS.items():
        if (p, a, b, gx, gy, n, h) == known:
            return name
    raise UnsupportedKeyError("explicit EC parameters match no supported named curve")


def public_key_of(cert: asn1_x509.Certificate) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    """The certificate's public key as a ``cryptography`` key, mapping explicit EC parameters.

    Raises:
        UnsupportedKeyError: an algorithm or curve we cannot check.
    """
    info = cert.public_key
    if info.algorithm == "ec":
        kind, detail = info.curve
        if kind == "named":
            name = detail
        elif kind == "specified":
            name = named_curve_of(info["algorithm"]["parameters"].chosen)
        else:
            raise UnsupportedKeyError("implicitly-CA EC parameters")
        if name not in _CURVES:
            raise UnsupportedKeyError(f"EC curve {name} is not supported")
        point = info["public_key"].native
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[name], point)
    key = load_der_public_key(info.dump())
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedKeyError(f"{info.algorithm} keys are not supported")
    return key


def verify_issued_by(cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate) -> None:
    """Check that ``issuer``'s key signed ``cert`` (names and key ids are the caller's concern).

    Raises:
        InvalidSignature: the signature does not verify with the issuer's key.
        UnsupportedKeyError: the issuer key or signature algorithm is not one we check.
    """
    key = public_key_of(issuer)
    tbs = cert["tbs_certificate"].dump()
    signature = cert["signature_value"].native
    algorithm = cert["signature_algorithm"]
    mechanism = algorithm.signature_algo
    if mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, tbs, ec.ECDSA(_hash(algorithm.hash_algo)()))
    elif mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, tbs, padding.PKCS1v15(), _hash(algorithm.hash_algo)())
    elif mechanism == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
        params = algorithm["parameters"]
        digest = _hash(params["hash_algorithm"]["algorithm"].native)()
        pss = padding.PSS(padding.MGF1(digest), params["salt_length"].native)
        key.verify(signature, tbs, pss, digest)
    else:
        raise UnsupportedKeyError(f"signature algorithm {mechanism} with this issuer key")


def _hash(name: str) -> type[hashes.HashAlgorithm]:
    if name not in _HASHES:
        raise UnsupportedKeyError(f"hash {name} is not supported")
    return _HASHES[name]


__all__ = [
    "InvalidSignature",
    "NAMED_CURVE_PARAMETERS",
    "UnsupportedKeyError",
    "load_certificate",
    "named_curve_of",
    "public_key_of",
    "verify_issued_by",
]
