"""Piccolo app for inter-municipality inquiries."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.inquiries.tables import Inquiry

APP_CONFIG = AppConfig(
    app_name="inquiries",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Inquiry],
    migration_dependencies=["db.security.piccolo_app"],
    commands=[],
)
