"""The kiosk's settings and its payment and printer devices."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kiosk.devices import CupsPrinter, DeviceError, PrintJob, SimulatedPayment, SpoolPrinter
from kiosk.messages import keys
from kiosk.settings import KioskSettingsError, load_kiosk_settings

REQUIRED = {
    "VRS_KIOSK_SERVER_URL": "https://vrs.example.lg.jp/",
    "VRS_KIOSK_TOKEN": "vrsapp_x",
    "VRS_KIOSK_STORE_ID": "store-9",
}


def test_settings_defaults_and_missing_values() -> None:
    settings = load_kiosk_settings(REQUIRED)
    assert settings.server_url == "https://vrs.example.lg.jp"
    assert (settings.hours_start, settings.hours_end) == (dt.time(6, 30), dt.time(23, 0))
    assert settings.idle_seconds == 60 and settings.fee_yen == 120
    with pytest.raises(KioskSettingsError, match="VRS_KIOSK_TOKEN"):
        load_kiosk_settings({k: v for k, v in REQUIRED.items() if k != "VRS_KIOSK_TOKEN"})
    with pytest.raises(KioskSettingsError, match="VRS_KIOSK_HOURS_START"):
        load_kiosk_settings({**REQUIRED, "VRS_KIOSK_HOURS_START": "6時"})
    assert load_kiosk_settings({**REQUIRED, "VRS_KIOSK_HOURS_END": "22:00"}).hours_end == dt.time(
        22
    )


def test_simulated_payment_charges_fails_and_refunds_once() -> None:
    payment = SimulatedPayment()
    paid = payment.charge(240)
    payment.fail_next = True
    with pytest.raises(DeviceError, match="payment.declined"):
        payment.charge(120)
    assert payment.net_yen == 240
    payment.refund(paid)
    assert payment.net_yen == 0
    with pytest.raises(DeviceError):
        payment.refund(paid)


def test_spool_printer_writes_all_or_nothing(tmp_path: Path) -> None:
    printer = SpoolPrinter(tmp_path / "spool", fail_next=1)
    jobs = [PrintJob("a.pdf", b"%PDF-a"), PrintJob("r.txt", b"receipt", "text/plain")]
    with pytest.raises(DeviceError, match="printer.failed"):
        printer.print_jobs(jobs)
    assert not (tmp_path / "spool").exists()
    printer.print_jobs(jobs)
    assert (tmp_path / "spool" / "a.pdf").read_bytes() == b"%PDF-a"


def test_cups_printer_reports_a_failing_lp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lp = tmp_path / "lp"
    lp.write_text("#!/bin/sh\necho 'lp: The printer or class does not exist.' >&2\nexit 1\n")
    lp.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match="lp exited 1"):
        CupsPrinter("missing-printer").print_jobs([PrintJob("a.pdf", b"%PDF")])


def test_every_screen_message_key_exists() -> None:
    import re

    template = (Path(__file__).resolve().parents[3] / "kiosk/templates/screen.html").read_text()
    used = set(re.findall(r"""t\("([a-z_.]+)\"""", template))
    assert used and used <= keys()
    code = "".join(
        (Path(__file__).resolve().parents[3] / "kiosk" / name).read_text()
        for name in ("flow.py", "devices.py", "vrs_client.py")
    )
    reasons = set(re.findall(r'"((?:kiosk|printer|payment|server)\.[a-z_]+)"', code))
    reasons.discard("payment.invalid_amount")  # never reaches a screen: the fee is never 0
    reasons -= {"payment.refund_unknown", "kiosk.flow"}  # kiosk.flow: the logger name
    assert reasons and reasons <= keys()


def test_the_kiosk_imports_nothing_of_the_server() -> None:
    import ast

    root = Path(__file__).resolve().parents[3] / "kiosk"
    imported = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                imported.update((path.name, alias.name.split(".")[0]) for alias in node.names)
    assert ("app.py", "litestar") in imported  # the scan sees imports
    assert {top for _, top in imported} & {"web", "db", "signing"} == set()


def test_python_m_kiosk_names_a_missing_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kiosk.__main__ import main

    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2
    assert "VRS_KIOSK_SERVER_URL" in capsys.readouterr().err
