"""Dashboard and statistics figures, read from the trigger-kept counts (F6).

The pages read ``dose_rollup`` (one sum per value of each dimension, kept by
triggers from ``dose_count``): a few hundred rows per municipality whatever
the number of doses. Municipal users read their own area's rollups (RLS);
prefecture and national viewers read sums through ``vrs_statistics_rollup``
and ``vrs_population_summary``, which carry no personal field. The open-data
detail reads ``dose_count`` through ``vrs_statistics_summary``
(:func:`summary_rows`). Nothing here groups the dose table itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from db.engine import current_connection

#: Age bands in display order (0–4, 5–11, 12–19, 20s … 90s, 100+).
AGE_BANDS = (
    "0-4",
    "5-11",
    "12-19",
    *(f"{d}-{d + 9}" for d in range(20, 100, 10)),
    "100-",
    "unknown",
)


def _figures(rows: list[Any], population: int) -> dict[str, Any]:
    """Totals by each dimension from summary rows."""
    by: dict[str, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    total = 0
    for r in rows:
        n = int(r["doses"])
        total += n
        by["day"][r["vaccinated_on"]] += n
        by["dose"][r["dose_number"]] += n
        by["age"][r["age_band"]] += n
        by["over_65"]["65-" if r["over_65"] else "-64"] += n
        by["product"][r["product"]] += n
        by["sex"][r["sex"]] += n
        if "venue_name" in r.keys():
            by["venue"][r["venue_name"]] += n
        if "municipality_code" in r.keys():
            by["municipality"][r["municipality_code"]] += n
    doses = sorted(by["dose"].items())
    return {
        "total": total,
        "population": population,
        "by_day": sorted(by["day"].items()),
        "by_dose": doses,
        "by_age": [(band, by["age"][band]) for band in AGE_BANDS if by["age"].get(band)],
        "by_over_65": [(k, by["over_65"].get(k, 0)) for k in ("-64", "65-")],
        "by_product": sorted(by["product"].items(), key=lambda kv: (-kv[1], kv[0])),
        "by_venue": sorted(by["venue"].items(), key=lambda kv: (-kv[1], kv[0])),
        "by_sex": sorted(by["sex"].items()),
        "by_municipality": sorted(by["municipality"].items()),
        "coverage": [
            (dose, count, (100.0 * count / population) if population else 0.0)
            for dose, count in doses
        ],
    }


#: How each dimension's keys are read back from the rollup's text keys.
_KEY_TYPES: dict[str, Any] = {"day": dt.date.fromisoformat, "dose": int}
#: Rollup dimensions → the row fields :func:`_figures` reads.
_FIELDS = {
    "day": "vaccinated_on", "dose": "dose_number", "age": "age_band", "over_65": "over_65",
    "product": "product", "sex": "sex", "venue": "venue_name",
}  # fmt: skip


def _rollup_figures(rows: list[Any], population: int) -> dict[str, Any]:
    """The figures of :func:`_figures` from rollup rows (dimension, key, doses)."""
    by: dict[str, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        dimension = r["dimension"]
        if dimension not in _FIELDS:
            continue
        key = _KEY_TYPES.get(dimension, str)(r["key"])
        by[dimension][key] += int(r["doses"])
    doses = sorted(by["dose"].items())
    return {
        "total": sum(n for _, n in doses),
        "population": population,
        "by_day": sorted(by["day"].items()),
        "by_dose": doses,
        "by_age": [(band, by["age"][band]) for band in AGE_BANDS if by["age"].get(band)],
        "by_over_65": [(k, by["over_65"].get(k, 0)) for k in ("-64", "65-")],
        "by_product": sorted(by["product"].items(), key=lambda kv: (-kv[1], kv[0])),
        "by_venue": sorted(by["venue"].items(), key=lambda kv: (-kv[1], kv[0])),
        "by_sex": sorted(by["sex"].items()),
        "by_municipality": [],
        "coverage": [
            (dose, count, (100.0 * count / population) if population else 0.0)
            for dose, count in doses
        ],
    }


async def municipality_figures() -> dict[str, Any]:
    """The current area's dashboard figures."""
    connection = current_connection()
    rows = await connection.fetch(
        "SELECT dimension, key, doses FROM dose_rollup_now WHERE doses <> 0"
    )
    population = await connection.fetchval(
        "SELECT coalesce(sum(residents), 0) FROM population_count"
    )
    return _rollup_figures(rows, int(population))


async def summary_rows(prefecture: str | None) -> list[Any]:
    """Sums per municipality, day, dose, age band, sex, medical worker and product."""
    found: list[Any] = await current_connection().fetch(
        "SELECT * FROM vrs_statistics_summary($1)", prefecture
    )
    return found


async def viewer_figures(prefecture: str | None) -> dict[str, Any]:
    """Figures for a prefecture (its municipalities side by side) or the nation (prefectures)."""
    connection = current_connection()
    rows = await connection.fetch("SELECT * FROM vrs_statistics_rollup($1)", prefecture)
    populations = await connection.fetch("SELECT * FROM vrs_population_summary($1)", prefecture)
    population = sum(int(p["residents"]) for p in populations)
    figures = _rollup_figures(rows, population)
    figures["by_venue"] = []
    if prefecture is None:
        names = {
            r["code"]: r["name"]
            for r in await connection.fetch("SELECT code, name FROM prefecture")
        }
    else:
        names = {
            r["code"]: r["name"]
            for r in await connection.fetch(
                "SELECT code, name FROM municipality WHERE prefecture = $1", prefecture
            )
        }
    key: Callable[[str], str] = (
        (lambda code: code[:2]) if prefecture is None else (lambda code: code)
    )
    areas: dict[str, dict[str, Any]] = {}
    for p in populations:
        area = areas.setdefault(
            key(p["municipality_code"]), {"population": 0, "doses": defaultdict(int)}
        )
        area["population"] += int(p["residents"])
    for r in rows:
        if r["dimension"] == "dose":
            area = areas.setdefault(r["area"], {"population": 0, "doses": defaultdict(int)})
            area["doses"][int(r["key"])] += int(r["doses"])
    figures["areas"] = [
        {
            "code": k,
            "name": names.get(k, k),
            "population": a["population"],
            "total": sum(a["doses"].values()),
            "doses": dict(sorted(a["doses"].items())),
        }
        for k, a in sorted(areas.items())
    ]
    figures.pop("by_municipality", None)
    return figures
