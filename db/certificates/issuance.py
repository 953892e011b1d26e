"""Issuing certificates: one service for the counter, the API, the app and the kiosk.

Every channel goes the same three steps:

1. read, in one short transaction: the resident's record(s), active doses, the
   municipality's contact and names; build the :class:`CertificateContent`;
2. sign, outside any transaction (CPU work and, with a TSA, network calls, in
   a worker thread): no pooled connection is held while the PDF is signed;
3. record, in a second short transaction: the issuance and its audit event.

The counter and API are idempotent on the client's ``Idempotency-Key`` (per
municipality): a retry answers the certificate the first request issued, a
retry after that certificate was revoked is refused (:class:`IssuanceRefused`
``certificate.idempotency_key_revoked``, the web layer answers 410 Gone), never
the revoked PDF. The clock is injected (``now``) so tests can set it.

The app and kiosk issue per municipality holding the card holder's records,
after :mod:`db.certificates.identity` compared the card's basic 4 facts with
each record; the resident chooses which of the offered municipalities to buy.
Signing is a callable handed in by the caller (``content → IssuedCertificate``):
this module owns transactions, SQL and audit, :mod:`signing` the bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
import asyncpg

from common.clock import JAPAN
from db.accounts.principal import Principal
from db.audit.queries import record
from db.certificates import queries
from db.certificates.identity import compare
from db.engine import tenant_transaction
from db.operations import kiosks
from signing.content import CertificateContent, new_certificate_id
from signing.issue import IssuedCertificate

Signer = Callable[[CertificateContent], IssuedCertificate]
Clock = Callable[[], dt.datetime]

KIOSK_DEFAULT_HOURS = (dt.time(6, 30), dt.time(23, 0))

#: Why a municipality holding the card holder's records is not offered.
NOT_TAKING_PART = "not_taking_part"
OUTSIDE_HOURS = "outside_hours"
IDENTITY_MISMATCH = "identity_mismatch"
NO_PASSPORT_DATA = "no_passport_data"


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


class IssuanceRefused(ValueError):
    """Nothing issued; ``key`` names the message, ``kind`` how the web layer answers.

    ``kind``: ``not_found`` (404), ``bad_input`` (422), ``refused`` (403, a card
    channel refusal), ``gone`` (410, the idempotent certificate was revoked).
    """

    def __init__(self, key: str, kind: str = "bad_input", field: str | None = None, **params: Any):
        super().__init__(key)
        self.key = key
        self.kind = kind
        self.field = field
        self.params = params


@dataclass(frozen=True)
class Issued:
    """A stored, signed certificate (and its revocation state)."""

    certificate_id: str
    kind: str
    pdf: bytes
    shc_jws: str
    vdsnc_json: str | None
    municipality_code: str = ""
    municipality_name: str = ""
    issued_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str = ""
    record_name: str = ""
    """The holder's name as the issuing municipality records it (app and kiosk)."""


def _from_row(row: Mapping[str, Any]) -> Issued:
    return Issued(
        row["certificate_id"],
        row["kind"],
        bytes(row["pdf"] or b""),
        row["shc_jws"],
        row["vdsnc_json"] or None,
        municipality_code=row["municipality_code"],
        issued_at=row["issued_at"],
        revoked_at=row["revoked_at"],
        revocation_reason=row["revocation_reason"] or "",
    )


def _kid(jws: str) -> str:
    """The SHC key that signed a card (its JWS header's ``kid``): its CRL lists the card."""
    header = jws.split(".", 1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def _sign(sign: Signer, content: CertificateContent) -> IssuedCertificate:
    """Sign in a worker thread, outside any transaction (the caller holds none)."""
    return await anyio.to_thread.run_sync(sign, content)


# --- counter and API: a resident of the caller's municipality ------------------------


@dataclass(frozen=True)
class ResidentRequest:
    """What the counter or an API client asks for."""

    principal: Principal
    resident_id: UUID
    kind: str
    passport: Mapping[str, str] | None
    channel: str
    language: str
    idempotency_key: str | None = None


async def preview(
    principal: Principal,
    resident_id: UUID,
    kind: str,
    passport: Mapping[str, str] | None,
    now: Clock = utc_now,
) -> CertificateContent:
    """What a certificate for this resident would state (nothing stored)."""
    async with tenant_transaction(principal.tenant):
        content, _ = await _content_for_resident(principal, resident_id, kind, passport, now())
    return content


async def issue_for_resident(
    request: ResidentRequest, sign: Signer, now: Clock = utc_now
) -> Issued:
    """Issue, store and audit one certificate of the principal's municipality."""
    principal = request.principal
    async with tenant_transaction(principal.tenant):
        if request.idempotency_key:
            earlier = await _issued_for_key(request)
            if earlier is not None:
                return earlier
        content, ids = await _content_for_resident(
            principal, request.resident_id, request.kind, request.passport, now()
        )
    issued = await _sign(sign, content)
    try:
        async with tenant_transaction(principal.tenant):
            await queries.record_issuance(
                municipality_code=principal.municipality_code or "",
                resident_id=request.resident_id,
                content=content,
                vaccination_ids=ids,
                channel=request.channel,
                language=request.language,
                shc_kid=_kid(issued.shc_jws),
                shc_jws=issued.shc_jws,
                vdsnc_json=issued.vdsnc_json,
                pdf=issued.pdf,
                issued_by=principal.account_id,
                idempotency_key=request.idempotency_key,
            )
            await record(
                "certificate.issue",
                actor=principal,
                municipality_code=principal.municipality_code,
                object_type="certificate",
                object_id=content.certificate_id,
                details={
                    "kind": request.kind,
                    "channel": request.channel,
                    "resident": str(request.resident_id),
                },
            )
    except asyncpg.UniqueViolationError:
        # A concurrent request with the same key stored first: answer its certificate.
        if not request.idempotency_key:
            raise
        async with tenant_transaction(principal.tenant):
            earlier = await _issued_for_key(request)
        if earlier is None:
            raise
        return earlier
    return Issued(
        content.certificate_id,
        request.kind,
        issued.pdf,
        issued.shc_jws,
        issued.vdsnc_json,
        municipality_code=principal.municipality_code or "",
        municipality_name=content.issuer.name_ja,
    )


async def _issued_for_key(request: ResidentRequest) -> Issued | None:
    """The certificate an earlier request with this key issued (same person and kind)."""
    earlier = await queries.issuance_for_idempotency_key(request.idempotency_key or "")
    if earlier is None:
        return None
    if str(earlier["resident"]) != str(request.resident_id) or earlier["kind"] != request.kind:
        raise IssuanceRefused("certificate.idempotency_key_reused", field="Idempotency-Key")
    if earlier["revoked_at"] is not None:
        raise IssuanceRefused(
            "certificate.idempotency_key_revoked",
            kind="gone",
            field="Idempotency-Key",
            certificate_id=earlier["certificate_id"],
            reason=earlier["revocation_reason"] or "",
        )
    return _from_row(earlier)


async def _content_for_resident(
    principal: Principal,
    resident_id: UUID,
    kind: str,
    passport: Mapping[str, str] | None,
    now: dt.datetime,
) -> tuple[CertificateContent, list[str]]:
    resident = await queries.resident_for_certificate(resident_id)
    if resident is None:
        raise IssuanceRefused("certificate.resident_not_found", kind="not_found")
    doses = await queries.active_vaccinations(resident_id)
    code = principal.municipality_code or ""
    contact = await queries.certificate_contact(code)
    return await _build(kind, code, contact, resident, doses, passport, now)


async def _build(
    kind: str,
    code: str,
    contact: str,
    resident: Mapping[str, Any],
    doses: Sequence[Mapping[str, Any]],
    passport: Mapping[str, str] | None,
    now: dt.datetime,
) -> tuple[CertificateContent, list[str]]:
    try:
        return await queries.build_content(
            kind=kind,  # type: ignore[arg-type]  # callers check it is domestic or overseas
            certificate_id=new_certificate_id(),
            issued_on=now.astimezone(JAPAN).date(),
            municipality_code=code,
            contact=contact,
            resident=resident,
            doses=doses,
            passport=passport,
        )
    except queries.NoRecords:
        raise IssuanceRefused("certificate.no_records") from None
    except ValueError as error:
        raise IssuanceRefused("certificate.content_invalid", detail=str(error)) from None


async def find_residents(principal: Principal, query: str) -> list[dict[str, Any]]:
    """Residents of the principal's area by ticket or resident number (the counter's search)."""
    async with tenant_transaction(principal.tenant):
        return await queries.find_resident(query)


async def person(principal: Principal, resident_id: UUID) -> dict[str, Any]:
    """The counter's person page: the resident, doses, issuance history, latest passport data;
    audited as a view of the person."""
    async with tenant_transaction(principal.tenant):
        resident = await queries.resident_for_certificate(resident_id)
        if resident is None:
            raise IssuanceRefused("certificate.resident_not_found", kind="not_found")
        answer = {
            "resident": resident,
            "doses": await queries.active_vaccinations(resident_id),
            "history": await queries.issuance_history(resident_id),
            "passport": await queries.latest_passport(resident_id),
        }
        await record(
            "certificate.person_view",
            actor=principal,
            municipality_code=principal.municipality_code,
            object_type="resident",
            object_id=str(resident_id),
        )
    return answer


async def stored_certificate(principal: Principal, certificate_id: str) -> Issued:
    """An issued certificate of the principal's municipality; audited as a view."""
    async with tenant_transaction(principal.tenant):
        row = await queries.issuance(certificate_id)
        if row is None:
            raise IssuanceRefused("certificate.not_found", kind="not_found")
        await record(
            "certificate.view",
            actor=principal,
            municipality_code=principal.municipality_code,
            object_type="certificate",
            object_id=certificate_id,
        )
    return _from_row(row)


# --- app and kiosk: the card holder's records in every municipality -------------------


@dataclass(frozen=True)
class Offer:
    """One municipality holding the card holder's records, and whether it is offered."""

    municipality_code: str
    municipality_name: str
    record_name: str
    """The name as that municipality holds it (shown before paying)."""
    name_matches: bool
    offered: bool
    reason: str | None
    """Why not offered: not_taking_part, outside_hours, identity_mismatch."""
    contact: str
    passport_data: bool
    doses: int
    row: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON the app and kiosk get (no birth date, no My Number)."""
        return {
            "municipality_code": self.municipality_code,
            "municipality_name": self.municipality_name,
            "record_name": self.record_name,
            "name_matches": self.name_matches,
            "offered": self.offered,
            "reason": self.reason,
            "contact": self.contact,
            "passport_data": self.passport_data,
            "doses": self.doses,
        }


def kiosk_open(row: Mapping[str, Any], now: dt.datetime) -> str | None:
    """``None`` when the municipality issues at kiosks now, else why not."""
    if not row["kiosk_issuance"]:
        return NOT_TAKING_PART
    start = row["kiosk_hours_start"] or KIOSK_DEFAULT_HOURS[0]
    end = row["kiosk_hours_end"] or KIOSK_DEFAULT_HOURS[1]
    if not start <= now.astimezone(JAPAN).time().replace(tzinfo=None) < end:
        return OUTSIDE_HOURS
    return None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _doses(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(_json(row["doses"]) or [])


async def _offers(
    lookup: str, card_facts: Mapping[str, Any] | None, channel: str, now: dt.datetime
) -> list[Offer]:
    """Every municipality holding records with doses, judged (in the current transaction)."""
    rows = [row for row in await queries.records_for_card(lookup) if _doses(row)]
    names = await queries.municipality_names(row["municipality_code"] for row in rows)
    offers = []
    for row in rows:
        code = row["municipality_code"]
        identity = compare(card_facts, row)
        reason = kiosk_open(row, now) if channel == "kiosk" else None
        if not identity.offered:
            reason = IDENTITY_MISMATCH
        offers.append(
            Offer(
                municipality_code=code,
                municipality_name=names.get(code, {}).get("name") or code,
                record_name=row["name"],
                name_matches=identity.name_matches,
                offered=reason is None,
                reason=reason,
                contact=await queries.certificate_contact(code),
                passport_data=bool(row["passport"]),
                doses=len(_doses(row)),
                row=row,
            )
        )
    return offers


async def card_offers(
    lookup: str, card_facts: Mapping[str, Any] | None, channel: str, now: Clock = utc_now
) -> list[Offer]:
    """What a proven card may get per municipality (nothing issued).

    Raises:
        IssuanceRefused: ``card_proof.no_records`` when no municipality holds doses.
    """
    async with tenant_transaction(None):
        offers = await _offers(lookup, card_facts, channel, now())
    if not offers:
        raise IssuanceRefused("card_proof.no_records", kind="refused")
    return offers


@dataclass(frozen=True)
class CardIssuance:
    """The certificates of one card transaction, and the municipalities left out."""

    issued: list[Issued]
    not_issued: list[dict[str, Any]]


def _choose(
    offers: list[Offer], kind: str, selected: Iterable[str] | None, has_passport: bool = False
) -> tuple[list[Offer], list[dict[str, Any]]]:
    """The offers to issue now and, for each other municipality, why not.

    ``selected`` ``None`` (the app's default) means every municipality that can;
    a named municipality that cannot issue is refused, saying which and why.
    """
    wanted = None if selected is None else list(dict.fromkeys(selected))
    by_code = {offer.municipality_code: offer for offer in offers}
    if wanted is not None:
        unknown = [code for code in wanted if code not in by_code]
        if unknown or not wanted:
            raise IssuanceRefused(
                "card_proof.municipality_not_held", field="municipalities", codes=", ".join(unknown)
            )
    chosen, left_out = [], []
    for offer in offers:
        reason = offer.reason
        if reason is None and kind == "overseas" and not (offer.passport_data or has_passport):
            reason = NO_PASSPORT_DATA
        if wanted is not None and offer.municipality_code not in wanted:
            continue
        if reason is None:
            chosen.append(offer)
            continue
        left_out.append({**offer.to_dict(), "offered": False, "reason": reason})
    if wanted is not None and left_out:
        first = left_out[0]
        key = (
            "card_proof.no_passport_data_in"
            if first["reason"] == NO_PASSPORT_DATA
            else f"card_proof.not_offered_{first['reason']}"
        )
        raise IssuanceRefused(
            key,
            kind="refused",
            municipality=", ".join(m["municipality_name"] for m in left_out),
            contact=first["contact"],
        )
    if not chosen:
        if kind == "overseas" and any(m["reason"] == NO_PASSPORT_DATA for m in left_out):
            raise IssuanceRefused(
                "card_proof.no_passport_data_in",
                kind="refused",
                municipality=", ".join(
                    m["municipality_name"] for m in left_out if m["reason"] == NO_PASSPORT_DATA
                ),
                contact="",
            )
        reasons = {m["reason"] for m in left_out}
        key = (
            "card_proof.identity_mismatch"
            if reasons == {IDENTITY_MISMATCH}
            else "card_proof.kiosk_not_offered"
        )
        raise IssuanceRefused(
            key,
            kind="refused",
            municipality=", ".join(m["municipality_name"] for m in left_out),
            contact=left_out[0]["contact"] if left_out else "",
        )
    return chosen, left_out


def _passport(row: Mapping[str, Any]) -> dict[str, str]:
    data = _json(row["passport"])
    family, given = queries.split_roman_name(data["roman_name"])
    return {
        "passport_number": data["passport_number"],
        "nationality": data["nationality"],
        "family_name_roman": family,
        "given_name_roman": given,
    }


async def issue_for_card(
    lookup: str,
    card_facts: Mapping[str, Any] | None,
    kind: str,
    sign: Signer,
    *,
    channel: str,
    selected: Iterable[str] | None = None,
    kiosk_client: UUID | None = None,
    passport: Mapping[str, str] | None = None,
    now: Clock = utc_now,
) -> CardIssuance:
    """One certificate per chosen municipality: read, sign outside, record.

    ``passport`` (the app: ※海外用 allows the counter or the app) is certified on
    overseas certificates and so kept in each municipality's issuance history;
    without it each municipality uses the passport data of its own history.

    Raises:
        IssuanceRefused: nothing to issue, or a chosen municipality cannot issue.
    """
    moment = now()
    async with tenant_transaction(None):
        offers = await _offers(lookup, card_facts, channel, moment)
        if not offers:
            raise IssuanceRefused("card_proof.no_records", kind="refused")
        chosen, left_out = _choose(offers, kind, selected, passport is not None)
        prepared = []
        for offer in chosen:
            certified = None
            if kind == "overseas":
                certified = passport or _passport(offer.row)
            content, ids = await _build(
                kind, offer.municipality_code, offer.contact, offer.row,
                _doses(offer.row), certified, moment,
            )  # fmt: skip
            prepared.append((offer, content, ids))
    signed = [(offer, content, ids, await _sign(sign, content)) for offer, content, ids in prepared]
    language = "ja" if kind == "domestic" else "ja+en"
    answers = []
    async with tenant_transaction(None):
        for offer, content, ids, issued in signed:
            stored = await queries.record_card_issuance(
                lookup=lookup,
                municipality_code=offer.municipality_code,
                resident_id=offer.row["resident_id"],
                channel=channel,
                content=content,
                vaccination_ids=ids,
                language=language,
                shc_kid=_kid(issued.shc_jws),
                shc_jws=issued.shc_jws,
                vdsnc_json=issued.vdsnc_json,
                pdf=issued.pdf,
            )
            if stored is None:  # the record changed between the two transactions
                raise IssuanceRefused("card_proof.no_records", kind="refused")
            answers.append(
                Issued(
                    content.certificate_id,
                    kind,
                    issued.pdf,
                    issued.shc_jws,
                    issued.vdsnc_json,
                    municipality_code=offer.municipality_code,
                    municipality_name=content.issuer.name_ja,
                    record_name=offer.record_name,
                )  # fmt: skip
            )
        if kiosk_client is not None:
            await kiosks.bind_issuances(kiosk_client, [a.certificate_id for a in answers], moment)
    return CardIssuance(answers, left_out)
