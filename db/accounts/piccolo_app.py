"""Piccolo app for the accounts domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.accounts.tables import Account, ApiToken, Session

APP_CONFIG = AppConfig(
    app_name="accounts",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Account, Session, ApiToken],
    migration_dependencies=["db.tenancy.piccolo_app"],
    commands=[],
)
