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
    movers: list[Person] = []
    for index, (code, _, _, _, count) in enumerate(MUNICIPALITIES):
        movers = await _residents(connection, vault, rng, code, count, index, movers)
    return True


#: How many people moved 千代田区 → 新宿区 → 札幌市 and are registered in all three.
MOVERS = 50

# Lots in date (the master's expiry dates) for each dose of the demo's one schedule.
_PRIMARY_LOT = {"pfizer-comirnaty": "FA4597", "moderna-spikevax": "3002330"}
_VOLUME = {"pfizer-comirnaty": Decimal("0.3"), "moderna-spikevax": Decimal("0.5")}
_BOOSTER = ("pfizer-comirnaty", "FF2018", "FK0108")  # product, dose 3 lot, dose 4 lot


@dataclass(frozen=True)
class Dose:
    """One dose of a demo person's history, and the municipality they lived in then."""

    number: int
    day: dt.date
    product: str
    lot: str
    area: int
    """Index into :data:`MUNICIPALITIES`."""


@dataclass(frozen=True)
class Person:
    """A demo person: the same name, birth date and My Number in every municipality."""

    family: str
    family_kana: str
    given: str
    given_kana: str
    sex: str
    birth: dt.date
    my_number: str
    doses: tuple[Dose, ...]
    moved_out: tuple[dt.date | None, ...] = ()
    """The day they left each municipality (a mover), by area index."""


def _age_years(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _person(rng: random.Random, home: int, mover: bool) -> Person:
    """A person and one dose history that keeps the rules (age, intervals, lots, order).

    About 70% are vaccinated: doses 1 and 2 in 2021 (Pfizer from 12 years, Moderna from
    18); a mover also had dose 3 in 2022 in 新宿区 and dose 4 later that year in 札幌市,
    after leaving the earlier municipality.
    """
    family, family_kana = rng.choice(FAMILY)
    given, given_kana, sex = rng.choice(GIVEN)
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 80))
    my_number = my_number_for(rng)
    first = dt.date(2021, 6, 1) + dt.timedelta(days=rng.randrange(0, 120))
    product = "pfizer-comirnaty" if rng.randrange(3) else "moderna-spikevax"
    if product == "moderna-spikevax" and _age_years(birth, first) < 18:
        product = "pfizer-comirnaty"
    doses: list[Dose] = []
    if rng.randrange(10) < 7 and _age_years(birth, first) >= 12:
        gap = 21 if product == "pfizer-comirnaty" else 28
        lot = _PRIMARY_LOT[product]
        second = first + dt.timedelta(days=gap)
        doses = [Dose(1, first, product, lot, home), Dose(2, second, product, lot, home)]
    if not mover:
        return Person(family, family_kana, given, given_kana, sex, birth, my_number, tuple(doses))
    # Moved out of 千代田区 in early 2022 and out of 新宿区 in the summer of 2022.
    left_first = dt.date(2022, 1, 10) + dt.timedelta(days=rng.randrange(0, 30))
    left_second = dt.date(2022, 7, 1) + dt.timedelta(days=rng.randrange(0, 30))
    if doses:
        booster, third_lot, fourth_lot = _BOOSTER
        third = max(doses[1].day + dt.timedelta(days=185), left_first + dt.timedelta(days=7))
        fourth = max(third + dt.timedelta(days=155), left_second + dt.timedelta(days=7))
        doses += [Dose(3, third, booster, third_lot, 1), Dose(4, fourth, booster, fourth_lot, 2)]
    return Person(
        family, family_kana, given, given_kana, sex, birth, my_number, tuple(doses),
        (left_first, left_second, None),
    )  # fmt: skip


def volume_for(dose: Dose) -> Decimal:
    """The dose volume the master allows for this product and dose."""
    return _VOLUME[dose.product]


async def _residents(
    connection: asyncpg.Connection,
    vault: MyNumberVault,
    rng: random.Random,
    code: str,
    count: int,
    index: int,
    movers: list[Person],
) -> list[Person]:
    """Residents, tickets and doses of one municipality.

    The first :data:`MOVERS` residents of every municipality are the same people: they
    moved 千代田区 → 新宿区 → 札幌市 and are registered in all three with the same name,
    birth date and My Number, each municipality holding the doses given while they lived
    there (one history across the three, for inquiries and certificates from several
    municipalities). Returns them.
    """
    residents, tickets, doses = [], [], []
    now = dt.datetime.now(dt.UTC)
    people = []
    for n in range(count):
        person = movers[n] if n < len(movers) else _person(rng, index, mover=n < MOVERS)
        people.append(person)
        resident_id = uuid4()
        moved_out = person.moved_out[index] if person.moved_out else None
        residents.append((
            resident_id, code, f"{index + 1}{n:08d}", vault.seal(person.my_number, code),
            vault.lookup_hash(person.my_number), f"{person.family} {person.given}",
            f"{person.family_kana} {person.given_kana}", "", person.birth, person.sex,
            moved_out, None, "medical_worker" if n % 40 == 0 else "", n % 97 == 0, 1, "active",
            now, now,
        ))  # fmt: skip
        ticket = f"{index + 1}{n:09d}"
        tickets.append(
            (uuid4(), code, ticket, resident_id, "1", None, dt.date(2021, 4, 1), "valid", now, now)
        )
        for dose in person.doses:
            if dose.area != index:
                continue
            doses.append((
                uuid4(), code, resident_id, ticket, "1", dose.number, dose.day, code,
                f"{code} 集団接種会場", None, "接種 医師", dose.product, dose.lot, volume_for(dose),
                "active", "ok", "[]", "import", None, 1, None, now, now,
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
    return people[:MOVERS]
