"""Municipalities, their settings (terms agreed to) and venues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from common.identifiers import parse_municipality_code, prefecture_of
from db.engine import current_connection
from db.tenancy.tables import Municipality, MunicipalitySetting, Venue

#: 都道府県 (JIS X 0401). Reference data loaded by the first migration's user, `vrs migrate`.
PREFECTURES: dict[str, tuple[str, str]] = {
    "01": ("北海道", "Hokkaido"), "02": ("青森県", "Aomori"), "03": ("岩手県", "Iwate"),
    "04": ("宮城県", "Miyagi"), "05": ("秋田県", "Akita"), "06": ("山形県", "Yamagata"),
    "07": ("福島県", "Fukushima"), "08": ("茨城県", "Ibaraki"), "09": ("栃木県", "Tochigi"),
    "10": ("群馬県", "Gunma"), "11": ("埼玉県", "Saitama"), "12": ("千葉県", "Chiba"),
    "13": ("東京都", "Tokyo"), "14": ("神奈川県", "Kanagawa"), "15": ("新潟県", "Niigata"),
    "16": ("富山県", "Toyama"), "17": ("石川県", "Ishikawa"), "18": ("福井県", "Fukui"),
    "19": ("山梨県", "Yamanashi"), "20": ("長野県", "Nagano"), "21": ("岐阜県", "Gifu"),
    "22": ("静岡県", "Shizuoka"), "23": ("愛知県", "Aichi"), "24": ("三重県", "Mie"),
    "25": ("滋賀県", "Shiga"), "26": ("京都府", "Kyoto"), "27": ("大阪府", "Osaka"),
    "28": ("兵庫県", "Hyogo"), "29": ("奈良県", "Nara"), "30": ("和歌山県", "Wakayama"),
    "31": ("鳥取県", "Tottori"), "32": ("島根県", "Shimane"), "33": ("岡山県", "Okayama"),
    "34": ("広島県", "Hiroshima"), "35": ("山口県", "Yamaguchi"), "36": ("徳島県", "Tokushima"),
    "37": ("香川県", "Kagawa"), "38": ("愛媛県", "Ehime"), "39": ("高知県", "Kochi"),
    "40": ("福岡県", "Fukuoka"), "41": ("佐賀県", "Saga"), "42": ("長崎県", "Nagasaki"),
    "43": ("熊本県", "Kumamoto"), "44": ("大分県", "Oita"), "45": ("宮崎県", "Miyazaki"),
    "46": ("鹿児島県", "Kagoshima"), "47": ("沖縄県", "Okinawa"),
}  # fmt: skip


async def ensure_prefectures() -> None:
    """Insert the 47 prefectures if missing (idempotent)."""
    await current_connection().executemany(
        "INSERT INTO prefecture (code, name, name_en) VALUES ($1, $2, $3)"
        " ON CONFLICT (code) DO NOTHING",
        [(code, name, name_en) for code, (name, name_en) in PREFECTURES.items()],
    )


@dataclass(frozen=True)
class TermsAgreed:
    """What a municipality takes part in (確認事項 and the kiosk terms)."""

    provides_records_to_inquiries: bool = True
    accepts_records_from_other_venues: bool = True
    provides_statistics: bool = True
    kiosk_issuance: bool = False
    kiosk_hours_start: dt.time | None = dt.time(6, 30)
    kiosk_hours_end: dt.time | None = dt.time(23, 0)
    certificate_contact: str = ""


class MunicipalityError(ValueError):
    """A municipality cannot be registered as asked; ``key`` names the message."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key} {params}" if params else key)
        self.key = key
        self.params = params


async def create_municipality(
    code: str,
    name: str,
    name_en: str,
    head_title: str = "",
    terms: TermsAgreed | None = None,
    *,
    prefecture: str | None = None,
    exists_ok: bool = True,
) -> str:
    """Register a municipality (used by ``vrs`` and the national admin's page).

    The code must be a 6-digit 地方公共団体コード with its check digit
    (:class:`~common.identifiers.IdentifierError` otherwise); ``prefecture``,
    when given, must be the one the code belongs to. An existing code is kept as
    it is (``exists_ok``, the command's idempotence) or refused. The national
    admin's page runs this in the new municipality's own (empty) area, where its
    first settings revision goes.
    """
    code = parse_municipality_code(code)
    name, name_en = name.strip(), name_en.strip()
    if not name:
        raise MunicipalityError("municipality.name_required")
    if len(name) > 64 or len(name_en) > 128 or len(head_title.strip()) > 64:
        raise MunicipalityError("municipality.too_long")
    if prefecture_of(code) not in PREFECTURES:
        raise MunicipalityError("municipality.prefecture_unknown", code=code)
    if code[2:5] == "000":  # 13000x is 東京都 itself, not one of its municipalities
        raise MunicipalityError("municipality.prefecture_code_itself", code=code)
    if prefecture is not None and prefecture != prefecture_of(code):
        raise MunicipalityError(
            "municipality.prefecture_mismatch", code=code, prefecture=prefecture_of(code)
        )
    if await current_connection().fetchval("SELECT count(*) FROM prefecture") < len(PREFECTURES):
        await ensure_prefectures()  # the owner's first run; `vrs migrate` loads them too
    if await Municipality.exists().where(Municipality.code == code):
        if exists_ok:
            return code
        raise MunicipalityError("municipality.exists", code=code)
    await Municipality(
        code=code,
        prefecture=prefecture_of(code),
        name=name,
        name_en=name_en or name,
        head_title=head_title.strip(),
    ).save()
    await save_terms(code, terms or TermsAgreed(), changed_by=None)
    return code


async def save_terms(
    municipality_code: str, terms: TermsAgreed, changed_by: UUID | None, reason: str = ""
) -> int:
    """Record a new revision of a municipality's settings; returns its number."""
    latest: int = await current_connection().fetchval(
        "SELECT coalesce(max(revision), 0) FROM municipality_setting WHERE municipality_code = $1",
        municipality_code,
    )
    values = {f.name: getattr(terms, f.name) for f in fields(TermsAgreed)}
    await MunicipalitySetting(
        municipality_code=municipality_code,
        changed_by=changed_by,
        revision=latest + 1,
        reason=reason,
        **values,
    ).save()
    return latest + 1


async def current_terms(municipality_code: str) -> TermsAgreed | None:
    """The municipality's settings in force (RLS: the caller's own area)."""
    row = (
        await MunicipalitySetting.select()
        .where(MunicipalitySetting.municipality_code == municipality_code)
        .order_by(MunicipalitySetting.revision, ascending=False)
        .first()
    )
    if row is None:
        return None
    return TermsAgreed(**{f.name: row[f.name] for f in fields(TermsAgreed)})


async def municipality(code: str) -> dict[str, Any] | None:
    """A municipality's reference row with its prefecture name."""
    return (
        await Municipality.select(
            *Municipality.all_columns(), Municipality.prefecture.name.as_alias("prefecture_name")
        )
        .where(Municipality.code == code)
        .first()
    )


async def list_municipalities() -> list[dict[str, Any]]:
    """Every registered municipality (reference data, no personal content)."""
    return await Municipality.select(
        Municipality.code, Municipality.name, Municipality.name_en, Municipality.prefecture
    ).order_by(Municipality.code)


async def venue_id_by_code(municipality_code: str, code: str) -> UUID | None:
    """The id of a municipality's venue by its code, or None."""
    row = (
        await Venue.select(Venue.id)
        .where((Venue.municipality_code == municipality_code) & (Venue.code == code))
        .first()
    )
    found: UUID | None = None if row is None else row["id"]
    return found


async def create_venue(
    municipality_code: str, code: str, name: str, kind: str = "venue", address: str = ""
) -> UUID:
    """Register a venue of a municipality (idempotent on its code)."""
    existing = await venue_id_by_code(municipality_code, code)
    if existing is not None:
        return existing
    venue = Venue(
        municipality_code=municipality_code, code=code, name=name, kind=kind, address=address
    )
    await venue.save()
    return venue.id


async def list_venues(*, open_only: bool = False) -> list[dict[str, Any]]:
    """Venues of the current area (only the open ones: those new accounts and tablets may pick)."""
    query = Venue.select().order_by(Venue.code)
    if open_only:
        query = query.where(Venue.active.eq(True))
    return await query
