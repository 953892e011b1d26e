"""Japan's time zone is defined once, in :mod:`common.clock`; everything else imports it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from common.clock import JAPAN, now_in_japan, today_in_japan

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "db", "web", "kiosk", "signing")
#: Ways of writing Japan's zone (or a +9 h offset) that would make a second definition.
DEFINITIONS = re.compile(r"timedelta\(\s*hours\s*=\s*9\s*\)|ZoneInfo\(|Asia/Tokyo|\+09:?00")


def test_japan_is_defined_once() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "common" / "clock.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DEFINITIONS.search(line)
    ]
    assert not found, "Japan's time zone defined outside common/clock.py:\n" + "\n".join(found)


def test_the_constant_is_japan_standard_time() -> None:
    assert JAPAN.utcoffset(None) == dt.timedelta(hours=9)
    assert now_in_japan().utcoffset() == dt.timedelta(hours=9)
    late_evening_utc = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert late_evening_utc.astimezone(JAPAN).date() == dt.date(2026, 12, 2)
    assert today_in_japan() == now_in_japan().date()
