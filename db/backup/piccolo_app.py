"""Piccolo app for backups of a municipality's area (F9)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.backup.tables import BackupJob

APP_CONFIG = AppConfig(
    app_name="backup",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[BackupJob],
    migration_dependencies=["db.security.piccolo_app", "db.imports.piccolo_app"],
    commands=[],
)
