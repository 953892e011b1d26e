"""Today's date where the system is used: Japan (JST), injected so tests can set it.

The constant and the clocks live in :mod:`common.clock` (the kiosk reads them too).
"""

from __future__ import annotations

from common.clock import JAPAN, now_in_japan, today_in_japan

__all__ = ["JAPAN", "now_in_japan", "today_in_japan"]
