"""Piccolo app for imports of residents and tickets."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.imports.tables import ImportJob, ImportRejection

APP_CONFIG = AppConfig(
    app_name="imports",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[ImportJob, ImportRejection],
    migration_dependencies=["db.security.piccolo_app"],
    commands=[],
)
