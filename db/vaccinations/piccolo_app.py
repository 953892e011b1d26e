"""Piccolo app for the vaccinations domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.vaccinations.tables import Vaccination, VaccinationVersion, VenueLog

APP_CONFIG = AppConfig(
    app_name="vaccinations",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Vaccination, VaccinationVersion, VenueLog],
    migration_dependencies=["db.residents.piccolo_app", "db.vaccines.piccolo_app"],
    commands=[],
)
