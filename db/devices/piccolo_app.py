"""Piccolo app for registered venue devices (raw SQL: one tenant table and one crossing)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="devices",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[],
    migration_dependencies=[
        "db.tenancy.piccolo_app",
        "db.accounts.piccolo_app",
        "db.security.piccolo_app",
    ],
    commands=[],
)
