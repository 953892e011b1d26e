"""Reading an uploaded archive as a stream, within limits, before trusting anything in it.

The zip's central directory is sized before it is parsed; every entry must
be one the export writes, stored or deflated, unencrypted, within the
per-entry and total decompressed sizes and the compression ratio
(:class:`Limits`); table files are read line by line with a bounded line
length, counting the bytes actually decompressed (a zip may lie about its
sizes). Memory stays bounded by one line and one batch whatever the archive
holds. Errors name the limit or the table, never content.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from db.backup.errors import BackupError

MANIFEST_ENTRY = "manifest.json"
REFERENCE_ENTRY = "municipality.json"
_TABLE_ENTRY = re.compile(r"tables/([a-z_][a-z0-9_]{0,62})\.jsonl")
_CHUNK = 1 << 16
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What an archive may hold; the defaults fit an area of tens of millions of rows."""

    entries: int = 64
    """Zip entries (the export writes one per table and three more)."""
    central_directory_bytes: int = 256 * 1024
    entry_bytes: int = 32 * 1024 * MiB
    """Decompressed bytes of one entry."""
    total_bytes: int = 128 * 1024 * MiB
    """Decompressed bytes of all entries."""
    ratio: int = 200
    """Decompressed ÷ compressed bytes of an entry: a zip bomb reaches 1000; real exports stay
    below 50 (200,000 near-identical audit events: 41)."""
    ratio_floor: int = MiB
    """Entries smaller than this when decompressed are not held to the ratio."""
    line_bytes: int = 64 * MiB
    """One row (a certificate's PDF is its largest part)."""
    small_entry_bytes: int = MiB
    """The manifest, its seal and the municipality's reference row."""


def table_entry(table: str) -> str:
    """The entry holding a table's rows."""
    return f"tables/{table}.jsonl"


class Archive:
    """An opened, checked archive: entries by name; read with :meth:`lines` or :meth:`small`."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.limits = limits
        self._file: BinaryIO = path.open("rb")
        try:
            self._zip = self._open()
            self.entries = self._check_entries()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        """Release the file."""
        self._zip.close()
        self._file.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> zipfile.ZipFile:
        try:
            end = zipfile._EndRecData(self._file)  # type: ignore[attr-defined]  # zipfile's private reader of the end record
        except (OSError, EOFError, ValueError, struct.error, zipfile.BadZipFile):
            end = None
        if not end:
            raise BackupError("backup.not_an_archive")
        if (
            end[zipfile._ECD_ENTRIES_TOTAL] > self.limits.entries  # type: ignore[attr-defined]  # zipfile's private record offsets
            or end[zipfile._ECD_SIZE] > self.limits.central_directory_bytes  # type: ignore[attr-defined]  # zipfile's private record offsets
        ):
            raise BackupError("backup.too_many_entries", limit=self.limits.entries)
        try:
            return zipfile.ZipFile(self._file)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            ValueError,
            OSError,
            EOFError,
            struct.error,
            NotImplementedError,  # a zip "version" or feature this reader has not
        ):
            raise BackupError("backup.not_an_archive") from None

    def _check_entries(self) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        entries: dict[str, zipfile.ZipInfo] = {}
        infos = self._zip.infolist()
        if len(infos) > limits.entries:
            raise BackupError("backup.too_many_entries", limit=limits.entries)
        total = 0
        for info in infos:
            name = info.filename
            known = name in (MANIFEST_ENTRY, REFERENCE_ENTRY, "manifest.sig") or bool(
                _TABLE_ENTRY.fullmatch(name)
            )
            if not known or name in entries or info.is_dir():
                raise BackupError("backup.unexpected_entry")
            if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED,
                zipfile.ZIP_DEFLATED,
            ):
                raise BackupError("backup.unexpected_entry")
            label = _label(name)
            if info.file_size > limits.entry_bytes:
                raise BackupError(
                    "backup.entry_too_large", table=label, limit=limits.entry_bytes // MiB
                )
            if info.file_size > limits.ratio_floor and info.file_size > limits.ratio * max(
                info.compress_size, 1
            ):
                raise BackupError("backup.ratio", table=label, limit=limits.ratio)
            total += info.file_size
            if total > limits.total_bytes:
                raise BackupError("backup.too_large", limit=limits.total_bytes // MiB)
            entries[name] = info
        return entries

    def _stream(self, name: str) -> Iterator[bytes]:
        """The entry's decompressed chunks, counted against the limits as they come."""
        info = self.entries[name]
        budget = min(self.limits.entry_bytes, max(info.file_size, 0))
        ceiling = max(self.limits.ratio_floor, self.limits.ratio * max(info.compress_size, 1))
        seen = 0
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    seen += len(chunk)
                    if seen > budget:
                        raise BackupError(
                            "backup.entry_too_large",
                            table=_label(name),
                            limit=self.limits.entry_bytes // MiB,
                        )
                    if seen > ceiling:
                        raise BackupError(
                            "backup.ratio", table=_label(name), limit=self.limits.ratio
                        )
                    yield chunk
        except (
            zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, zlib.error,
            struct.error, NotImplementedError,
        ):  # fmt: skip
            # Dropped: zip errors may quote bytes of the archive.
            raise BackupError("backup.damaged", table=_label(name)) from None

    def small(self, name: str) -> bytes | None:
        """A small entry's bytes (manifest, seal), or None when absent."""
        if name not in self.entries:
            return None
        if self.entries[name].file_size > self.limits.small_entry_bytes:
            raise BackupError(
                "backup.entry_too_large",
                table=_label(name),
                limit=self.limits.small_entry_bytes // MiB,
            )
        return b"".join(self._stream(name))

    def lines(self, name: str) -> Iterator[bytes]:
        """The entry's lines (without the newline), each within the line limit."""
        pending = bytearray()
        for chunk in self._stream(name):
            scan_from = len(pending)  # earlier bytes hold no newline: never scanned twice
            pending += chunk
            start = 0
            while (end := pending.find(b"\n", scan_from)) >= 0:
                yield bytes(pending[start:end])
                start = scan_from = end + 1
            del pending[:start]
            if len(pending) > self.limits.line_bytes:
                raise BackupError(
                    "backup.line_too_long", table=_label(name), limit=self.limits.line_bytes // MiB
                )
        if pending:
            yield bytes(pending)


def _label(name: str) -> str:
    """How an entry is named in a message: its table, or the file's own name."""
    found = _TABLE_ENTRY.fullmatch(name)
    return found.group(1) if found else name
