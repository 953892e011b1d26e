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
from db.imports.format import check_row, map_header
from db.imports.loader import ImportFailed, _RowReader, detect_encoding
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
        reader = _RowReader(path, detect_encoding(path), MyNumberVault(b"k" * 32), "131016")
        try:
            reader.header()
            records: list[tuple] = []
            while batch := reader.batch():
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
