"""One line per figure, so ``bench/run_all`` can gather every script's results.

A bench script prints its own human-readable lines as before and, for each
figure that matters, calls :func:`figure`, which prints one ``BENCH {json}``
line: the metric, its value and unit, the baseline measured in the same run
(when there is one), the ratio, and the goal in words.
"""

from __future__ import annotations

import json

PREFIX = "BENCH "


def figure(
    metric: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    goal: str = "",
    met: bool | None = None,
) -> None:
    """Print one figure for ``bench/run_all``.

    ``ratio`` defaults to ``value / baseline`` when a baseline is given; pass it
    explicitly where the better direction is "lower" (e.g. baseline / value).
    ``met`` says whether the goal was reached, when the script can tell.
    """
    if ratio is None and baseline:
        ratio = value / baseline
    line = {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": None if ratio is None else round(ratio, 3),
        "goal": goal,
        "met": met,
    }
    print(PREFIX + json.dumps(line, ensure_ascii=False), flush=True)


def parse(line: str) -> dict[str, object] | None:
    """The figure a ``BENCH`` line carries, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    return json.loads(line[len(PREFIX) :])
