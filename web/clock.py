"""Today's date where the system is used: Japan (JST), injected so tests can set it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

JAPAN = ZoneInfo("Asia/Tokyo")


def today_in_japan() -> dt.date:
    """The calendar date in Japan now (a dose at 08:30 JST is still 'today' at 23:30 UTC)."""
    return dt.datetime.now(JAPAN).date()
