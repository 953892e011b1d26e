"""Piccolo app for card authentication (challenges, J-LIS linkage, app clients)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.cards.tables import AppClient, CardLink, CardSession

APP_CONFIG = AppConfig(
    app_name="cards",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[CardSession, CardLink, AppClient],
    migration_dependencies=["db.certificates.piccolo_app"],
    commands=[],
)
