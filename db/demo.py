"""Deterministic demo data: three municipalities, venues, one account per role,
about 10,000 residents with valid My Numbers and tickets, and some doses.

Run by ``vrs demo``. Everything is generated from a fixed seed, so two runs
give the same people; re-running on a loaded database adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID, uuid4

import asyncpg

from common.identifiers import my_number_check_digit
from db.accounts.queries import create_account
from db.accounts.roles import Role
from db.engine import current_connection
from db.residents.my_number import MyNumberVault
from db.tenancy.queries import TermsAgreed, create_municipality, create_venue
from db.vaccines.loader import load_master_data

DEMO_PASSWORD = "vrs-demo-2026!"  # noqa: S105 - printed for demo sign-in

MUNICIPALITIES = [
    # code, name, name_en, head, residents
    ("131016", "千代田区", "Chiyoda City", "千代田区長", 4000),
    ("131041", "新宿区", "Shinjuku City", "新宿区長", 3000),
    ("011002", "札幌市", "Sapporo City", "札幌市長", 3000),
]

FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
          ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
          ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ")]  # fmt: skip
GIVEN = [("太郎", "タロウ", "1"), ("花子", "ハナコ", "2"), ("一郎", "イチロウ", "1"),
         ("美咲", "ミサキ", "2"), ("健太", "ケンタ", "1"), ("陽子", "ヨウコ", "2"),
         ("翔", "ショウ", "1"), ("由美", "ユミ", "2"), ("大輔", "ダイスケ", "1"),
         ("さくら", "サクラ", "2"), ("浩", "ヒロシ", "1"), ("恵子", "ケイコ", "2")]  # fmt: skip


@dataclass(frozen=True)
class DemoAccount:
    """A demo account, printed so a new user can sign in."""

    login: str
    role: Role
    municipality_code: str | None


def demo_accounts() -> list[DemoAccount]:
    """One account per role (two municipalities have staff)."""
    return [
        DemoAccount("national-admin", Role.NATIONAL_ADMIN, None),
        DemoAccount("national-viewer", Role.NATIONAL_VIEWER, None),
        DemoAccount("tokyo-viewer", Role.PREFECTURE_VIEWER, None),
        DemoAccount("chiyoda-admin", Role.MUNICIPAL_ADMIN, "131016"),
        DemoAccount("chiyoda-clerk", Role.CLERK, "131016"),
        DemoAccount("chiyoda-venue", Role.VENUE_OPERATOR, "131016"),
        DemoAccount("sapporo-clerk", Role.CLERK, "011002"),
        DemoAccount("sapporo-venue", Role.VENUE_OPERATOR, "011002"),
    ]


def my_number_for(rng: random.Random) -> str:
    """A random My Number with a correct check digit."""
    first = f"{rng.randrange(10**10, 10**11):011d}"
    return first + my_number_check_digit(first)


async def load_demo(vault: MyNumberVault) -> bool:
    """Load the demo data in the current owner transaction; False if already there."""
    connection = current_connection()
    await load_master_data()
    if await connection.fetchval("SELECT count(*) FROM account WHERE login = 'chiyoda-clerk'"):
        return False
    rng = random.Random(20210217)  # the programme's first day
    venues: dict[str, UUID] = {}
    for code, name, name_en, head, _ in MUNICIPALITIES:
        await create_municipality(
            code,
            name,
            name_en,
            head,
            TermsAgreed(
                kiosk_issuance=True,
                certificate_contact=f"{name} 新型コロナワクチン接種証明書担当 03-0000-0000",
            ),
        )
        venues[code] = await create_venue(
            code, "V001", f"{name}集団接種会場", "venue", f"{name}役所"
        )
        await create_venue(code, "C001", f"{name}中央クリニック", "clinic")
    for account in demo_accounts():
        await create_account(
            login=account.login,
            display_name=account.login,
            password=DEMO_PASSWORD,
            role=account.role,
            municipality_code=account.municipality_code,
            prefecture_code="13" if account.role is Role.PREFECTURE_VIEWER else None,
            venue_id=venues.get(account.municipality_code or "")
            if account.role is Role.VENUE_OPERATOR
            else None,
        )
    moved: list[str] = []
    for index, (code, _, _, _, count) in enumerate(MUNICIPALITIES):
        moved = await _residents(connection, vault, rng, code, count, index, moved)
    return True


async def _residents(
    connection: asyncpg.Connection,
    vault: MyNumberVault,
    rng: random.Random,
    code: str,
    count: int,
    index: int,
    moved_in: list[str],
) -> list[str]:
    """Residents, tickets and doses of one municipality.

    The first 50 residents of each later municipality reuse the My Numbers of
    the previous one's first 50: 50 people who moved Chiyoda → Shinjuku →
    Sapporo and are registered in all three, for inquiries and certificates
    from several municipalities.
    """
    residents, tickets, doses, my_numbers = [], [], [], []
    now = dt.datetime.now(dt.UTC)
    for n in range(count):
        family, family_kana = rng.choice(FAMILY)
        given, given_kana, sex = rng.choice(GIVEN)
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 80))
        my_number = moved_in[n] if n < len(moved_in) and n < 50 else my_number_for(rng)
        my_numbers.append(my_number)
        resident_id = uuid4()
        residents.append((
            resident_id, code, f"{index + 1}{n:08d}", vault.seal(my_number, code),
            vault.lookup_hash(my_number), f"{family} {given}", f"{family_kana} {given_kana}",
            "", birth, sex, None, None, "medical_worker" if n % 40 == 0 else "",
            n % 97 == 0, 1, "active", now, now,
        ))  # fmt: skip
        ticket = f"{index + 1}{n:09d}"
        tickets.append(
            (uuid4(), code, ticket, resident_id, "1", None, dt.date(2021, 4, 1), "valid", now, now)
        )
        if n % 10 < 7:  # about 70% vaccinated
            product, volume = (
                ("pfizer-comirnaty", Decimal("0.3"))
                if n % 3
                else ("moderna-spikevax", Decimal("0.5"))
            )
            lot = "FA4597" if product.startswith("pfizer") else "3002330"
            first = dt.date(2021, 6, 1) + dt.timedelta(days=rng.randrange(0, 120))
            gap = 21 if product.startswith("pfizer") else 28
            for dose, day in ((1, first), (2, first + dt.timedelta(days=gap))):
                doses.append((
                    uuid4(), code, resident_id, ticket, "1", dose, day, code, f"{code} 集団接種会場",
                    None, "接種 医師", product, lot, volume, "active", "ok", "[]", "import",
                    None, 1, None, now, now,
                ))  # fmt: skip
    await connection.copy_records_to_table(
        "resident",
        records=residents,
        columns=["id", "municipality_code", "resident_number", "my_number_ciphertext",
                 "my_number_hmac", "name", "name_kana", "former_name", "birth_date", "sex",
                 "moved_out_on", "deceased_on", "priority_group", "needs_care", "version",
                 "status", "created_at", "updated_at"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "ticket",
        records=tickets,
        columns=["id", "municipality_code", "ticket_number", "resident", "ticket_type",
                 "dose_number", "issued_on", "status", "created_at", "updated_at"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "vaccination",
        records=doses,
        columns=["id", "municipality_code", "resident", "ticket_number", "ticket_type",
                 "dose_number", "vaccinated_on", "vaccinated_by_municipality_code", "venue_name",
                 "venue_id", "doctor_name", "product", "lot_number", "volume_ml", "status",
                 "quality", "quality_reasons", "source", "idempotency_key", "version",
                 "recorded_by", "recorded_at", "updated_at"],
    )  # fmt: skip
    return my_numbers
