"""CSV files meant for spreadsheets: every text cell neutralised against formula injection.

OWASP's rule (CSV Injection): a cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is read by Excel as a formula, so it gets a
leading ``'``. Only text is touched: numbers and dates are written as they
are. Every CSV a clerk downloads is written through :func:`spreadsheet_writer`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, made inert; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SpreadsheetWriter:
    """``csv.writer`` whose rows are neutralised cell by cell."""

    def __init__(self, stream: Any, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def spreadsheet_writer(stream: Any, **options: Any) -> SpreadsheetWriter:
    """A CSV writer for files clerks open in a spreadsheet."""
    return SpreadsheetWriter(stream, **options)
