"""Dose records uploaded as CSV by clinics and workplace venues (F3, 職域接種).

Each row goes through the same parser, identity check and rules as the
tablet. A row whose ticket our municipality has not registered (yet), or
whose ``birth_date`` is not the ticket holder's, is kept as an unmatched
要修正 record for the data-quality queue, never attached to the holder; every
other refusal is reported with its line number, field and reason. A row's
idempotency key is derived from what it records (ticket, dose, date), so
uploading the same file again duplicates nothing, and a row for a stored
(ticket, dose, date) with another lot, volume, product or doctor is an error
showing both values.

A venue account uploads as its venue. A clerk may name one of the
municipality's open clinics or workplace venues the file comes from: the
rows are then that venue's records, and a row for another municipality's
resident goes through the same crossing as a tablet's save (the birth date
compared there, the record kept in the resident's area). Without a venue, a
clerk's rows for other areas' residents are refused with what to choose.

Rows that match no ticket holder (a birth date that differs, a ticket nobody
holds, a dose kept unmatched) spend the uploading account's look-up budget
(``VRS_RATE_IDENTIFY_PER_HOUR``, shared with the tablet's look-ups and the API's
saves): the report says which rows matched, so without it a file could guess a
holder's birth date row by row. Matching rows never spend it. Once it is spent,
the rest of the file is refused unread (nothing stored, matching rows too: their
answer would tell the birth date as well), and the refusal is audited.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from db.accounts.principal import Principal
from db.engine import tenant_transaction
from db.security.rate_limits import Budget, BudgetSpent
from db.vaccinations.dose_input import DoseRequest, FieldError, parse_dose
from db.vaccinations.recording import (
    CrossingRefused,
    DoseRefused,
    IdempotencyConflict,
    TicketUnknown,
    Venue,
    identify_limit_reached,
    record_dose,
)

COLUMNS = ("ticket", "municipality_code", "birth_date", "dose_number", "vaccinated_on", "product",
           "lot_number", "volume_ml", "doctor_name")  # fmt: skip
REQUIRED = (
    "ticket",
    "birth_date",
    "dose_number",
    "vaccinated_on",
    "product",
    "lot_number",
    "volume_ml",
    "doctor_name",
)
MAX_ROWS = 200_000
#: Columns a file may carry that an upload never reads: the tablet's override of a birth
#: date that differs (a row that does not match is kept unmatched, never put on the holder).
IGNORED = ("identity_reason",)


class UnreadableFile(ValueError):
    """The file is not a CSV we can read; ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class RowProblem:
    """Why one line was not saved."""

    line: int
    field: str
    key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # `field` is a column here


@dataclass
class UploadReport:
    """What happened to each row."""

    total: int = 0
    saved: int = 0
    again: int = 0
    unmatched: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notices: list[RowProblem] = field(default_factory=list)
    """Rows saved, but not as sent: kept unmatched because the birth date did not match."""
    over_limit: int = 0
    """Rows refused unread: the account's look-up budget was spent."""


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM) or CP932, as municipal and clinic systems export."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:  # UTF-16 (and binaries) pass as CP932 but carry NULs; no CSV does
            break
        return text
    raise UnreadableFile("bulk.encoding")


def rows(content: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header is line 1."""
    text = decode(content)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is guessed: quoting is always Excel's ("" inside quotes), which the
    # sniffer can misjudge on a short file and then misread a quote in a name.
    reader = csv.DictReader(io.StringIO(text), dialect=csv.excel, delimiter=delimiter)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise UnreadableFile("bulk.missing_columns", columns=", ".join(missing))
        reader.fieldnames = header
        for index, row in enumerate(reader, start=2):
            if index - 1 > MAX_ROWS:
                raise UnreadableFile("bulk.too_many_rows", max=MAX_ROWS)
            yield index, {k: (v or "").strip() for k, v in row.items() if k}
    except csv.Error:  # a stray quote, a bare CR inside a field, a NUL byte
        raise UnreadableFile("bulk.csv_malformed", line=max(reader.line_num, 1)) from None


def row_key(venue: Venue, values: dict[str, str]) -> str:
    """The same row uploaded again is the same save."""
    material = "|".join(
        [venue.municipality_code]
        + [
            values.get(c, "")
            for c in ("ticket", "municipality_code", "dose_number", "vaccinated_on")
        ]
    )
    return "csv-" + hashlib.sha256(material.encode()).hexdigest()[:40]


async def upload(
    content: bytes, *, venue: Venue, actor: Principal, today: dt.date,
    budget: Budget | None = None,
) -> UploadReport:  # fmt: skip
    """Validate and save every row, each in its own transaction, and report.

    ``budget``: the account's look-up budget (None: no limit), spent by each row
    that matches no ticket holder; once spent, the remaining rows are refused.
    """
    report = UploadReport()
    parsed = list(rows(content))  # a file that is not readable CSV to the end saves nothing
    spent: BudgetSpent | None = None
    first_refused: DoseRequest | None = None
    first_line = 0
    for line, values in parsed:
        report.total += 1
        problem: RowProblem | None = None
        for column in IGNORED:
            values.pop(column, None)
        try:
            dose = parse_dose(values, default_municipality=venue.municipality_code,
                              idempotency_key=row_key(venue, values), source="csv")  # fmt: skip
        except FieldError as exc:
            report.problems.append(RowProblem(line, exc.field, exc.key, exc.params))
            continue
        if spent is None:
            try:
                problem = await _save_row(dose, venue, actor, today, line, report, budget)
            except BudgetSpent as exc:
                spent, first_refused, first_line = exc, dose, line
        if spent is not None:
            report.over_limit += 1
            problem = RowProblem(line, "ticket", "bulk.identify_limit", {
                "limit": spent.allowed, "minutes": -(-spent.retry_after // 60)})  # fmt: skip
        if problem:
            report.problems.append(problem)
    if spent is not None and first_refused is not None:
        async with tenant_transaction(actor.tenant):
            await identify_limit_reached(
                actor, channel="csv", venue_id=venue.venue_id, first_line=first_line,
                rows_refused=report.over_limit, limit=spent.allowed,
                ticket_municipality=first_refused.ticket.municipality_code,
                ticket=first_refused.ticket.ticket_number,
            )  # fmt: skip
    return report


async def _save_row(
    dose: DoseRequest, venue: Venue, actor: Principal, today: dt.date, line: int,
    report: UploadReport, budget: Budget | None = None,
) -> RowProblem | None:  # fmt: skip
    """Save one row; :class:`BudgetSpent` (nothing stored) when the budget allows no more."""
    try:
        async with tenant_transaction(actor.tenant):
            if budget is not None:
                await budget.check()  # holds the account's counter until this row commits
            recorded, _ = await record_dose(
                dose, venue=venue, actor=actor, today=today, keep_unmatched=True
            )
            if budget is not None and recorded.unmatched:
                await budget.spend(in_transaction=True)  # over: the row rolls back with it
    except DoseRefused as refused:
        if budget is not None and refused.identity is None:  # refused as no holder's dose
            await budget.spend()
        first = refused.findings[0]
        return RowProblem(line, first.rule, first.key, first.params)
    except IdempotencyConflict as conflict:
        return RowProblem(
            line, "ticket", "bulk.conflict", {"differences": _differences(dose, conflict.stored)}
        )
    except CrossingRefused:
        key = (
            "bulk.elsewhere_needs_venue"
            if venue.venue_id is None
            else "identity.elsewhere_venue_only"
        )
        return RowProblem(line, "ticket", key)
    except TicketUnknown:
        if budget is not None:
            await budget.spend()
        key = "venue.ticket_unknown" if dose.ticket.municipality_code == venue.municipality_code \
            else "identity.unconfirmed_elsewhere"  # fmt: skip
        return RowProblem(line, "ticket", key, {"municipality": dose.ticket.municipality_code,
                                                "ticket": dose.ticket.ticket_number})  # fmt: skip
    if not recorded.created:
        report.again += 1
    elif recorded.unmatched:
        report.unmatched += 1
        if any(r.get("key") == "quality.identity_mismatch" for r in recorded.reasons):
            report.notices.append(RowProblem(line, "birth_date", "bulk.identity_unmatched"))
    else:
        report.saved += 1
    return None


def _differences(dose: DoseRequest, stored: dict[str, Any]) -> str:
    """Each field that differs, stored value → this row's (another area's record: fields unknown)."""
    parts = [
        f"{name}: {stored[name]} → {getattr(dose, name)}"
        for name in ("product", "lot_number", "volume_ml", "doctor_name")
        if name in stored and str(stored[name]) != str(getattr(dose, name))
    ]
    return "; ".join(parts) or "birth_date"
