"""Piccolo app for the tenancy domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.tenancy.tables import Municipality, MunicipalitySetting, Prefecture, Venue

APP_CONFIG = AppConfig(
    app_name="tenancy",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Prefecture, Municipality, MunicipalitySetting, Venue],
    migration_dependencies=[],
    commands=[],
)
