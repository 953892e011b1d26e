"""A test "J-LIS" CA and demo residents' My Number cards, for tests and the demo kiosk.

The CA stands in for J-LIS's authentication CA (公的個人認証サービス 利用者証明用認証局):
an RSA-2048 root that issues each card's authentication certificate and a CRL. Like
the real user-authentication certificate, ours carries no My Number, name or address;
the server links a certificate to a My Number through a linkage table (as J-LIS
keeps one), keyed by :attr:`DemoCard.certificate_fingerprint` (SHA-256 of the DER,
:func:`common.card_proof.certificate_fingerprint`) or :attr:`DemoCard.certificate_serial`.

RSA key generation is the slow part (tens to hundreds of milliseconds a key), so keys
are cached as PEM files in a directory the caller names; everything else is derived
deterministically from the keys and fixed dates, so the same directory always yields
the same certificates, serials and fingerprints. Nothing here is for production: the
keys sit unencrypted on disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from common.card_proof import Basic4, certificate_fingerprint
from common.identifiers import my_number_check_digit, parse_my_number
from kiosk.card.card_files import (
    encode_basic4,
    encode_input_support_signature,
    encode_my_number,
    input_support_signed_part,
)
from kiosk.card.emulator import CardPersonalisation, MyNumberCardEmulator

#: Fixed dates keep certificates byte-for-byte reproducible (and far from expiry in tests).
CA_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
CA_NOT_AFTER = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
CARD_NOT_BEFORE = datetime(2024, 4, 1, tzinfo=UTC)
CARD_NOT_AFTER = datetime(2049, 3, 31, 23, 59, 59, tzinfo=UTC)

_CA_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI TEST - not J-LIS"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "VRS test user authentication CA"),
    ]
)


def _with_check_digit(first_eleven: str) -> str:
    return first_eleven + my_number_check_digit(first_eleven)


@dataclass(frozen=True)
class DemoResident:
    """A resident a demo card is issued to: My Number, basic 4 facts and PIN."""

    my_number: str
    basic4: Basic4
    pin: str = "1234"

    def __repr__(self) -> str:  # demo data, but the habit matters: no My Number or PIN in logs
        return f"DemoResident(…{self.my_number[-4:]})"


#: Residents for the demo kiosk and tests (fictional; My Numbers carry valid check digits).
DEMO_RESIDENTS: tuple[DemoResident, ...] = (
    DemoResident(
        _with_check_digit("12345678901"),
        Basic4("デジタル 太郎", "東京都千代田区紀尾井町1番3号", date(1985, 4, 1), "1"),
        "1234",
    ),
    DemoResident(
        _with_check_digit("98765432109"),
        Basic4("接種 花子", "神奈川県横浜市中区本町6丁目50番地の10", date(1992, 11, 23), "2"),
        "4321",
    ),
    DemoResident(
        _with_check_digit("31415926535"),
        Basic4("記録 はじめ", "大阪府大阪市北区中之島1丁目3番20号", date(2001, 2, 28), "9"),
        "0000",
    ),
)


def demo_resident(my_number: str) -> DemoResident:
    """The demo resident with this My Number, or a generic one made up around it."""
    number = parse_my_number(my_number)
    for resident in DEMO_RESIDENTS:
        if resident.my_number == number:
            return resident
    return DemoResident(
        number, Basic4("デモ 住民", "東京都千代田区霞が関1丁目1番1号", date(1970, 1, 1), "9")
    )


# --- keys ----------------------------------------------------------------------------------


def load_or_create_key(key_dir: Path, name: str) -> rsa.RSAPrivateKey:
    """The RSA-2048 key cached as ``key_dir/name.pem``, generated on first use.

    Safe when several processes (xdist workers, the vpcd CLI) ask at once: the first
    file to land wins and everyone reads that one.
    """
    key_dir.mkdir(parents=True, exist_ok=True)
    path = key_dir / f"{name}.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor, temporary = tempfile.mkstemp(dir=key_dir, prefix=f".{name}.")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            os.link(temporary, path)  # fails if another process got there first
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return loaded


def _serial_for(public_key: rsa.RSAPublicKey, not_before: datetime, not_after: datetime) -> int:
    # From the key and validity, not the My Number: a 12-digit number's hash is easily
    # brute-forced. The validity is in so that re-issuing a key gets a new serial.
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    seed = der + f"{not_before.isoformat()}/{not_after.isoformat()}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:16], "big") >> 1 or 1


# --- the CA --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JlisTestCa:
    """The test stand-in for J-LIS's authentication CA: its key and self-signed certificate."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_der(self) -> bytes:
        """The CA certificate as DER (what JPKI EF 000B holds)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def issue_auth_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        not_before: datetime = CARD_NOT_BEFORE,
        not_after: datetime = CARD_NOT_AFTER,
    ) -> x509.Certificate:
        """A user-authentication certificate for a card's key (no personal data in it)."""
        serial = _serial_for(public_key, not_before, not_after)
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                        x509.NameAttribute(NameOID.COMMON_NAME, f"JPKI-TEST-{serial:032X}"),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def crl(
        self,
        revoked: Iterable[x509.Certificate] = (),
        *,
        this_update: datetime,
        next_update: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL revoking ``revoked``, valid from ``this_update`` for a day unless told otherwise."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(next_update or this_update + timedelta(days=1))
        )
        for certificate in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(certificate.serial_number)
                .revocation_date(this_update)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 SHA-256 over ``data`` (the issuer's signature in EF 0003)."""
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def load_test_ca(key_dir: Path, name: str = "jlis-test-ca") -> JlisTestCa:
    """The test CA whose key is cached in ``key_dir`` (a different ``name``: another CA)."""
    key = load_or_create_key(key_dir, name)
    subject = _CA_SUBJECT
    if name != "jlis-test-ca":
        subject = x509.Name([*_CA_SUBJECT, x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial_for(key.public_key(), CA_NOT_BEFORE, CA_NOT_AFTER))
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return JlisTestCa(key, certificate)


# --- cards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCard:
    """A demo resident's card: what it holds, and the public facts the server needs."""

    resident: DemoResident
    auth_key: rsa.RSAPrivateKey
    auth_certificate: x509.Certificate
    ca: JlisTestCa

    def __repr__(self) -> str:
        return f"DemoCard({self.certificate_fingerprint[:16]}…)"

    @property
    def my_number(self) -> str:
        """The resident's My Number (EF 0001)."""
        return self.resident.my_number

    @property
    def pin(self) -> str:
        """The PIN set for both the JPKI authentication and the input support AP."""
        return self.resident.pin

    @property
    def auth_certificate_der(self) -> bytes:
        """The authentication certificate as DER (JPKI EF 000A)."""
        return self.auth_certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate_serial(self) -> int:
        """The certificate's serial number (what a CRL lists)."""
        return self.auth_certificate.serial_number

    @property
    def certificate_fingerprint(self) -> str:
        """SHA-256 of the certificate DER: the key of the server's linkage table."""
        return certificate_fingerprint(self.auth_certificate_der)

    def personalisation(self) -> CardPersonalisation:
        """What the emulator is loaded with, EF 0003 signed by the CA."""
        my_number_file = encode_my_number(self.resident.my_number)
        basic4_file = encode_basic4(self.resident.basic4)
        signed = input_support_signed_part(my_number_file, basic4_file)
        return CardPersonalisation(
            my_number=self.resident.my_number,
            basic4=self.resident.basic4,
            auth_pin=self.resident.pin,
            input_support_pin=self.resident.pin,
            auth_key=self.auth_key,
            auth_certificate=self.auth_certificate_der,
            auth_ca_certificate=self.ca.certificate_der,
            input_support_signature=encode_input_support_signature(signed, self.ca.sign(signed)),
        )

    def emulator(
        self, *, file_contents: Mapping[tuple[bytes, int], bytes] | None = None
    ) -> MyNumberCardEmulator:
        """A fresh emulated card (full retry counters).

        ``file_contents`` replaces binary EFs, keyed by (AID, FID): a malformed card.
        """
        return MyNumberCardEmulator(self.personalisation(), file_contents=file_contents)

    def with_pin(self, pin: str) -> DemoCard:
        """The same card with another PIN."""
        return replace(self, resident=replace(self.resident, pin=pin))


def issue_demo_card(
    ca: JlisTestCa,
    resident: DemoResident,
    key_dir: Path,
    *,
    not_before: datetime = CARD_NOT_BEFORE,
    not_after: datetime = CARD_NOT_AFTER,
    key_name: str | None = None,
) -> DemoCard:
    """Issue ``resident`` a card from ``ca``, its key cached in ``key_dir``.

    ``key_name`` defaults to one derived from the My Number's hash (so the file name
    does not show the number); pass another to give the same resident a second card.
    """
    name = key_name or "card-" + hashlib.sha256(resident.my_number.encode()).hexdigest()[:16]
    key = load_or_create_key(key_dir, name)
    certificate = ca.issue_auth_certificate(
        key.public_key(), not_before=not_before, not_after=not_after
    )
    return DemoCard(resident, key, certificate, ca)
