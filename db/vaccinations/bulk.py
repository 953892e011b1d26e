"""Dose records uploaded as CSV by clinics and workplace venues (F3, 職域接種).

Each row goes through the same parser and rules as the tablet. A row whose
ticket our municipality has not registered (yet) is kept as an unmatched
record for the data-quality queue; every other refusal is reported with its
line number, field and reason. A row's idempotency key is derived from what
it records, so uploading the same file again duplicates nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from db.accounts.principal import Principal
from db.engine import current_connection, tenant_transaction
from db.vaccinations.dose_input import DoseRequest, FieldError, parse_dose
from db.vaccinations.recording import DoseRefused, TicketUnknown, Venue, record_dose
from db.vaccinations.rules import DoseInput, Person, date_in_range, known_product, lot_valid
from db.vaccines.master import master_data

COLUMNS = ("ticket", "municipality_code", "dose_number", "vaccinated_on", "product", "lot_number",
           "volume_ml", "doctor_name")  # fmt: skip
REQUIRED = (
    "ticket",
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
        try:
            async with tenant_transaction(actor.tenant):
                recorded, _ = await record_dose(dose, venue=venue, actor=actor, today=today)
            if recorded.created:
                report.saved += 1
            else:
                report.again += 1
        except DoseRefused as refused:
            first = refused.findings[0]
            report.problems.append(RowProblem(line, first.rule, first.key, first.params))
        except TicketUnknown:
            if dose.ticket.municipality_code != venue.municipality_code:
                report.problems.append(RowProblem(line, "ticket", "venue.ticket_unknown",
                                                  {"municipality": dose.ticket.municipality_code,
                                                   "ticket": dose.ticket.ticket_number}))  # fmt: skip
                continue
            problem = await _keep_unmatched(dose, venue, actor, today, line)
            if problem:
                report.problems.append(problem)
            else:
                report.unmatched += 1
    return report


async def _keep_unmatched(
    dose: DoseRequest, venue: Venue, actor: Principal, today: dt.date, line: int
) -> RowProblem | None:
    """Save a row whose ticket is not registered yet, for the clerk to match (F4)."""
    async with tenant_transaction(actor.tenant):
        master = await master_data()
        given = DoseInput(
            dose.dose_number, dose.vaccinated_on, dose.product, dose.lot_number, dose.volume_ml
        )
        for check in (date_in_range, known_product, lot_valid):
            for finding in check(given, Person(dt.date(1900, 1, 1)), master, today):
                return RowProblem(line, finding.rule, finding.key, finding.params)
        reasons = json.dumps(
            [
                {
                    "rule": "ticket_unknown",
                    "effect": "must_fix",
                    "key": "quality.ticket_unknown",
                    "params": {},
                }
            ]
        )
        await current_connection().execute(
            "INSERT INTO vaccination (id, municipality_code, resident, ticket_number, ticket_type, dose_number,"
            " vaccinated_on, vaccinated_by_municipality_code, venue_name, venue_id, doctor_name, product,"
            " lot_number, volume_ml, status, quality, quality_reasons, source, idempotency_key, version,"
            " recorded_by, recorded_at, updated_at) VALUES (gen_random_uuid(), $1, NULL, $2, $3, $4, $5, $1,"
            " $6, $7, $8, $9, $10, $11, 'active', 'must_fix', $12::jsonb, 'csv', $13, 1, $14, now(), now())"
            " ON CONFLICT (municipality_code, idempotency_key) DO NOTHING",
            venue.municipality_code, dose.ticket.ticket_number, dose.ticket.ticket_type or "1", dose.dose_number,
            dose.vaccinated_on, venue.name, venue.venue_id, dose.doctor_name, dose.product, dose.lot_number,
            dose.volume_ml, reasons, dose.idempotency_key, actor.account_id,
        )  # fmt: skip
    return None
