"""The residents-and-tickets CSV (F1 事前登録): its columns and the check of one row.

Pure Python, no database: the loader streams rows through :func:`check_row`,
the page and the README document :data:`COLUMNS`, and the template download
is :func:`template_csv`. One row per resident, with the resident's current
ticket; a new ticket number for a known resident reissues (the old ticket
becomes ``reissued``). Rejections name the line, the column and a message key.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import mul
from pathlib import Path
from typing import Any

from common.identifiers import (
    TICKET_TYPES,
    IdentifierError,
    parse_my_number,
    parse_resident_number,
    parse_ticket_number,
)


@dataclass(frozen=True)
class ImportColumn:
    """One column of the import file."""

    key: str
    """The English header (also accepted as the header)."""
    header: str
    """The Japanese header, as in the template."""
    required: bool
    example: str
    description_key: str = ""


COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("resident_number", "個別宛名番号", True, "100000000001"),
    ImportColumn("my_number", "マイナンバー", False, ""),
    ImportColumn("name", "氏名", True, "山田 太郎"),
    ImportColumn("name_kana", "カナ氏名", True, "ヤマダ タロウ"),
    ImportColumn("former_name", "旧姓", False, ""),
    ImportColumn("birth_date", "生年月日", True, "1960-04-01"),
    ImportColumn("sex", "性別", True, "1"),
    ImportColumn("ticket_number", "接種券番号", False, "0000000001"),
    ImportColumn("ticket_type", "券種", False, "1"),
    ImportColumn("ticket_dose_number", "接種回数", False, "1"),
    ImportColumn("ticket_issued_on", "発行日", False, "2021-04-01"),
    ImportColumn("moved_out", "転出フラグ", False, "0"),
    ImportColumn("moved_out_on", "転出日", False, ""),
    ImportColumn("deceased", "死亡フラグ", False, "0"),
    ImportColumn("deceased_on", "死亡日", False, ""),
    ImportColumn("priority_group", "先行接種対象者", False, "0"),
    ImportColumn("needs_care", "要配慮者", False, "0"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
REQUIRED = frozenset(c.key for c in COLUMNS if c.required)

#: 先行接種対象者 codes in the file → the stored priority group.
PRIORITY_GROUPS: dict[str, str] = {
    "": "",
    "0": "",
    "1": "medical_worker",
    "医療従事者": "medical_worker",
    "2": "care_facility_worker",
    "高齢者施設等従事者": "care_facility_worker",
}
SEXES = {"1": "1", "2": "2", "9": "9", "男": "1", "女": "2"}
_FLAGS = {"": False, "0": False, "1": True}
_KANA = re.compile(r"[\u30a0-\u30ff\u3000 ]+")
_DATE_FORMS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
EARLIEST_BIRTH = dt.date(1890, 1, 1)
MAX_NAME = 128

#: Headers accepted for each column: Japanese, English, and a few spellings municipal systems use.
_ALIASES: dict[str, str] = {
    **{c.header: c.key for c in COLUMNS},
    **{c.key: c.key for c in COLUMNS},
    "個人番号": "my_number",
    "カナ": "name_kana",
    "フリガナ": "name_kana",
    "券番号": "ticket_number",
    "転出": "moved_out",
    "死亡": "deceased",
}


def normalise_header(text: str) -> str:
    """A header cell without BOM, blanks or width differences."""
    return unicodedata.normalize("NFKC", text).replace("\ufeff", "").strip().replace(" ", "")


def map_header(cells: list[str]) -> tuple[dict[str, int], list[str], list[str], list[str]]:
    """Column positions by key, plus missing required, ignored and repeated headers."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    repeated: list[str] = []
    aliases = {normalise_header(k): v for k, v in _ALIASES.items()}
    for index, cell in enumerate(cells):
        key = aliases.get(normalise_header(cell))
        if key is None:
            if cell.strip():
                ignored.append(cell.strip()[:32])
        elif key in positions:
            repeated.append(cell.strip())
        else:
            positions[key] = index
    missing = [c.header for c in COLUMNS if c.required and c.key not in positions]
    return positions, missing, ignored, repeated


class _Cells(dict[str, str]):
    """A row's cells by column key; an absent column reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass
class CheckedRow:
    """A row that passed the per-row checks (cross-row checks follow in the database)."""

    resident_number: str
    my_number: str | None
    name: str
    name_kana: str
    former_name: str
    birth_date: dt.date
    sex: str
    ticket_number: str | None
    ticket_type: str
    ticket_dose_number: int | None
    ticket_issued_on: dt.date | None
    moved_out_on: dt.date | None
    deceased_on: dt.date | None
    priority_group: str
    needs_care: bool


@dataclass
class RowProblem:
    """Why one cell of a row is refused."""

    column: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def nfkc(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII); ASCII text is already normal."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def parse_date(text: str) -> dt.date:
    """A date as municipal systems write it (2021-04-01, 2021/04/01 or 20210401)."""
    value = nfkc(text).strip()
    iso = _ISO_DATE.fullmatch(value)
    if iso:  # the common form, without strptime's cost
        return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
    for form in _DATE_FORMS:
        try:
            return dt.datetime.strptime(value, form).date()
        except ValueError:
            continue
    raise ValueError(value)


def check_row(
    cells: list[str], positions: dict[str, int], today: dt.date
) -> tuple[CheckedRow | None, list[RowProblem]]:
    """Check one data row; returns the row, or the problems found (all of them)."""
    problems: list[RowProblem] = []

    width = len(cells)
    values = {key: cells[i].strip() for key, i in positions.items() if i < width}
    cell = _Cells(values).__getitem__

    def identifier(key: str, parse: Callable[[str], str]) -> str | None:
        value = cell(key)
        if not value:
            if key in REQUIRED:
                problems.append(RowProblem(key, "import.required"))
            return None
        try:
            return parse(value)
        except IdentifierError as exc:
            problems.append(RowProblem(key, exc.key, exc.params))
            return None

    def date(key: str, required: bool = False) -> dt.date | None:
        value = cell(key)
        if not value:
            if required:
                problems.append(RowProblem(key, "import.required"))
            return None
        try:
            parsed = parse_date(value)
        except ValueError:
            problems.append(RowProblem(key, "import.date_invalid"))
            return None
        if parsed > today:
            problems.append(RowProblem(key, "import.date_future"))
            return None
        return parsed

    def flag(key: str) -> bool | None:
        value = nfkc(cell(key))
        if value not in _FLAGS:
            problems.append(RowProblem(key, "import.flag_invalid"))
            return None
        return _FLAGS[value]

    resident_number = identifier("resident_number", parse_resident_number)
    my_number = identifier("my_number", parse_my_number)
    name = cell("name")  # stored as imported (trimmed only): ① stays ①, Ａ stays Ａ
    if not name:
        problems.append(RowProblem("name", "import.required"))
    elif len(name) > MAX_NAME:
        problems.append(RowProblem("name", "import.too_long", {"length": MAX_NAME}))
    kana = nfkc(cell("name_kana"))
    if not kana:
        problems.append(RowProblem("name_kana", "import.required"))
    elif not _KANA.fullmatch(kana):
        problems.append(RowProblem("name_kana", "import.kana_invalid"))
    elif len(kana) > MAX_NAME:
        problems.append(RowProblem("name_kana", "import.too_long", {"length": MAX_NAME}))
    kana = kana.replace("\u3000", " ")
    former_name = cell("former_name")
    if len(former_name) > MAX_NAME:
        problems.append(RowProblem("former_name", "import.too_long", {"length": MAX_NAME}))
    birth_date = date("birth_date", required=True)
    if birth_date is not None and birth_date < EARLIEST_BIRTH:
        problems.append(RowProblem("birth_date", "import.birth_too_early"))
        birth_date = None
    sex = SEXES.get(nfkc(cell("sex")))
    if sex is None:
        problems.append(RowProblem("sex", "import.sex_invalid"))
    ticket_number = identifier("ticket_number", parse_ticket_number)
    ticket_type = nfkc(cell("ticket_type")) or "1"
    if ticket_type not in TICKET_TYPES:
        problems.append(
            RowProblem(
                "ticket_type", "import.ticket_type_invalid", {"known": "/".join(TICKET_TYPES)}
            )
        )
    dose_text = nfkc(cell("ticket_dose_number"))
    ticket_dose: int | None = None
    if dose_text:
        if dose_text.isdigit() and 1 <= int(dose_text) <= 9:
            ticket_dose = int(dose_text)
        else:
            problems.append(RowProblem("ticket_dose_number", "import.dose_number_invalid"))
    issued_on = date("ticket_issued_on")
    moved_out_on = _flagged_date(
        problems, "moved_out", cell("moved_out"), flag("moved_out"), date("moved_out_on")
    )
    deceased_on = _flagged_date(
        problems, "deceased", cell("deceased"), flag("deceased"), date("deceased_on")
    )
    for key, value in (("moved_out_on", moved_out_on), ("deceased_on", deceased_on)):
        if value is not None and birth_date is not None and value < birth_date:
            problems.append(RowProblem(key, "import.before_birth"))
    priority = PRIORITY_GROUPS.get(nfkc(cell("priority_group")))
    if priority is None:
        problems.append(RowProblem("priority_group", "import.priority_invalid"))
    needs_care = flag("needs_care")
    if problems:
        return None, problems
    assert resident_number and birth_date and sex is not None and priority is not None
    return (
        CheckedRow(
            resident_number=resident_number,
            my_number=my_number,
            name=name,
            name_kana=kana,
            former_name=former_name,
            birth_date=birth_date,
            sex=sex,
            ticket_number=ticket_number,
            ticket_type=ticket_type,
            ticket_dose_number=ticket_dose,
            ticket_issued_on=issued_on,
            moved_out_on=moved_out_on,
            deceased_on=deceased_on,
            priority_group=priority,
            needs_care=bool(needs_care),
        ),
        [],
    )


def _flagged_date(
    problems: list[RowProblem],
    flag_key: str,
    flag_text: str,
    flagged: bool | None,
    on: dt.date | None,
) -> dt.date | None:
    """A 転出/死亡 date, consistent with its flag (a date alone implies the flag)."""
    if flagged is None:
        return None
    if flagged and on is None:
        problems.append(RowProblem(f"{flag_key}_on", "import.flag_needs_date"))
        return None
    if flag_text == "0" and on is not None:
        problems.append(RowProblem(flag_key, "import.flag_contradicts_date"))
        return None
    return on


def template_csv() -> str:
    """The template download: the header and one example row."""
    header = ",".join(c.header for c in COLUMNS)
    example = ",".join(c.example for c in COLUMNS)
    return f"{header}\r\n{example}\r\n"


def first_undecodable_line(path: Path, encoding: str) -> int:
    """The physical line (from 1) holding the first byte ``encoding`` cannot decode.

    A text stream decodes ahead of the CSV reader (in 8 KB chunks), so the
    reader's line count at the error points before the bad byte (947 for a byte
    on line 1001). This reads the file again, line by line, with one
    incremental decoder (so a character split across lines is still whole).
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return number
    return max(1, number)  # a character cut short at the very end


_ASCII_DIGITS = frozenset("0123456789")
_MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # digits 1–11, left to right
#: What the weights add up to over ASCII codes rather than digits ("0" is 48).
_MY_NUMBER_ASCII_OFFSET = 48 * sum(_MY_NUMBER_WEIGHTS)
_PLAIN_SEXES = {"1": "1", "2": "2", "9": "9"}
_PLAIN_FLAGS = {"": False, "0": False, "1": True}
_PLAIN_PRIORITIES = {"": "", "0": "", "1": "medical_worker", "2": "care_facility_worker"}
_PLAIN_DOSES = {str(n): n for n in range(1, 10)}
#: Distinct dates and kana names remembered per file (birth dates repeat a lot).
_CACHE_LIMIT = 200_000


class RowChecker:
    """:func:`check_row` for one header, with a quick path for the plain rows most files hold.

    A row whose every cell is in its plainest form (ASCII digits, ISO dates, no flag
    set, no full-width characters to fold) is checked here in a few steps; any other
    row, and every row with a problem, goes to :func:`check_row`, so the problems and
    the values are always :func:`check_row`'s (``tests/fuzz/test_csv_rows.py`` compares
    both on generated rows).
    """

    def __init__(self, positions: dict[str, int], today: dt.date) -> None:
        self.positions = positions
        self.today = today
        self._at = tuple(positions.get(key, -1) for key in COLUMN_KEYS)
        self._dates: dict[str, dt.date] = {}
        self._kana: dict[str, str] = {}

    def check(self, cells: list[str]) -> tuple[CheckedRow | None, list[RowProblem]]:
        """What :func:`check_row` says of ``cells``."""
        quick = self._quick(cells)
        if quick is not None:
            return CheckedRow(*quick), []
        return check_row(cells, self.positions, self.today)

    def values(self, cells: list[str]) -> tuple[tuple[Any, ...] | None, list[RowProblem]]:
        """:meth:`check` as a tuple of :class:`CheckedRow`'s fields, in their order."""
        quick = self._quick(cells)
        if quick is not None:
            return quick, []
        row, problems = check_row(cells, self.positions, self.today)
        if row is None:
            return None, problems
        return (
            row.resident_number, row.my_number, row.name, row.name_kana, row.former_name,
            row.birth_date, row.sex, row.ticket_number, row.ticket_type, row.ticket_dose_number,
            row.ticket_issued_on, row.moved_out_on, row.deceased_on, row.priority_group,
            row.needs_care,
        ), []  # fmt: skip

    def _date(self, text: str) -> dt.date | None:
        """A plain date that :func:`check_row` accepts (not in the future), else None."""
        known = self._dates.get(text)
        if known is not None or not text.isascii():
            return known
        try:
            value = parse_date(text)
        except ValueError:
            return None
        if value > self.today:
            return None
        if len(self._dates) < _CACHE_LIMIT:
            self._dates[text] = value
        return value

    def _quick(self, cells: list[str]) -> tuple[Any, ...] | None:  # noqa: C901, PLR0911, PLR0912
        (at_resident, at_my_number, at_name, at_kana, at_former, at_birth, at_sex, at_ticket,
         at_type, at_dose, at_issued, at_moved, at_moved_on, at_deceased, at_deceased_on,
         at_priority, at_care) = self._at  # fmt: skip
        cs = [*cells, ""]  # an absent column (-1) reads as empty
        resident = cs[at_resident].strip()
        if not (0 < len(resident) <= 15 and resident.isascii() and resident.isdigit()):
            return None
        my_number: str | None = cs[at_my_number].strip()
        if my_number:
            if not (len(my_number) == 12 and my_number.isascii() and my_number.isdigit()):
                return None
            # The weighted sum over the ASCII codes, less the codes' share: no int() per digit.
            total = sum(map(mul, my_number.encode(), _MY_NUMBER_WEIGHTS)) - _MY_NUMBER_ASCII_OFFSET
            remainder = total % 11
            if my_number[11] != ("0" if remainder <= 1 else str(11 - remainder)):
                return None
        else:
            my_number = None
        name = cs[at_name].strip()
        if not name or len(name) > MAX_NAME:
            return None
        raw_kana = cs[at_kana].strip()
        kana = self._kana.get(raw_kana)
        if kana is None:
            folded = nfkc(raw_kana)
            if not folded or not _KANA.fullmatch(folded) or len(folded) > MAX_NAME:
                return None
            kana = folded.replace("\u3000", " ")
            if len(self._kana) < _CACHE_LIMIT:
                self._kana[raw_kana] = kana
        former = cs[at_former].strip()
        if len(former) > MAX_NAME:
            return None
        birth = self._date(cs[at_birth].strip())
        if birth is None or birth < EARLIEST_BIRTH:
            return None
        sex = _PLAIN_SEXES.get(cs[at_sex].strip())
        if sex is None:
            return None
        ticket: str | None = cs[at_ticket].strip()
        if ticket:
            if not (len(ticket) == 10 and ticket.isascii() and ticket.isdigit()):
                return None
        else:
            ticket = None
        ticket_type = cs[at_type].strip() or "1"
        if ticket_type not in TICKET_TYPES or not ticket_type.isascii():
            return None
        dose_text = cs[at_dose].strip()
        dose = None
        if dose_text:
            dose = _PLAIN_DOSES.get(dose_text)
            if dose is None:
                return None
        issued_text = cs[at_issued].strip()
        issued = None
        if issued_text:
            issued = self._date(issued_text)
            if issued is None:
                return None
        if (
            cs[at_moved].strip() not in ("", "0")
            or cs[at_moved_on].strip()
            or cs[at_deceased].strip() not in ("", "0")
            or cs[at_deceased_on].strip()
        ):
            return None
        priority = _PLAIN_PRIORITIES.get(cs[at_priority].strip())
        care = _PLAIN_FLAGS.get(cs[at_care].strip())
        if priority is None or care is None:
            return None
        return (
            resident, my_number, name, kana, former, birth, sex, ticket, ticket_type, dose,
            issued, None, None, priority, care,
        )  # fmt: skip
