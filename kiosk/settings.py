"""The kiosk terminal's settings, read from the environment once (``VRS_KIOSK_*``)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class KioskSettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class KioskSettings:
    """What one kiosk terminal needs to run."""

    server_url: str
    """Base URL of the VRS server, e.g. ``https://vrs.example.lg.jp``."""
    token: str
    """The kiosk's bearer token (``vrs app-client --kind kiosk``)."""
    store_id: str
    """The store this terminal stands in (printed on the receipt, logged)."""
    terminal_id: str
    """This terminal within the store."""
    reader_name: str | None = None
    """PC/SC reader name; ``None`` takes the first reader pcscd lists."""
    spool_dir: Path = Path("kiosk-spool")
    """Folder the spool printer writes to (stands in for paper)."""
    cups_printer: str | None = None
    """CUPS destination; when set, ``lp -d`` prints instead of the spool folder."""
    data_dir: Path = Path("kiosk-data")
    """The issuance log (dates and times only) and the open-transaction marker."""
    hours_start: dt.time = dt.time(6, 30)
    """Service hours start (JST)."""
    hours_end: dt.time = dt.time(23, 0)
    """Service hours end (JST), exclusive."""
    idle_seconds: int = 60
    """Idle time before the screen goes back to the start."""
    fee_yen: int = 120
    """Fee per certificate, tax included."""
    heartbeat_seconds: int = 60
    """How often the kiosk reports its state to the server (and sends owed notices)."""
    maintenance_hash: str = ""
    """argon2 hash of the maintenance secret (``python -m kiosk hash-secret``); empty: no
    maintenance sign-in."""
    demo: bool = False
    """Demo mode: no card reader; the screens offer the demo cards to place (in-process)."""
    demo_key_dir: Path = Path("kiosk-data/demo-card-keys")
    """Demo mode: where the test CA's and the demo cards' keys are kept."""


def _time(env: Mapping[str, str], name: str, default: dt.time) -> dt.time:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise KioskSettingsError(f"{name} must be HH:MM, not {raw!r}") from None


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise KioskSettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 1:
        raise KioskSettingsError(f"{name} must be at least 1 second")
    return value


def load_kiosk_settings(env: Mapping[str, str] | None = None) -> KioskSettings:
    """Read the settings; a missing required value raises naming it."""
    env = os.environ if env is None else env
    missing = [
        name
        for name in ("VRS_KIOSK_SERVER_URL", "VRS_KIOSK_TOKEN", "VRS_KIOSK_STORE_ID")
        if not env.get(name)
    ]
    if missing:
        raise KioskSettingsError(f"missing setting: {', '.join(missing)}")
    idle = _seconds(env, "VRS_KIOSK_IDLE_SECONDS", 60)
    heartbeat = _seconds(env, "VRS_KIOSK_HEARTBEAT_SECONDS", 60)
    maintenance_hash = env.get("VRS_KIOSK_MAINTENANCE_HASH", "")
    if maintenance_hash and not maintenance_hash.startswith("$argon2"):
        raise KioskSettingsError(
            "VRS_KIOSK_MAINTENANCE_HASH must be an argon2 hash (python -m kiosk hash-secret)"
        )
    data_dir = Path(env.get("VRS_KIOSK_DATA_DIR", "kiosk-data"))
    return KioskSettings(
        server_url=env["VRS_KIOSK_SERVER_URL"].rstrip("/"),
        token=env["VRS_KIOSK_TOKEN"],
        store_id=env["VRS_KIOSK_STORE_ID"],
        terminal_id=env.get("VRS_KIOSK_TERMINAL_ID", "1"),
        reader_name=env.get("VRS_KIOSK_READER") or None,
        spool_dir=Path(env.get("VRS_KIOSK_SPOOL_DIR", "kiosk-spool")),
        cups_printer=env.get("VRS_KIOSK_CUPS_PRINTER") or None,
        data_dir=data_dir,
        hours_start=_time(env, "VRS_KIOSK_HOURS_START", dt.time(6, 30)),
        hours_end=_time(env, "VRS_KIOSK_HOURS_END", dt.time(23, 0)),
        idle_seconds=idle,
        heartbeat_seconds=heartbeat,
        maintenance_hash=maintenance_hash,
        demo=env.get("VRS_KIOSK_DEMO", "").lower() in ("1", "true", "yes"),
        demo_key_dir=Path(env.get("VRS_KIOSK_DEMO_KEY_DIR") or data_dir / "demo-card-keys"),
    )
