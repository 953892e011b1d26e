"""Piccolo app for the residents domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.residents.tables import Resident, Ticket

APP_CONFIG = AppConfig(
    app_name="residents",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Resident, Ticket],
    migration_dependencies=["db.tenancy.piccolo_app"],
    commands=[],
)
