"""Piccolo app for the vaccines domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.vaccines.tables import (
    Maker,
    MasterDataChange,
    ProductName,
    VaccineLot,
    VaccineProduct,
    VaccineRule,
)

APP_CONFIG = AppConfig(
    app_name="vaccines",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Maker, VaccineProduct, ProductName, VaccineLot, VaccineRule, MasterDataChange],
    migration_dependencies=[],
    commands=[],
)
