"""An import file's rows: read, checked one by one, sealed, and written as COPY text.

The file is read by one ``csv.reader`` as far as line numbers and malformed-file errors
go: blocks of plain lines (no quote, NUL or lone carriage return, :class:`Block`) are
split at their commas by the workers, which ``csv.reader`` would do alike (property-tested);
from the first line that is not plain, ``csv.reader`` reads the rest in a thread of the
importing process. The per-row checks (:mod:`db.imports.format`) and the sealing of My
Numbers run in one worker process per core for a large file (:data:`PARALLEL_FROM_BYTES`),
which give back COPY text.

Two shapes of COPY text (:class:`Target`): rows for the TEMP staging table of an
update import, or the rows of an area's first import, written straight into its new
``resident`` and ``ticket`` tables. The checks between rows of one file
(:class:`InFileDuplicates`) run in the importing process, in file order.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import enum
import io
import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from db.imports.format import RowChecker, first_undecodable_line, map_header
from db.residents.my_number import MyNumberVault

#: The longest cell read; a longer one stops the import at its line as malformed CSV.
FIELD_LIMIT = 16 * 1024 * 1024
BATCH_ROWS = 5000
#: Files from this size on are checked in worker processes; smaller ones in a thread.
PARALLEL_FROM_BYTES = 4 << 20
#: Plain lines go to the workers in blocks of at most this many bytes (see :class:`Block`).
BLOCK_BYTES = 1 << 19

#: One row read from the file: its physical line and its cells.
Cells = tuple[int, list[str]]
#: Why a line is refused: (line, column, message key, JSON parameters).
Rejection = tuple[int, str, str, str]
#: What identifies a checked row within the file: (line, resident number, ticket number or
#: None, My Number's lookup hash or None).
Keys = tuple[int, str, str | None, str | None]


class ImportFailed(Exception):
    """The whole file cannot be imported; ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def detect_encoding(path: Path) -> str:
    """utf-8-sig (BOM), utf-8, or cp932 (Shift_JIS as Windows writes it)."""
    with path.open("rb") as raw:
        head = raw.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        raw.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := raw.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp932"
    return "utf-8"


class Target(enum.Enum):
    """Where the checked rows go."""

    #: The TEMP staging table of an update import (:data:`STAGING_COLUMNS`).
    STAGING = "staging"
    #: An area's first import: its new tables (:data:`RESIDENT_COLUMNS`, :data:`TICKET_COLUMNS`).
    FRESH_AREA = "fresh_area"


STAGING_COLUMNS = (
    "line", "resident_number", "my_number_ciphertext", "my_number_hmac", "name", "name_kana",
    "former_name", "birth_date", "sex", "ticket_number", "ticket_type", "ticket_dose_number",
    "ticket_issued_on", "moved_out_on", "deceased_on", "priority_group", "needs_care", "rejected",
)  # fmt: skip
RESIDENT_COLUMNS = (
    "id", "municipality_code", "resident_number", "my_number_ciphertext", "my_number_hmac",
    "name", "name_kana", "former_name", "birth_date", "sex", "moved_out_on", "deceased_on",
    "priority_group", "needs_care",
)  # fmt: skip
TICKET_COLUMNS = (
    "municipality_code", "ticket_number", "resident", "ticket_type", "dose_number", "issued_on",
)  # fmt: skip


class CheckedBatch(NamedTuple):
    """A batch of rows after the per-row checks, in file order.

    ``keys[i]`` and ``lines[i]`` (and ``tickets[i]`` for a fresh area: "" when the row has no
    ticket) are the i-th good row; each line ends with a newline.
    """

    keys: list[Keys]
    lines: list[str]
    tickets: list[str]
    rejections: list[Rejection]
    rejected_lines: int
    #: Rows read from a :class:`Block` (a batch of cells was counted when it was read).
    rows_read: int = 0
    #: A :class:`Block` that is not text in the file's encoding.
    undecodable: bool = False


class Block(NamedTuple):
    """Whole lines of the file, as bytes, for a worker to split: lines with no quote, no NUL
    and no lone carriage return, which ``csv.reader`` splits at each comma."""

    first_line: int
    data: bytes


def _plain(data: bytes) -> bool:
    """Whether ``csv.reader`` would read ``data`` line by line, splitting at each comma.

    (A quote, NUL or carriage return byte is never part of a multi-byte character in
    UTF-8 or CP932.)"""
    return b'"' not in data and b"\0" not in data and data.count(b"\r") == data.count(b"\r\n")


def after_the_first_line(encoding: str) -> str:
    """The encoding of the file's text after its first line (a BOM only starts the file)."""
    return "utf-8" if encoding == "utf-8-sig" else encoding


def split_block(block: Block, encoding: str) -> list[Cells] | None:
    """A :data:`_plain` block's non-blank rows; None if it is not text in ``encoding``."""
    try:
        text = block.data.decode(after_the_first_line(encoding))
    except UnicodeDecodeError:
        return None
    rows: list[Cells] = []
    pieces = text.split("\n")
    if text.endswith("\n"):
        pieces.pop()  # the end of the last line, not a line
    for line, piece in enumerate(pieces, block.first_line):
        cells = (piece[:-1] if piece.endswith("\r") else piece).split(",")
        if not any(c.strip() for c in cells):
            continue
        rows.append((line, cells))
    return rows


class RowReader:
    """Reads the file in batches of cells (:meth:`cells`); :meth:`records` also checks them."""

    def __init__(
        self,
        path: Path,
        encoding: str,
        vault: MyNumberVault,
        code: str,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.path = path
        self.encoding = encoding
        self.block_bytes = block_bytes
        #: Where the next :class:`Block` starts (None: the csv reader reads the rest).
        self.offset: int | None = None
        self.next_line = 0
        #: Added to the csv reader's line numbers (when it reads from the middle of the file).
        self.line_offset = 0
        self.raw = path.open("rb")
        self.text = io.TextIOWrapper(self.raw, encoding=encoding, newline="")
        # A cell longer than Python's default limit (128 kB) would fail the whole file as
        # "not valid CSV"; read it, and let the row's checks refuse it as too long.
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self.reader = csv.reader(self.text)
        self.vault = vault
        self.code = code
        self.today = dt.date.today()
        self.positions: dict[str, int] = {}
        self.rows_read = 0
        self.rejections: list[Rejection] = []
        self.rejected_lines = 0

    def header(self) -> list[str]:
        try:
            cells = next(self.reader)
        except StopIteration:
            raise ImportFailed("import.empty_file") from None
        except UnicodeDecodeError:
            raise ImportFailed("import.encoding_unreadable", line=1) from None
        positions, missing, ignored, repeated = map_header(cells)
        if missing:
            raise ImportFailed("import.missing_columns", columns="、".join(missing))
        if repeated:
            raise ImportFailed("import.repeated_columns", columns="、".join(repeated))
        self.positions = positions
        self.checker = RowChecker(positions, self.today)
        self.offset = _after_lines(self.path, self.reader.line_num)
        self.next_line = self.reader.line_num + 1
        return ignored

    def work(self) -> Block | list[Cells]:
        """The next part of the file to check: a :class:`Block` of plain lines, else (from
        the first line that is not plain to the end) batches of cells read by ``csv.reader``;
        [] at the end."""
        if self.offset is not None:
            with self.path.open("rb") as raw:
                raw.seek(self.offset)
                data = raw.read(self.block_bytes)
            if len(data) == self.block_bytes:
                data = data[: data.rfind(b"\n") + 1]  # whole lines only
            if not data:
                if self.offset < self.path.stat().st_size:  # a line longer than a block
                    self._read_on_with_csv()
                    return self.cells()
                return []
            if _plain(data):
                block = Block(self.next_line, data)
                self.offset += len(data)
                self.next_line += data.count(b"\n")
                return block
            self._read_on_with_csv()
        return self.cells()

    def _read_on_with_csv(self) -> None:
        """Read the rest of the file with ``csv.reader`` (quotes, line breaks in cells, ...)."""
        assert self.offset is not None
        self.text.close()
        self.raw = self.path.open("rb")
        self.raw.seek(self.offset)
        self.text = io.TextIOWrapper(
            self.raw, encoding=after_the_first_line(self.encoding), newline=""
        )
        self.reader = csv.reader(self.text)
        self.line_offset = self.next_line - 1
        self.offset = None

    def cells(self, rows: int = BATCH_ROWS) -> list[Cells]:
        """The next non-blank rows (at most ``rows``), unchecked; [] at the end."""
        batch: list[Cells] = []
        try:
            for cells in self.reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                self.rows_read += 1
                batch.append((self.reader.line_num + self.line_offset, cells))
                if len(batch) >= rows:
                    break
        except UnicodeDecodeError:
            raise self.undecodable() from None
        except csv.Error:
            line = self.reader.line_num + self.line_offset
            raise ImportFailed("import.csv_malformed", line=line) from None
        return batch

    def undecodable(self) -> ImportFailed:
        """The file's first line that is not text in its encoding, as a failure."""
        line = first_undecodable_line(self.path, self.encoding)
        return ImportFailed("import.encoding_unreadable", line=line)

    def take_checked(self, batch: CheckedBatch) -> None:
        """Count the rejections of a checked batch, and the rows of a :class:`Block`'s (a
        batch of cells was counted when it was read)."""
        if batch.undecodable:
            raise self.undecodable()
        self.rows_read += batch.rows_read
        self.take(batch.rejections, batch.rejected_lines)

    def records(self) -> list[tuple[Any, ...]]:
        """The next checked rows (at most :data:`BATCH_ROWS`), My Numbers sealed; [] at the end.

        A record has the checked row's values with the line first and the My Number's hash
        after its sealed form (the staging table's first columns).
        """
        while cells := self.cells():
            records, rejections, rejected = check_cells(cells, self.checker, self.vault, self.code)
            self.take(rejections, rejected)
            if records:
                return [tuple(r) for r in records]
        return []

    def take(self, rejections: list[Rejection], rejected_lines: int) -> None:
        """Count the rejections of a checked batch."""
        self.rejections.extend(rejections)
        self.rejected_lines += rejected_lines

    def close(self) -> None:
        self.text.close()


def _after_lines(path: Path, lines: int, within: int = 1 << 20) -> int | None:
    """The byte offset after the file's first ``lines`` lines (ended by LF, CRLF or a lone
    CR, as ``csv.reader`` counts them); None if they are not within the first ``within``
    bytes."""
    with path.open("rb") as raw:
        head = raw.read(within)
    at = 0
    for _ in range(lines):
        ends = [i for i in (head.find(b"\n", at), head.find(b"\r", at)) if i >= 0]
        if not ends:
            return None if len(head) == within else len(head)
        end = min(ends)
        at = end + (2 if head[end : end + 2] == b"\r\n" else 1)
    return at


def check_cells(
    batch: list[Cells], checker: RowChecker, vault: MyNumberVault, code: str
) -> tuple[list[list[Any]], list[Rejection], int]:
    """Check rows one by one and seal their My Numbers: (records, rejections, rejected lines)."""
    records: list[list[Any]] = []
    rejections: list[Rejection] = []
    rejected = 0
    width = max(checker.positions.values()) + 1
    values = checker.values
    for line, cells in batch:
        if len(cells) < width:
            rejected += 1
            rejections.append((line, "", "import.too_few_fields", json.dumps({"expected": width})))
            continue
        row, problems = values(cells)
        if row is None:
            rejected += 1
            for p in problems:
                rejections.append(
                    (line, p.column, p.reason, json.dumps(p.params, ensure_ascii=False))
                )
            continue
        # CheckedRow's fields in order, with the line first and the hash after the My Number.
        records.append([line, row[0], row[1], None, *row[2:]])
    _seal(records, vault, code)
    return records, rejections, rejected


def _seal(records: list[list[Any]], vault: MyNumberVault, code: str) -> None:
    """Replace each My Number (position 2) by its sealed form and fill its hash (3)."""
    numbered = [r for r in records if r[2]]
    numbers = [r[2] for r in numbered]
    sealed = vault.seal_many(numbers, code)
    hashes = vault.lookup_hashes(numbers)
    for record, ciphertext, digest in zip(numbered, sealed, hashes, strict=True):
        record[2] = ciphertext
        record[3] = digest
    for record in records:
        if not record[2]:
            record[2] = None


# --- COPY text ---------------------------------------------------------------------------
# Identifiers, hashes, dates and codes are digits, hex or ASCII words by the time a row is a
# record; only the names are free text.

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_BYTEA = "\\\\x"


def _text(value: str) -> str:
    """Free text in COPY's text format."""
    return value.translate(_COPY_ESCAPES)


def _optional(value: Any) -> str:
    """A value that may be NULL (digits, a number or a date) in COPY's text format."""
    return _NULL if value is None else str(value)


_VARIANT = str.maketrans("0123456789abcdef", "89ab89ab89ab89ab")


def _random_ids(count: int) -> Iterator[str]:
    """``count`` random (version 4) UUIDs as 32 hex digits, from one draw of random bytes
    (a quarter of the time :func:`uuid.uuid4` takes one by one)."""
    digits = os.urandom(16 * count).hex()
    for at in range(0, 32 * count, 32):
        h = digits[at : at + 32]
        yield f"{h[:12]}4{h[13:16]}{h[16].translate(_VARIANT)}{h[17:]}"


def copy_lines(records: list[list[Any]], target: Target, code: str) -> CheckedBatch:
    """Good records as COPY lines for ``target`` (no rejections yet)."""
    keys: list[Keys] = []
    lines: list[str] = []
    tickets: list[str] = []
    fresh = target is Target.FRESH_AREA
    ids = _random_ids(len(records)) if fresh else iter(())
    for (line, resident, sealed, digest, name, kana, former, birth, sex, ticket, ticket_type,
         dose, issued, moved, deceased, priority, care) in records:  # fmt: skip
        keys.append((line, resident, ticket, digest))
        sealed_text = _BYTEA + sealed.hex() if sealed else _NULL
        people = (
            f"{sealed_text}\t{digest or _NULL}\t{_text(name)}\t{_text(kana)}\t{_text(former)}\t"
            f"{birth}\t{sex}\t"
        )
        flags = f"{priority}\t{'t' if care else 'f'}"
        if fresh:
            resident_id = next(ids)
            lines.append(
                f"{resident_id}\t{code}\t{resident}\t{people}{_optional(moved)}\t"
                f"{_optional(deceased)}\t{flags}\n"
            )
            tickets.append(
                f"{code}\t{ticket}\t{resident_id}\t{ticket_type}\t{_optional(dose)}\t"
                f"{_optional(issued)}\n"
                if ticket
                else ""
            )
        else:
            lines.append(
                f"{line}\t{resident}\t{people}{ticket or _NULL}\t{ticket_type}\t"
                f"{_optional(dose)}\t{_optional(issued)}\t{_optional(moved)}\t"
                f"{_optional(deceased)}\t{flags}\tf\n"
            )
    return CheckedBatch(keys, lines, tickets, [], 0)


@dataclass(frozen=True)
class BatchCheck:
    """What a process needs to check batches of one file (sent once to each worker)."""

    checker: RowChecker
    vault: MyNumberVault
    code: str
    target: Target
    encoding: str

    def __call__(self, cells: list[Cells]) -> CheckedBatch:
        """The batch checked, sealed and written as COPY lines for the target."""
        records, rejections, rejected = check_cells(cells, self.checker, self.vault, self.code)
        batch = copy_lines(records, self.target, self.code)
        return batch._replace(rejections=rejections, rejected_lines=rejected)

    def block(self, block: Block) -> CheckedBatch:
        """A block of plain lines split into cells, then checked like a batch of cells."""
        cells = split_block(block, self.encoding)
        if cells is None:
            return CheckedBatch([], [], [], [], 0, undecodable=True)
        return self(cells)._replace(rows_read=len(cells))


# --- checking in worker processes --------------------------------------------------------
# A large file is checked and sealed by one process per core (the GIL would keep threads on
# one core): each gets its batch of cells and gives back COPY lines and the rejections.

_worker: list[BatchCheck] = []


def _start_worker(check: BatchCheck) -> None:
    _worker.append(check)


def check_in_worker(work: Block | list[Cells]) -> CheckedBatch:
    """:class:`BatchCheck` in a worker process started by :func:`worker_pool`."""
    return check_work(_worker[0], work)


def check_work(check: BatchCheck, work: Block | list[Cells]) -> CheckedBatch:
    """A block or a batch of cells, checked."""
    return check.block(work) if isinstance(work, Block) else check(work)


def worker_pool(check: BatchCheck, size: int) -> ProcessPoolExecutor | None:
    """Worker processes for a file of ``size`` bytes (None: check in a thread of this one)."""
    workers = os.cpu_count() or 1
    if size < PARALLEL_FROM_BYTES or workers < 2:
        return None
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # never fork a running server
        initializer=_start_worker,
        initargs=(check,),
    )


class InFileDuplicates:
    """The checks between rows of one file: a resident number, ticket number or My Number
    that an earlier good row has refuses every later row with it (``first_line`` names the
    first). Fed in file order; every good row's keys count, even a row refused for another.
    """

    def __init__(self) -> None:
        self.first: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
        self.rejections: list[Rejection] = []
        self.rejected_lines = 0

    def refused(self, keys: list[Keys]) -> set[int]:
        """The positions in ``keys`` of rows refused as duplicates (most often none)."""
        refused: set[int] = set()
        for column, position, seen in zip(_KEY_COLUMNS, (1, 2, 3), self.first, strict=True):
            setdefault = seen.setdefault
            for at, row in enumerate(keys):
                key = cast("str | None", row[position])
                if key is not None and (first := setdefault(key, row[0])) != row[0]:
                    self.rejections.append(
                        (row[0], column, "import.duplicate_in_file",
                         json.dumps({"first_line": first}))
                    )  # fmt: skip
                    refused.add(at)
        self.rejected_lines += len(refused)
        return refused


_KEY_COLUMNS = ("resident_number", "ticket_number", "my_number")
