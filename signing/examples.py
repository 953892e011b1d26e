"""Fictional certificate content for demonstrations, the benchmark and tests.

Everything here is invented (the municipality is real, 千代田区 131016, so its
code passes the check digit; the people are not). ``example_content(n)`` varies
the person with ``n`` so that a benchmark signs a different certificate each time.
"""

from __future__ import annotations

from datetime import date, timedelta

from signing.content import (
    CertificateContent,
    CertificateKind,
    Dose,
    Holder,
    Issuer,
    new_certificate_id,
)

_FAMILY = [
    ("山田", "YAMADA"),
    ("佐藤", "SATO"),
    ("鈴木", "SUZUKI"),
    ("高橋", "TAKAHASHI"),
    ("渡邉", "WATANABE"),
]
_GIVEN = [
    ("太郎", "TARO"),
    ("花子", "HANAKO"),
    ("翔太", "SHOTA"),
    ("美咲", "MISAKI"),
    ("健一", "KENICHI"),
]

EXAMPLE_ISSUER = Issuer(
    municipality_code="131016",
    name_ja="千代田区",
    name_en="Chiyoda City",
    head_ja="千代田区長 山田 一郎",
    head_en="Mayor of Chiyoda City, YAMADA Ichiro",
    contact_ja="千代田区 保健所 新型コロナワクチン接種証明書係 電話 03-0000-0000（平日 8:30〜17:15）",
    contact_en="Chiyoda City Public Health Center, COVID-19 Vaccination Certificates, +81-3-0000-0000",
)


def example_doses(count: int = 3, start: date = date(2021, 6, 1)) -> tuple[Dose, ...]:
    """Up to seven Pfizer doses (Japan's most) at the usual intervals: 3 weeks, then months."""
    offsets = [0, 21, 260, 420, 600, 750, 900][:count]
    return tuple(
        Dose(
            dose_number=number,
            date=start + timedelta(days=offset),
            product_name_ja="コミナティ筋注",
            product_name_en="COMIRNATY",
            maker_ja="ファイザー",
            maker_en="Pfizer",
            cvx_code="208",
            icd11_code="XM0GQ8",
            lot=f"F{'ACDEFGHJ'[number % 8]}{1000 + number * 37:04d}",
            municipality_ja="千代田区",
            municipality_en="Chiyoda City",
        )
        for number, offset in enumerate(offsets, start=1)
    )


def example_content(
    n: int = 0, kind: CertificateKind = "domestic", doses: int = 3
) -> CertificateContent:
    """A certificate for the ``n``-th fictional person."""
    family_ja, family_en = _FAMILY[n % len(_FAMILY)]
    given_ja, given_en = _GIVEN[(n // len(_FAMILY)) % len(_GIVEN)]
    holder = Holder(
        family_name=family_ja,
        given_name=given_ja,
        birth_date=date(1950, 1, 1) + timedelta(days=(n * 397) % 20000),
        family_name_roman=family_en,
        given_name_roman=given_en,
        former_family_name="佐藤" if n % 7 == 3 else "",
        sex="F" if n % 2 else "M",
        passport_number=f"TK{(n * 7919) % 10_000_000:07d}",
        nationality="JPN",
    )
    return CertificateContent(
        kind=kind,
        certificate_id=new_certificate_id(),
        issued_on=date(2024, 3, 1),
        issuer=EXAMPLE_ISSUER,
        holder=holder,
        doses=example_doses(doses),
    )
