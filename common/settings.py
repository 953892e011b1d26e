"""The server's settings: read from the environment once, in one place.

Every field documents itself. Secrets may also come from a secrets file
(``VRS_SECRETS_FILE``, by default ``<data dir>/secrets.env``, written by
``vrs init-secrets``) so the README's first command works without set-up;
the environment always wins. A missing required value fails at start-up,
naming the variable.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path


class SettingsError(RuntimeError):
    """A required setting is missing or malformed."""


def default_data_dir() -> Path:
    """Per-user data directory: embedded database, keys and secrets live here."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vrs"


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                values[name.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment."""

    database_url: str | None
    """DATABASE_URL: any PostgreSQL ≥ 15; unset → the embedded server under data_dir."""
    data_dir: Path
    """VRS_DATA_DIR: embedded PostgreSQL data, keys and secrets (default ~/.local/share/vrs)."""
    secret_key: str
    """VRS_SECRET_KEY: signs CSRF tokens; at least 32 characters."""
    my_number_key: bytes
    """VRS_MY_NUMBER_KEY: base64 of 32 bytes; encrypts My Numbers and keys their lookup hash."""
    base_url: str = "http://127.0.0.1:8000"
    """VRS_BASE_URL: the address users reach the server at (links, cookies' Secure flag)."""
    issuer_url: str = ""
    """VRS_ISSUER_URL: SHC issuer base URL, no trailing slash (default <base_url>/issuer)."""
    session_hours: int = 8
    """VRS_SESSION_HOURS: a signed-in session ends after this many idle hours."""
    session_max_hours: int = 12
    """VRS_SESSION_MAX_HOURS: a session ends this many hours after sign-in, however active."""
    lockout_threshold: int = 5
    """VRS_LOCKOUT_THRESHOLD: password tries for one login from one address before that address
    is refused for that login (for VRS_LOCKOUT_MINUTES); the account itself stays usable."""
    lockout_minutes: int = 15
    """VRS_LOCKOUT_MINUTES: how long a refused address (or a locked account) waits."""
    account_lock_threshold: int = 25
    """VRS_ACCOUNT_LOCK_THRESHOLD: wrong passwords in a row from any addresses before the
    account itself is locked for everyone (for VRS_LOCKOUT_MINUTES)."""
    api_token_days: int = 90
    """VRS_API_TOKEN_DAYS: an API bearer token stops working this many days after it was made."""
    app_client_days: int = 365
    """VRS_APP_CLIENT_DAYS: an app or kiosk client token stops working after this many days."""
    rate_sign_in_per_minute: int = 60
    """VRS_RATE_SIGN_IN_PER_MINUTE: sign-in attempts per source address per minute (0: no limit)."""
    rate_inquiry_per_hour: int = 60
    """VRS_RATE_INQUIRY_PER_HOUR: F7 inquiry requests per account per hour (0: no limit)."""
    rate_identify_per_hour: int = 300
    """VRS_RATE_IDENTIFY_PER_HOUR: F8 ticket look-ups per venue account per hour (0: no limit)."""
    rate_verify_per_minute: int = 20
    """VRS_RATE_VERIFY_PER_MINUTE: anonymous /verify submissions per source per minute (0: none)."""
    rate_national_admin_per_hour: int = 120
    """VRS_RATE_NATIONAL_ADMIN_PER_HOUR: national admin changes in a municipality's area
    (municipality, admin accounts, resets) per account per hour (0: no limit)."""
    inquiry_bulk_max_persons: int = 1000
    """VRS_INQUIRY_BULK_MAX_PERSONS: persons one bulk inquiry file may ask about."""
    inquiry_daily_max_persons: int = 3000
    """VRS_INQUIRY_DAILY_MAX_PERSONS: persons a municipality may ask about per day (Japan time)."""
    db_pool_size: int = 10
    """VRS_DB_POOL_SIZE: connections per server process."""
    db_connect_timeout: float = 5.0
    """VRS_DB_CONNECT_TIMEOUT: seconds to open one database connection (per host)."""
    db_acquire_timeout: float = 5.0
    """VRS_DB_ACQUIRE_TIMEOUT: seconds a request waits for a pooled connection before a 503."""
    db_statement_timeout: float = 20.0
    """VRS_DB_STATEMENT_TIMEOUT: seconds one statement (COMMIT included) may take before a 503."""
    database_replica_url: str | None = None
    """DATABASE_REPLICA_URL: a hot standby for statistics and open data; unset → the primary."""
    ready_timeout: float = 2.0
    """VRS_READY_TIMEOUT: seconds /readyz's test write may take to commit (sync standby included)."""
    ready_interval: float = 3.0
    """VRS_READY_INTERVAL: seconds /readyz reuses its last answer before writing again."""
    log_level: str = "INFO"
    """VRS_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."""
    key_passphrase: str = ""
    """VRS_KEY_PASSPHRASE: decrypts the certificate signing keys in <data_dir>/keys."""
    tsa_url: str = ""
    """VRS_TSA_URL: an RFC 3161 timestamp authority; set → certificate PDFs are PAdES B-LT."""
    tsa_trust_roots: str = ""
    """VRS_TSA_TRUST_ROOTS: PEM file of the TSA's root(s); unset → Mozilla's root list (certifi)."""
    pdf_signer_pkcs11_module: str = ""
    """VRS_PDF_SIGNER_PKCS11_MODULE: PKCS#11 module path; set → the PDF signer key is in a token."""
    pdf_signer_pkcs11_token: str = ""
    """VRS_PDF_SIGNER_PKCS11_TOKEN: the label of the token holding the PDF signer key."""
    pdf_signer_pkcs11_pin: str = ""
    """VRS_PDF_SIGNER_PKCS11_PIN: the token's user PIN (a secret: keep it in the secrets file)."""
    pdf_signer_pkcs11_key: str = "vrs-pdf-signer"
    """VRS_PDF_SIGNER_PKCS11_KEY: the label of the PDF signer key in the token."""
    staff_networks: tuple[str, ...] = ()
    """VRS_STAFF_NETWORKS: CIDR ranges (comma-separated) staff accounts may connect from; empty → any."""
    trusted_proxies: tuple[str, ...] = ()
    """VRS_TRUSTED_PROXIES: CIDR ranges of reverse proxies whose X-Forwarded-For is believed."""
    backup_key: bytes = b""
    """VRS_BACKUP_KEY: base64 of 32 bytes; signs backup archives (restore accepts only those)."""
    backup_retention_days: int = 30
    """VRS_BACKUP_RETENTION_DAYS: backup archives are deleted this many days after they were made."""
    upload_retention_days: int = 7
    """VRS_UPLOAD_RETENTION_DAYS: an interrupted import's upload is deleted after this many days."""

    @property
    def secure_cookies(self) -> bool:
        """Cookies get the Secure flag when users reach us over HTTPS."""
        return self.base_url.startswith("https://")

    @property
    def shc_issuer(self) -> str:
        """The SMART Health Card issuer URL (``iss``)."""
        return (self.issuer_url or f"{self.base_url.rstrip('/')}/issuer").rstrip("/")


def _require(values: dict[str, str], name: str) -> str:
    value = values.get(name, "")
    if not value:
        raise SettingsError(
            f"{name} is not set: set it in the environment, or run `vrs init-secrets`"
        )
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment (and the secrets file)."""
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get("VRS_DATA_DIR") or default_data_dir())
    secrets_file = Path(env.get("VRS_SECRETS_FILE") or data_dir / "secrets.env")
    values = {**_read_env_file(secrets_file), **env}

    secret_key = _require(values, "VRS_SECRET_KEY")
    if len(secret_key) < 32:
        raise SettingsError("VRS_SECRET_KEY must be at least 32 characters")
    try:
        my_number_key = base64.b64decode(_require(values, "VRS_MY_NUMBER_KEY"), validate=True)
    except ValueError as exc:
        raise SettingsError("VRS_MY_NUMBER_KEY must be base64") from exc
    if len(my_number_key) != 32:
        raise SettingsError("VRS_MY_NUMBER_KEY must decode to 32 bytes")

    backup_key = b""
    if values.get("VRS_BACKUP_KEY"):
        try:
            backup_key = base64.b64decode(values["VRS_BACKUP_KEY"], validate=True)
        except ValueError as exc:
            raise SettingsError("VRS_BACKUP_KEY must be base64") from exc
        if len(backup_key) != 32:
            raise SettingsError("VRS_BACKUP_KEY must decode to 32 bytes")

    def integer(name: str, default: int) -> int:
        raw = values.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc

    def seconds(name: str, default: float) -> float:
        raw = values.get(name)
        if raw in (None, ""):
            return default
        try:
            value = float(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from exc
        if value <= 0:
            raise SettingsError(f"{name} must be more than 0 seconds, not {raw!r}")
        return value

    def networks(name: str) -> tuple[str, ...]:
        ranges = tuple(part.strip() for part in values.get(name, "").split(",") if part.strip())
        for cidr in ranges:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise SettingsError(
                    f"{name}: {cidr!r} is not an address range like 10.0.0.0/8"
                ) from exc
        return ranges

    return Settings(
        database_url=values.get("DATABASE_URL") or None,
        data_dir=data_dir,
        secret_key=secret_key,
        my_number_key=my_number_key,
        base_url=values.get("VRS_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        issuer_url=values.get("VRS_ISSUER_URL", ""),
        session_hours=integer("VRS_SESSION_HOURS", 8),
        session_max_hours=integer("VRS_SESSION_MAX_HOURS", 12),
        lockout_threshold=integer("VRS_LOCKOUT_THRESHOLD", 5),
        lockout_minutes=integer("VRS_LOCKOUT_MINUTES", 15),
        account_lock_threshold=integer("VRS_ACCOUNT_LOCK_THRESHOLD", 25),
        api_token_days=integer("VRS_API_TOKEN_DAYS", 90),
        app_client_days=integer("VRS_APP_CLIENT_DAYS", 365),
        rate_sign_in_per_minute=integer("VRS_RATE_SIGN_IN_PER_MINUTE", 60),
        rate_inquiry_per_hour=integer("VRS_RATE_INQUIRY_PER_HOUR", 60),
        rate_identify_per_hour=integer("VRS_RATE_IDENTIFY_PER_HOUR", 300),
        rate_verify_per_minute=integer("VRS_RATE_VERIFY_PER_MINUTE", 20),
        rate_national_admin_per_hour=integer("VRS_RATE_NATIONAL_ADMIN_PER_HOUR", 120),
        inquiry_bulk_max_persons=integer("VRS_INQUIRY_BULK_MAX_PERSONS", 1000),
        inquiry_daily_max_persons=integer("VRS_INQUIRY_DAILY_MAX_PERSONS", 3000),
        db_pool_size=integer("VRS_DB_POOL_SIZE", 10),
        db_connect_timeout=seconds("VRS_DB_CONNECT_TIMEOUT", 5.0),
        db_acquire_timeout=seconds("VRS_DB_ACQUIRE_TIMEOUT", 5.0),
        db_statement_timeout=seconds("VRS_DB_STATEMENT_TIMEOUT", 20.0),
        database_replica_url=values.get("DATABASE_REPLICA_URL") or None,
        ready_timeout=seconds("VRS_READY_TIMEOUT", 2.0),
        ready_interval=seconds("VRS_READY_INTERVAL", 3.0),
        log_level=values.get("VRS_LOG_LEVEL", "INFO").upper(),
        key_passphrase=values.get("VRS_KEY_PASSPHRASE", ""),
        tsa_url=values.get("VRS_TSA_URL", ""),
        tsa_trust_roots=values.get("VRS_TSA_TRUST_ROOTS", ""),
        pdf_signer_pkcs11_module=values.get("VRS_PDF_SIGNER_PKCS11_MODULE", ""),
        pdf_signer_pkcs11_token=values.get("VRS_PDF_SIGNER_PKCS11_TOKEN", ""),
        pdf_signer_pkcs11_pin=values.get("VRS_PDF_SIGNER_PKCS11_PIN", ""),
        pdf_signer_pkcs11_key=values.get("VRS_PDF_SIGNER_PKCS11_KEY") or "vrs-pdf-signer",
        staff_networks=networks("VRS_STAFF_NETWORKS"),
        trusted_proxies=networks("VRS_TRUSTED_PROXIES"),
        backup_key=backup_key,
        backup_retention_days=integer("VRS_BACKUP_RETENTION_DAYS", 30),
        upload_retention_days=integer("VRS_UPLOAD_RETENTION_DAYS", 7),
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


def _new_backup_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def add_missing_secrets(path: Path) -> list[str]:
    """Append the secrets a newer version needs to an existing file; their names.

    Only ``VRS_BACKUP_KEY`` so far: the keys already there are never changed
    (a new My Number key would make the stored numbers unreadable).
    """
    if not path.is_file() or "VRS_BACKUP_KEY" in _read_env_file(path):
        return []
    with path.open("a", encoding="utf-8") as handle:
        handle.write(
            "# Signs backup archives: back it up too (a restore needs the key that signed).\n"
            f"VRS_BACKUP_KEY={_new_backup_key()}\n"
        )
    return ["VRS_BACKUP_KEY"]


def write_secrets_file(path: Path) -> bool:
    """Create a secrets file with fresh random secrets; False if it already exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (
        "# Generated by `vrs init-secrets`. Keep it private; back it up with the database:\n"
        "# without VRS_MY_NUMBER_KEY the stored My Numbers cannot be read.\n"
        f"VRS_SECRET_KEY={secrets.token_urlsafe(48)}\n"
        f"VRS_MY_NUMBER_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}\n"
        f"VRS_KEY_PASSPHRASE={secrets.token_urlsafe(32)}\n"
        f"VRS_BACKUP_KEY={_new_backup_key()}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True
