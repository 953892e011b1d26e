"""Piccolo app for registered venue devices (one tenant table, created in raw SQL, and one crossing)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.devices.tables import VenueDevice

APP_CONFIG = AppConfig(
    app_name="devices",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[VenueDevice],
    migration_dependencies=[
        "db.tenancy.piccolo_app",
        "db.accounts.piccolo_app",
        "db.security.piccolo_app",
    ],
    commands=[],
)
