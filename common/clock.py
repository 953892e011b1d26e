"""Japan's time: the one time-zone constant, and the clocks that read it.

Japan has kept standard time all year since 1951, so a fixed +09:00 offset is
exact and needs no tz database (kiosks are small machines on closed networks).
Servers and kiosks inject these clocks, so tests can set the time.
"""

from __future__ import annotations

import datetime as dt

#: Japan Standard Time, UTC+09:00.
JAPAN = dt.timezone(dt.timedelta(hours=9), "JST")
#: The same zone by its IANA name, for PostgreSQL (``... AT TIME ZONE $1``).
JAPAN_ZONE_NAME = "Asia/Tokyo"


def now_in_japan() -> dt.datetime:
    """The time now, as a clock in Japan shows it."""
    return dt.datetime.now(JAPAN)


def today_in_japan() -> dt.date:
    """The calendar date in Japan now (a dose at 08:30 JST is still 'today' at 23:30 UTC)."""
    return now_in_japan().date()
