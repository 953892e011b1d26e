"""The national government's open-data shape for vaccination counts (F6).

As デジタル庁 published it for VRS: a per-prefecture detail with one JSON
object per line (``date``, ``prefecture``, ``gender``, ``age`` as "-64" or
"65-", ``medical_worker``, ``status`` = dose number, ``count``), a summary per
day, and a cumulative summary per prefecture; each as NDJSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from db.statistics.queries import summary_rows

GENDERS = {"1": "M", "2": "F"}
FILES = (
    "prefecture.ndjson", "prefecture.csv", "summary_by_date.ndjson", "summary_by_date.csv",
    "summary_by_prefecture.ndjson", "summary_by_prefecture.csv",
)  # fmt: skip


async def open_data(prefecture: str | None) -> dict[str, list[dict[str, Any]]]:
    """The three tables as lists of records."""
    detail: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in await summary_rows(prefecture):
        key = (
            r["vaccinated_on"].isoformat(),
            r["municipality_code"][:2],
            GENDERS.get(r["sex"], "U"),
            "65-" if r["over_65"] else "-64",
            bool(r["medical_worker"]),
            int(r["dose_number"]),
        )
        detail[key] += int(r["doses"])
    rows = [
        {"date": d, "prefecture": p, "gender": g, "age": a, "medical_worker": m, "status": s,
         "count": c}
        for (d, p, g, a, m, s), c in sorted(detail.items())
    ]  # fmt: skip
    by_date: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_prefecture: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    statuses = sorted({r["status"] for r in rows}) or [1, 2]
    for r in rows:
        by_date[r["date"]][r["status"]] += r["count"]
        by_prefecture[r["prefecture"]][r["status"]] += r["count"]

    def summary(first: str, table: dict[str, dict[int, int]]) -> list[dict[str, Any]]:
        return [
            {
                first: k,
                "total": sum(v.values()),
                **{f"count_status_{s}": v.get(s, 0) for s in statuses},
            }
            for k, v in sorted(table.items())
        ]

    return {
        "prefecture": rows,
        "summary_by_date": summary("date", by_date),
        "summary_by_prefecture": summary("prefecture", by_prefecture),
    }


def as_ndjson(records: list[dict[str, Any]]) -> str:
    """One JSON object per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def as_csv(records: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """CSV with a header (booleans as true/false, as in the published files)."""
    buffer = io.StringIO()
    fields = columns or (list(records[0]) if records else ["date", "prefecture", "count"])
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in r.items()})
    return buffer.getvalue()


DETAIL_COLUMNS = ["date", "prefecture", "gender", "age", "medical_worker", "status", "count"]


async def render(name: str, prefecture: str | None) -> str | None:
    """One file's content by its name (one of :data:`FILES`), or None."""
    if name not in FILES:
        return None
    table, _, kind = name.partition(".")
    records = (await open_data(prefecture))[table]
    if kind == "ndjson":
        return as_ndjson(records)
    return as_csv(records, DETAIL_COLUMNS if table == "prefecture" else None)


async def write_open_data(directory: Path, prefecture: str | None) -> list[str]:
    """Write every file into ``directory``; returns their names."""
    tables = await open_data(prefecture)
    for name in FILES:
        table, _, kind = name.partition(".")
        records = tables[table]
        text = (
            as_ndjson(records)
            if kind == "ndjson"
            else as_csv(records, DETAIL_COLUMNS if table == "prefecture" else None)
        )
        (directory / name).write_text(text, encoding="utf-8")
    return list(FILES)
