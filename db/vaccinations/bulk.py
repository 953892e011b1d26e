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
from db.vaccinations.dose_input import DoseRequest, FieldError, parse_dose
from db.vaccinations.recording import (
    CrossingRefused,
    DoseRefused,
    IdempotencyConflict,
    TicketUnknown,
    Venue,
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


async def upload(content: bytes, *, venue: Venue, actor: Principal, today: dt.date) -> UploadReport:
    """Validate and save every row, each in its own transaction, and report."""
    report = UploadReport()
    parsed = list(rows(content))  # a file that is not readable CSV to the end saves nothing
    for line, values in parsed:
        report.total += 1
        try:
            dose = parse_dose(values, default_municipality=venue.municipality_code,
                              idempotency_key=row_key(venue, values), source="csv")  # fmt: skip
        except FieldError as exc:
            report.problems.append(RowProblem(line, exc.field, exc.key, exc.params))
            continue
        problem = await _save_row(dose, venue, actor, today, line, report)
        if problem:
            report.problems.append(problem)
    return report


async def _save_row(
    dose: DoseRequest, venue: Venue, actor: Principal, today: dt.date, line: int,
    report: UploadReport,
) -> RowProblem | None:  # fmt: skip
    try:
        async with tenant_transaction(actor.tenant):
            recorded, _ = await record_dose(
                dose, venue=venue, actor=actor, today=today, keep_unmatched=True
            )
    except DoseRefused as refused:
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
