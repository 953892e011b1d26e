"""Certificate issuance (接種証明書の交付): content from the records, history, revocation.

The content of a certificate is built from a person's active vaccinations in
one municipality and the vaccine master: product names as in force on the
issue date (Moderna's rename to スパイクバックス), maker, CVX and ICD-11 codes.
What was certified is kept as the issuance source data (交付の基礎となる情報),
with the ids of the vaccinations it certified, so correcting or deleting one of
them revokes exactly the certificates that stated it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from db.engine import current_connection
from signing.content import CertificateContent, CertificateKind, Dose, Holder, Issuer

#: Fields of the passport data kept in the issuance history.
PASSPORT_FIELDS = ("passport_number", "nationality", "family_name_roman", "given_name_roman")

_NAME_SPLIT = re.compile(r"[\s\u3000]+")


class NoRecords(ValueError):
    """The person has no active vaccination to certify in this municipality."""


def split_name(name: str) -> tuple[str, str]:
    """氏名 as registered ("山田 太郎") → (氏, 名); a name without a space is all 氏."""
    parts = _NAME_SPLIT.split(name.strip(), maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")


def split_roman_name(roman_name: str) -> tuple[str, str]:
    """The stored "FAMILY GIVEN" Roman-letter name → (family, given)."""
    return split_name(roman_name.upper())


async def _product_facts(codes: Iterable[str], issued_on: dt.date) -> dict[str, dict[str, Any]]:
    """Product code → names in force on ``issued_on``, maker, CVX and ICD-11."""
    rows = await current_connection().fetch(
        """
        SELECT p.code, p.cvx, p.icd11, m.name AS maker, m.name_en AS maker_en,
               n.name, n.name_en, n.valid_from, n.valid_to
        FROM vaccine_product p
        JOIN maker m ON m.code = p.maker
        JOIN product_name n ON n.product = p.code
        WHERE p.code = ANY($1::text[])
        ORDER BY p.code, n.valid_from
        """,
        sorted(set(codes)),
    )
    by_product: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_product.setdefault(row["code"], []).append(dict(row))
    facts: dict[str, dict[str, Any]] = {}
    for code, names in by_product.items():
        in_force = [
            n
            for n in names
            if n["valid_from"] <= issued_on
            and (n["valid_to"] is None or issued_on <= n["valid_to"])
        ]
        started = [n for n in names if n["valid_from"] <= issued_on]
        # The name in force on the issue date; else the latest before it; else the first.
        facts[code] = (in_force or started[-1:] or names[:1])[0]
    return facts


async def municipality_names(codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Municipality code → name, English name, head title."""
    return await _municipality_names(codes)


async def _municipality_names(codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = await current_connection().fetch(
        "SELECT code, name, name_en, head_title FROM municipality WHERE code = ANY($1::text[])",
        sorted(set(codes)),
    )
    return {row["code"]: dict(row) for row in rows}


async def build_content(
    *,
    kind: CertificateKind,
    certificate_id: str,
    issued_on: dt.date,
    municipality_code: str,
    contact: str,
    resident: Mapping[str, Any],
    doses: Sequence[Mapping[str, Any]],
    passport: Mapping[str, str] | None = None,
) -> tuple[CertificateContent, list[str]]:
    """The certificate content and the ids of the vaccinations it certifies.

    Args:
        resident: ``name``, ``former_name``, ``birth_date`` (a resident row).
        doses: active vaccinations (``id`` or ``vaccination_id``, ``dose_number``,
            ``vaccinated_on``, ``product``, ``lot_number``,
            ``vaccinated_by_municipality_code``, ``venue_name``).
        passport: the passport data (overseas).

    Raises:
        NoRecords: no dose to certify.
        ValueError: the content is not acceptable (the message names the field).
    """
    if not doses:
        raise NoRecords("no active vaccination record")
    products = await _product_facts((d["product"] for d in doses), issued_on)
    places = await _municipality_names(
        [municipality_code, *(d["vaccinated_by_municipality_code"] for d in doses)]
    )
    issuer_row = places.get(municipality_code) or {"name": "", "name_en": "", "head_title": ""}
    certified: list[Dose] = []
    ids: list[str] = []
    for dose in sorted(doses, key=lambda d: (d["dose_number"], str(d["vaccinated_on"]))):
        product = products.get(dose["product"])
        if product is None:
            raise ValueError(f"doses: product {dose['product']!r} is not in the vaccine master")
        place = places.get(dose["vaccinated_by_municipality_code"], issuer_row)
        vaccinated_on = dose["vaccinated_on"]
        if isinstance(vaccinated_on, str):
            vaccinated_on = dt.date.fromisoformat(vaccinated_on)
        certified.append(
            Dose(
                dose_number=int(dose["dose_number"]),
                date=vaccinated_on,
                product_name_ja=product["name"],
                product_name_en=product["name_en"],
                maker_ja=product["maker"],
                maker_en=product["maker_en"],
                cvx_code=product["cvx"],
                icd11_code=product["icd11"],
                lot=dose["lot_number"],
                municipality_ja=place["name"],
                municipality_en=place["name_en"],
                venue=dose.get("venue_name") or "",
            )
        )
        ids.append(str(dose.get("vaccination_id") or dose.get("id")))
    family, given = split_name(resident["name"])
    former_family = split_name(resident.get("former_name") or "")[0]
    passport = passport or {}
    birth_date = resident["birth_date"]
    if isinstance(birth_date, str):
        birth_date = dt.date.fromisoformat(birth_date)
    holder = Holder(
        family_name=family,
        given_name=given,
        birth_date=birth_date,
        former_family_name=former_family,
        family_name_roman=passport.get("family_name_roman", "") if kind == "overseas" else "",
        given_name_roman=passport.get("given_name_roman", "") if kind == "overseas" else "",
        passport_number=passport.get("passport_number", "") if kind == "overseas" else "",
        nationality=passport.get("nationality", "") if kind == "overseas" else "",
    )
    head = issuer_row["head_title"] or f"{issuer_row['name']}長"
    issuer = Issuer(
        municipality_code=municipality_code,
        name_ja=issuer_row["name"],
        name_en=issuer_row["name_en"],
        head_ja=head,
        head_en=f"Mayor of {issuer_row['name_en']}" if issuer_row["name_en"] else "",
        contact_ja=contact,
        contact_en=contact if contact.isascii() else "",
    )
    content = CertificateContent(
        kind=kind,
        certificate_id=certificate_id,
        issued_on=issued_on,
        issuer=issuer,
        holder=holder,
        doses=tuple(certified),
    )
    return content, ids


def source_data(content: CertificateContent, vaccination_ids: Sequence[str]) -> str:
    """The issuance source data as JSON: what the certificate stated and which records."""
    return json.dumps(
        {"content": dataclasses.asdict(content), "vaccination_ids": list(vaccination_ids)},
        ensure_ascii=False,
        default=str,
    )


# --- the clerk's area (tenant transaction) ----------------------------------------


async def find_resident(query: str) -> list[dict[str, Any]]:
    """Residents of the current area by ticket number (接種券番号) or resident number."""
    text = query.strip()
    if not text:
        return []
    rows = await current_connection().fetch(
        """
        SELECT DISTINCT r.id, r.resident_number, r.name, r.name_kana, r.birth_date
        FROM resident r LEFT JOIN ticket t ON t.resident = r.id
        WHERE r.status = 'active' AND (r.resident_number = $1 OR t.ticket_number = $1)
        ORDER BY r.resident_number LIMIT 20
        """,
        text,
    )
    return [dict(row) for row in rows]


async def resident_for_certificate(resident_id: UUID) -> dict[str, Any] | None:
    """The resident of the current area (no My Number), or ``None``."""
    row = await current_connection().fetchrow(
        "SELECT id, municipality_code, resident_number, name, name_kana, former_name,"
        " birth_date, sex FROM resident WHERE id = $1 AND status = 'active'",
        resident_id,
    )
    return dict(row) if row else None


async def active_vaccinations(resident_id: UUID) -> list[dict[str, Any]]:
    """The resident's active doses in the current area."""
    rows = await current_connection().fetch(
        "SELECT id, dose_number, vaccinated_on, product, lot_number,"
        " vaccinated_by_municipality_code, venue_name FROM vaccination"
        " WHERE resident = $1 AND status = 'active' ORDER BY dose_number, vaccinated_on",
        resident_id,
    )
    return [dict(row) for row in rows]


async def certificate_contact(municipality_code: str) -> str:
    """The contact the municipality prints on its certificates (第19条)."""
    found: str = await current_connection().fetchval(
        "SELECT vrs_certificate_contact($1)", municipality_code
    )
    return found


async def latest_passport(resident_id: UUID) -> dict[str, str] | None:
    """The passport data of the resident's latest overseas issuance, if any."""
    row = await current_connection().fetchrow(
        "SELECT passport_number, nationality, roman_name FROM certificate_issuance"
        " WHERE resident = $1 AND passport_number <> '' ORDER BY issued_at DESC LIMIT 1",
        resident_id,
    )
    if row is None:
        return None
    family, given = split_roman_name(row["roman_name"])
    return {
        "passport_number": row["passport_number"],
        "nationality": row["nationality"],
        "family_name_roman": family,
        "given_name_roman": given,
    }


async def record_issuance(
    *,
    municipality_code: str,
    resident_id: UUID,
    content: CertificateContent,
    vaccination_ids: Sequence[str],
    channel: str,
    language: str,
    shc_kid: str,
    shc_jws: str,
    vdsnc_json: str | None,
    pdf: bytes,
    issued_by: UUID | None,
    idempotency_key: str | None = None,
) -> UUID:
    """Store one issuance in the current area (counter and API channels)."""
    holder = content.holder
    found: UUID = await current_connection().fetchval(
        """
        INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id, kind,
            channel, language, passport_number, nationality, roman_name, source_data, shc_rid,
            issued_by, issued_at, revoked_at, revocation_reason, shc_kid, shc_jws, vdsnc_json,
            pdf, idempotency_key)
        VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $3, $11,
            now(), NULL, '', $12, $13, $14, $15, $16)
        RETURNING id
        """,
        municipality_code,
        resident_id,
        content.certificate_id,
        content.kind,
        channel,
        language,
        holder.passport_number,
        holder.nationality,
        holder.name_roman,
        source_data(content, vaccination_ids),
        issued_by,
        shc_kid,
        shc_jws,
        vdsnc_json or "",
        pdf,
        idempotency_key,
    )
    return found


async def issuance_history(resident_id: UUID) -> list[dict[str, Any]]:
    """The resident's issued certificates, newest first (no PDF bytes)."""
    rows = await current_connection().fetch(
        "SELECT certificate_id, kind, channel, language, passport_number, nationality,"
        " roman_name, issued_at, revoked_at, revocation_reason FROM certificate_issuance"
        " WHERE resident = $1 ORDER BY issued_at DESC",
        resident_id,
    )
    return [dict(row) for row in rows]


async def issuance(certificate_id: str) -> dict[str, Any] | None:
    """One issued certificate of the current area by its id, artefacts included."""
    row = await current_connection().fetchrow(
        "SELECT * FROM certificate_issuance WHERE certificate_id = $1", certificate_id
    )
    return dict(row) if row else None


async def issuance_for_idempotency_key(key: str) -> dict[str, Any] | None:
    """The certificate an earlier request with this Idempotency-Key issued, if any."""
    row = await current_connection().fetchrow(
        "SELECT * FROM certificate_issuance WHERE idempotency_key = $1", key
    )
    return dict(row) if row else None


# --- the app and kiosk channels (no tenant: SECURITY DEFINER crossings) ----------------


async def records_for_card(my_number_lookup: str) -> list[dict[str, Any]]:
    """The card holder's records in every municipality: names, birth date, doses, passport,
    kiosk participation and hours (``vrs_records_for_certificate``)."""
    rows = await current_connection().fetch(
        "SELECT * FROM vrs_records_for_certificate($1)", my_number_lookup
    )
    return [dict(row) for row in rows]


async def record_card_issuance(
    *,
    lookup: str,
    municipality_code: str,
    resident_id: UUID,
    channel: str,
    content: CertificateContent,
    vaccination_ids: Sequence[str],
    language: str,
    shc_kid: str,
    shc_jws: str,
    vdsnc_json: str | None,
    pdf: bytes,
) -> UUID | None:
    """Store one app or kiosk issuance in the issuing municipality's area (and audit it);
    ``None`` when that resident is no longer the card holder's active record."""
    holder = content.holder
    found: UUID | None = await current_connection().fetchval(
        "SELECT vrs_record_card_issuance($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11::jsonb, $12, $13, $14, $15)",
        lookup, municipality_code, resident_id, channel, content.certificate_id, content.kind,
        language, holder.passport_number, holder.nationality, holder.name_roman,
        source_data(content, vaccination_ids), shc_kid, shc_jws, vdsnc_json or "", pdf,
    )  # fmt: skip
    return found


# --- revocation ---------------------------------------------------------------------


async def revoke_certificates_for_vaccination(vaccination_id: UUID | str, reason: str) -> list[str]:
    """Revoke every certificate whose source data certified this vaccination.

    Call it in the tenant transaction that corrects or deletes the dose (the
    certificates live in the same area). Already revoked certificates keep
    their first revocation. Returns the revoked certificate ids.
    """
    rows = await current_connection().fetch(
        """
        UPDATE certificate_issuance SET revoked_at = now(), revocation_reason = $2
        WHERE revoked_at IS NULL AND source_data -> 'vaccination_ids' ? $1
        RETURNING certificate_id
        """,
        str(vaccination_id),
        reason[:256],
    )
    return [row["certificate_id"] for row in rows]


async def revoked_certificates() -> list[dict[str, Any]]:
    """Every revoked certificate of every municipality: id, SHC key, date (public lists)."""
    rows = await current_connection().fetch("SELECT * FROM vrs_revoked_certificates()")
    return [dict(row) for row in rows]
