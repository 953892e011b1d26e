"""Piccolo app for the dashboard's and statistics' counts."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.statistics.tables import DoseCount, PopulationCount

APP_CONFIG = AppConfig(
    app_name="statistics",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[DoseCount, PopulationCount],
    migration_dependencies=["db.security.piccolo_app"],
    commands=[],
)
