"""Property tests of the CSV parsers: the venue upload (db/vaccinations/bulk) and the resident import.

Both read UTF-8 (with or without BOM) and CP932; whatever bytes arrive, the
only failure is the documented one (``UnreadableFile`` / ``ImportFailed`` for
the whole file, a row problem with a message key per bad row), and rows
written by the csv module in either encoding read back as written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from db.imports.format import COLUMNS as RESIDENT_COLUMNS
from db.imports.format import RowChecker, check_row, map_header
from db.imports.rows import ImportFailed, RowReader, detect_encoding
from db.residents.my_number import MyNumberVault
from db.vaccinations.bulk import COLUMNS as UPLOAD_COLUMNS
from db.vaccinations.bulk import UnreadableFile, decode, rows
from web.i18n import catalog

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KNOWN_KEYS = set(catalog("ja")) & set(catalog("en"))
# Text both encodings can carry: ASCII, kana, common kanji, full-width forms.
#: cp932 writes ¢ £ ¬ ‖ − 〜 and reads back their full-width forms (￠ ￡ ￢ ∥ － ～).
CP932_LOSSY = "\xa2\xa3\xac\u2016\u2212\u301c"
JAPANESE = st.characters(
    codec="cp932", exclude_categories=("Cs", "Cc"), exclude_characters="\x00\r\n" + CP932_LOSSY
)
cell = st.text(alphabet=JAPANESE, max_size=12)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp932"])


def csv_bytes(header: list[str], body: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue().encode(encoding)


def decodes_as_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- venue upload ----------------------------------------------------------------


@EXAMPLES
@given(st.binary(max_size=600))
def test_any_bytes_as_a_venue_upload_give_rows_or_unreadable_file(content: bytes) -> None:
    try:
        for line, row in rows(content):
            assert line >= 2 and all(isinstance(v, str) for v in row.values())
    except UnreadableFile as error:
        assert error.key in KNOWN_KEYS


@EXAMPLES
@given(st.lists(st.lists(cell, min_size=len(UPLOAD_COLUMNS), max_size=len(UPLOAD_COLUMNS)),
                min_size=1, max_size=6), encodings)  # fmt: skip
def test_venue_upload_rows_in_utf8_or_cp932_read_back_as_written(
    body: list[list[str]], encoding: str
) -> None:
    body = [[c.strip() or "x" for c in r] for r in body]  # the reader strips cells; blank rows skip
    content = csv_bytes(list(UPLOAD_COLUMNS), body, encoding)
    # CP932 bytes that are valid UTF-8 too are ambiguous by nature (rare beyond a few characters).
    assume(encoding != "cp932" or not decodes_as_utf8(content))
    assert decode(content).lstrip("\ufeff").startswith(UPLOAD_COLUMNS[0])
    read = [[row[c] for c in UPLOAD_COLUMNS] for _, row in rows(content)]
    assert read == body


# --- resident import ---------------------------------------------------------------

HEADERS = [c.header for c in RESIDENT_COLUMNS]


def read_all(content: bytes) -> tuple[int, list[tuple], list[tuple]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "residents.csv"
        path.write_bytes(content)
        reader = RowReader(path, detect_encoding(path), MyNumberVault(b"k" * 32), "131016")
        try:
            reader.header()
            records: list[tuple] = []
            while batch := reader.records():
                records.extend(batch)
            return reader.rows_read, records, reader.rejections
        finally:
            reader.raw.close()


@EXAMPLES
@given(st.binary(max_size=600))
def test_any_bytes_as_a_resident_file_give_rows_rejections_or_import_failed(content: bytes) -> None:
    try:
        _, _, rejections = read_all(content)
    except ImportFailed as error:
        assert error.key in KNOWN_KEYS
    else:
        assert all(reason in KNOWN_KEYS for _, _, reason, _ in rejections)


@EXAMPLES
@given(
    st.lists(st.lists(cell, min_size=len(HEADERS), max_size=len(HEADERS)), max_size=6), encodings
)
def test_every_resident_row_is_either_a_record_or_rejections_with_known_keys(
    body: list[list[str]], encoding: str
) -> None:
    rows_read, records, rejections = read_all(csv_bytes(HEADERS, body, encoding))
    rejected_lines = {line for line, _, _, _ in rejections}
    assert len(records) + len(rejected_lines) == rows_read
    assert all(reason in KNOWN_KEYS for _, _, reason, _ in rejections)


@EXAMPLES
@given(
    st.text(alphabet="0123456789", min_size=1, max_size=15),
    st.text(alphabet=st.characters(codec="cp932", categories=("Lo",)), min_size=1, max_size=10),
    st.text(alphabet="アイウエオカキクケコサシスセソヤマダタロウ", min_size=1, max_size=10),
    st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)),
    st.sampled_from(["1", "2"]),
    encodings,
)
def test_a_valid_resident_row_is_accepted_in_either_encoding(
    number: str, name: str, kana: str, born: dt.date, sex: str, encoding: str
) -> None:
    positions, missing, _, _ = map_header(HEADERS)
    assert missing == []
    values = {"resident_number": number, "name": name, "name_kana": kana,
              "birth_date": born.isoformat(), "sex": sex}  # fmt: skip
    cells = [values.get(c.key, "") for c in RESIDENT_COLUMNS]
    checked, problems = check_row(cells, positions, dt.date(2026, 12, 1))
    assert problems == [] and checked is not None
    assert (checked.resident_number, checked.name, checked.birth_date) == (number, name, born)
    content = csv_bytes(HEADERS, [cells], encoding)
    assume(encoding != "cp932" or not decodes_as_utf8(content))
    rows_read, records, rejections = read_all(content)
    assert (rows_read, len(records), rejections) == (1, 1, [])
    assert records[0][4] == name


# The quick path of RowChecker must say exactly what check_row says, row by row.
PLAIN_OR_NOT = {
    "resident_number": st.sampled_from(
        ["1", "100000000001", "１２", " 7 ", "", "1234567890123456", "x1"]
    ),
    "my_number": st.sampled_from(
        [
            "",
            "123456789018",
            "123456789010",
            "1234-5678-9018",
            "１２３４５６７８９０１８",
            "12345678901",
            "abc",
        ]
    ),
    "name": st.one_of(st.sampled_from(["山田 太郎", "", " ① ", "Ａ" * 129]), cell),
    "name_kana": st.one_of(
        st.sampled_from(["ヤマダ タロウ", "ﾔﾏﾀﾞ", "ヤマダ\u3000タロウ", "やまだ", "", "ア" * 129]),
        cell,
    ),
    "former_name": st.sampled_from(["", "佐藤", "x" * 129]),
    "birth_date": st.sampled_from(
        [
            "1960-04-01",
            "1960/04/01",
            "19600401",
            "２０００-０１-０１",
            "1889-12-31",
            "2099-01-01",
            "1960-02-30",
            "",
            "x",
        ]
    ),
    "sex": st.sampled_from(["1", "2", "9", "男", "女", "3", "", "１"]),
    "ticket_number": st.sampled_from(
        ["", "0000000001", "１２３４５６７８９０", "123", "abcdefghij"]
    ),
    "ticket_type": st.sampled_from(["", "1", "2", "3", "4", "１"]),
    "ticket_dose_number": st.sampled_from(["", "1", "9", "0", "10", "01", "３", "x"]),
    "ticket_issued_on": st.sampled_from(["", "2021-04-01", "2099-01-01", "2021/4/1", "bad"]),
    "moved_out": st.sampled_from(["", "0", "1", "2", "１"]),
    "moved_out_on": st.sampled_from(["", "2022-01-01", "1900-01-01"]),
    "deceased": st.sampled_from(["", "0", "1"]),
    "deceased_on": st.sampled_from(["", "2023-01-01"]),
    "priority_group": st.sampled_from(["", "0", "1", "2", "医療従事者", "3", "１"]),
    "needs_care": st.sampled_from(["", "0", "1", "2", "１"]),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries(PLAIN_OR_NOT), st.permutations(list(range(len(RESIDENT_COLUMNS)))),
       st.integers(0, 3))  # fmt: skip
def test_the_quick_row_check_says_what_check_row_says(
    values: dict[str, str], order: list[int], absent: int
) -> None:
    columns = [RESIDENT_COLUMNS[i] for i in order]
    # Some optional columns may be missing from the header altogether.
    columns = [c for c in columns if c.required or c.key not in list(PLAIN_OR_NOT)[-absent:]]
    positions, missing, _, _ = map_header([c.header for c in columns])
    assert missing == []
    cells = [values[c.key] for c in columns]
    today = dt.date(2026, 12, 1)
    checker = RowChecker(positions, today)
    for _ in range(2):  # the second time from the checker's caches
        assert checker.check(cells) == check_row(cells, positions, today)


def test_a_plain_row_takes_the_quick_path() -> None:
    positions, _, _, _ = map_header(HEADERS)
    values = {"resident_number": "100000000001", "my_number": "123456789018", "name": "山田 太郎",
              "name_kana": "ヤマダ\u3000タロウ", "birth_date": "1960-04-01", "sex": "2",
              "ticket_number": "0000000001", "ticket_dose_number": "3", "needs_care": "1",
              "priority_group": "1"}  # fmt: skip
    cells = [values.get(c.key, "") for c in RESIDENT_COLUMNS]
    checker = RowChecker(positions, dt.date(2026, 12, 1))
    assert checker._quick(cells) is not None  # noqa: SLF001 - the path this test is about
    checked, problems = checker.check(cells)
    assert (checked, problems) == check_row(cells, positions, dt.date(2026, 12, 1))
    assert checked is not None and checked.name_kana == "ヤマダ タロウ" and checked.needs_care


# --- the import's blocks of plain lines --------------------------------------------------
# Lines with no quote, NUL or lone carriage return go to the workers as bytes and are split
# there (db.imports.rows.Block); every other line is read by csv.reader. Both must read a
# file exactly alike: the same rows with the same line numbers, or the same failure.


def rows_by_csv(path: Path, encoding: str) -> tuple[list, int]:
    reader = RowReader(path, encoding, MyNumberVault(b"k" * 32), "131016")
    try:
        reader.header()
        found: list = []
        while batch := reader.cells(rows=3):
            found.extend(batch)
        return found, reader.rows_read
    finally:
        reader.close()


def rows_by_blocks(path: Path, encoding: str, block_bytes: int) -> tuple[list, int]:
    from db.imports.rows import Block, split_block

    reader = RowReader(path, encoding, MyNumberVault(b"k" * 32), "131016", block_bytes)
    try:
        reader.header()
        found: list = []
        read_in_blocks = 0
        while work := reader.work():
            if isinstance(work, Block):
                split = split_block(work, encoding)
                if split is None:
                    raise reader.undecodable()
                found.extend(split)
                read_in_blocks += len(split)
            else:
                found.extend(work)
        return found, reader.rows_read + read_in_blocks
    finally:
        reader.close()


def outcome(read, *arguments) -> tuple:
    try:
        return ("read", *read(*arguments))
    except ImportFailed as error:
        return ("failed", error.key, error.params)


PLAIN_LINE = st.text(alphabet=st.sampled_from(list("ab ,アイ漢")), max_size=14)
ANY_LINE = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\x00アイ漢')), max_size=14)
#: Mostly plain lines, some with quotes, line breaks or NUL among them.
LINE_TEXT = st.one_of(PLAIN_LINE, PLAIN_LINE, PLAIN_LINE, ANY_LINE)


@EXAMPLES
@given(
    st.lists(LINE_TEXT, max_size=10),
    st.sampled_from(["\n", "\r\n", "\n", "\r\n", "\r"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
    st.integers(min_value=1, max_value=60),
    st.binary(max_size=3),
)
def test_blocks_of_plain_lines_read_exactly_as_csv_reader_reads_them(
    lines: list[str], ending: str, encoding: str, block_bytes: int, tail: bytes
) -> None:
    header = (",".join(HEADERS) + ending).encode(encoding)
    body = ending.join(lines).encode(encoding.removesuffix("-sig"))
    content = header + body + ending.encode() + tail
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "residents.csv"
        path.write_bytes(content)
        by_csv = outcome(rows_by_csv, path, encoding)
        assert by_csv[0] == "read" or by_csv[1] != "import.missing_columns"
        assert outcome(rows_by_blocks, path, encoding, block_bytes) == by_csv
