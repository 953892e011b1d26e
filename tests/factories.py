"""Plain factories for tests: ``create_x(**overrides)`` writing real rows as the owner."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

from common.identifiers import my_number_check_digit
from common.settings import get_settings
from db.accounts import queries as _account_queries
from db.accounts.queries import create_account as _create_account
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from db.residents.my_number import MyNumberVault
from db.tenancy.queries import TermsAgreed
from db.tenancy.queries import create_municipality as _create_municipality
from db.tenancy.queries import create_venue as _create_venue

PASSWORD = "correct horse battery"  # noqa: S105 - test accounts only
_sequence = itertools.count(1)

MUNICIPALITY_NAMES = {
    "131016": ("千代田区", "Chiyoda City"),
    "131041": ("新宿区", "Shinjuku City"),
    "011002": ("札幌市", "Sapporo City"),
    "141003": ("横浜市", "Yokohama City"),
}


def vault() -> MyNumberVault:
    """The vault with the test process's key."""
    return MyNumberVault(get_settings().my_number_key)


def valid_my_number(seed: int | None = None) -> str:
    """A My Number with a correct check digit."""
    first = f"{(seed if seed is not None else next(_sequence)) * 7919 % 10**11:011d}"
    return first + my_number_check_digit(first)


async def create_municipality(code: str = "131016", **terms: Any) -> str:
    """A municipality with default terms (overridable)."""
    name, name_en = MUNICIPALITY_NAMES.get(code, (f"市{code}", f"City {code}"))
    async with owner_transaction():
        return await _create_municipality(code, name, name_en, f"{name}長", TermsAgreed(**terms))


async def create_venue(
    municipality_code: str = "131016", code: str = "V001", name: str = ""
) -> UUID:
    """A venue of a municipality."""
    async with owner_transaction():
        return await _create_venue(municipality_code, code, name or f"会場{code}")


_real_hash_password = _account_queries.hash_password
#: Each password's argon2id hash, made once per test process by the product's own
#: ``hash_password`` (same parameters): accounts made here share it.
_hashes: dict[str, str] = {}
_hashing_once = 0


def _hash_once(password: str) -> str:
    known = _hashes.get(password)
    if known is None:
        known = _hashes[password] = _real_hash_password(password)
    return known


@contextlib.contextmanager
def _each_password_hashed_once() -> Iterator[None]:
    """While factories create accounts, a password hashed before is not hashed again.

    Hashing with argon2id's parameters costs 0.3-0.5 s here, and most tests create
    accounts with :data:`PASSWORD`. The hash is a real one (the product's hasher, its
    parameters), so signing in still checks it at full cost; only its salt is shared.
    Counted: overlapping calls (``asyncio.gather``) put the real function back last.
    """
    global _hashing_once
    _hashing_once += 1
    _account_queries.hash_password = _hash_once
    try:
        yield
    finally:
        _hashing_once -= 1
        if _hashing_once == 0:
            _account_queries.hash_password = _real_hash_password


async def create_account(
    login: str | None = None,
    role: Role = Role.CLERK,
    municipality_code: str | None = "131016",
    password: str = PASSWORD,
    **overrides: Any,
) -> str:
    """An account; returns its login."""
    login = login or f"user{next(_sequence)}"
    if role is Role.VENUE_OPERATOR and "venue_id" not in overrides:
        overrides["venue_id"] = await create_venue(municipality_code or "131016")
    if role is Role.PREFECTURE_VIEWER:
        overrides.setdefault("prefecture_code", "13")
    with _each_password_hashed_once():
        async with owner_transaction():
            await _create_account(
                login=login,
                display_name=overrides.pop("display_name", login),
                password=password,
                role=role,
                municipality_code=municipality_code if role.is_municipal else None,
                **overrides,
            )
    return login


async def create_resident(municipality_code: str = "131016", **overrides: Any) -> dict[str, Any]:
    """A resident (with a My Number unless ``my_number=None``) and one ticket."""
    n = next(_sequence)
    my_number = overrides.pop("my_number", valid_my_number(n))
    ticket_number = overrides.pop("ticket_number", f"{n:010d}")
    values = {
        "resident_number": f"{n}",
        "name": "山田 太郎",
        "name_kana": "ヤマダ タロウ",
        "birth_date": dt.date(1960, 4, 1),
        "sex": "1",
        **overrides,
    }
    async with owner_transaction():
        connection = current_connection()
        resident_id = await connection.fetchval(
            "INSERT INTO resident (municipality_code, resident_number, my_number_ciphertext,"
            " my_number_hmac, name, name_kana, birth_date, sex) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
            " RETURNING id",
            municipality_code,
            values["resident_number"],
            vault().seal(my_number, municipality_code) if my_number else None,
            vault().lookup_hash(my_number) if my_number else None,
            values["name"],
            values["name_kana"],
            values["birth_date"],
            values["sex"],
        )
        await connection.execute(
            "INSERT INTO ticket (municipality_code, ticket_number, resident) VALUES ($1, $2, $3)",
            municipality_code,
            ticket_number,
            resident_id,
        )
    return {"id": resident_id, "my_number": my_number, "ticket_number": ticket_number, **values}


async def create_vaccination(
    resident: dict[str, Any], municipality_code: str = "131016", **overrides: Any
) -> UUID:
    """A dose for a resident."""
    values = {
        "dose_number": 1,
        "vaccinated_on": dt.date(2021, 6, 1),
        "product": "pfizer-comirnaty",
        "lot_number": "FA4597",
        "volume_ml": Decimal("0.3"),
        "venue_name": "会場V001",
        "doctor_name": "医師 一郎",
        **overrides,
    }
    async with owner_transaction():
        return await current_connection().fetchval(
            "INSERT INTO vaccination (municipality_code, resident, ticket_number, dose_number,"
            " vaccinated_on, vaccinated_by_municipality_code, venue_name, doctor_name, product,"
            " lot_number, volume_ml) VALUES ($1,$2,$3,$4,$5,$1,$6,$7,$8,$9,$10) RETURNING id",
            municipality_code,
            resident["id"],
            resident["ticket_number"],
            values["dose_number"],
            values["vaccinated_on"],
            values["venue_name"],
            values["doctor_name"],
            values["product"],
            values["lot_number"],
            values["volume_ml"],
        )


_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: Any, path: str = "/sign-in") -> str:
    """Open a page and read the CSRF token its forms carry."""
    response = await client.get(path)
    match = _CSRF_INPUT.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def sign_in(client: Any, login: str, password: str = PASSWORD) -> Any:
    """Sign a client in through the real form; returns the response."""
    token = await csrf_token(client)
    return await client.post(
        "/sign-in",
        data={"login": login, "password": password, "_csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


async def enrol_device(login: str, client: Any = None, label: str = "受付タブレット") -> str:
    """Register and enrol a venue device for a venue account's venue; returns its credential.

    With ``client`` (an httpx client) the device cookie is set on it, as the
    enrolment page would; a Playwright test adds it to its browser context
    (``DEVICE_COOKIE`` of :mod:`web.access`).
    """
    import secrets

    from db.accounts.queries import token_hash
    from web.access import DEVICE_COOKIE

    credential = "vrsdev_" + secrets.token_urlsafe(32)
    async with owner_transaction():
        connection = current_connection()
        account = await connection.fetchrow(
            "SELECT id, municipality_code, venue_id FROM account WHERE login = $1", login
        )
        assert account is not None and account["venue_id"] is not None, f"{login}: no venue"
        await connection.execute(
            "INSERT INTO venue_device (municipality_code, venue, label, credential_hash,"
            " created_by, enrolled_at, enrolled_by) VALUES ($1, $2, $3, $4, $5, now(), $5)",
            account["municipality_code"],
            account["venue_id"],
            label,
            token_hash(credential),
            account["id"],
        )
    if client is not None:
        client.cookies.set(DEVICE_COOKIE, credential)
    return credential
