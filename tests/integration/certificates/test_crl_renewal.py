"""The running server renews the system's CRLs before they expire, without ``vrs keys renew-crl``.

A key store made 340 days ago has CRLs 26 days from their next update. The real
server (two worker processes) renews them on its own and serves the new lists
under ``/pki/``, and only one of its workers signs; the keeper with a moved clock
renews a list once it is due and not before; the PDF signer then embeds the new
list in B-LTA signatures; and several processes racing for a due renewal sign once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from common.settings import load_settings
from signing import certs
from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import CRL_RENEW_AFTER, KeyStore, crl_renewal_due
from tests.integration.signing.local_tsa import LocalTsa
from tests.server_process import vrs_server
from web.crl_renewal import CrlKeeper
from web.signing_context import SigningProvider, key_directory

PASSPHRASE = "test-key-passphrase"  # noqa: S105 - a throwaway test key store
#: When the key store of these tests was made: its CRLs are 26 days from their next update.
MADE_AGO = dt.timedelta(days=certs.CRL_DAYS - 26)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _old_store(directory: Path, base_url: str = "http://127.0.0.1:8000") -> KeyStore:
    made = dt.datetime.now(dt.UTC) - MADE_AGO
    return KeyStore.init(directory, PASSPHRASE, now=made, crl_base_url=f"{base_url}/pki")


@pytest.mark.xdist_group("soak")  # starts a server of its own
def test_the_server_renews_crls_close_to_expiry_once_with_two_workers(
    database: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    old = _old_store(data_dir / "keys")
    assert old.pdf_crl.next_update_utc is not None
    assert old.pdf_crl.next_update_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=27)
    log_path = tmp_path / "server.log"
    with vrs_server(
        database,
        workers=2,
        log_path=log_path,
        extra_env={
            "VRS_DATA_DIR": str(data_dir),
            "VRS_KEY_PASSPHRASE": PASSPHRASE,
            "VRS_LOG_LEVEL": "INFO",  # the renewal is logged at INFO
        },
    ) as base:
        deadline = time.monotonic() + 30
        while True:
            served = {
                name: x509.load_der_x509_crl(httpx.get(f"{base}/pki/{name}", timeout=5).content)
                for name in ("pdf-root.crl", "csca.crl")
            }
            if all(_crl_number(crl) > _crl_number(old.pdf_crl) for crl in served.values()):
                break
            assert time.monotonic() < deadline, "the server did not renew the CRLs in 30 s"
            time.sleep(0.5)
        time.sleep(1)  # let the second worker finish its own check
    now = dt.datetime.now(dt.UTC)
    for name, crl in served.items():
        assert crl.next_update_utc is not None, name
        assert crl.next_update_utc - now > dt.timedelta(days=certs.CRL_DAYS - 1), name
    assert served["pdf-root.crl"].is_signature_valid(old.pdf_root.public_key())
    assert served["csca.crl"].is_signature_valid(old.vdsnc_csca.public_key())
    messages = [
        json.loads(line).get("message")
        for line in log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    # Both workers checked at start-up; the lock let exactly one of them sign.
    assert messages.count("renewed the PDF root and CSCA CRLs") == 1, messages
    assert not [m for m in messages if m and m.startswith("CRL renewal failed")]


def test_the_keeper_renews_when_due_and_the_signer_embeds_the_new_list(
    tmp_path: Path, tsa: tuple[LocalTsa, object]
) -> None:
    authority, _stop = tsa
    settings = dataclasses.replace(
        load_settings(),
        data_dir=tmp_path / "data",
        key_passphrase=PASSPHRASE,
        tsa_url=authority.url,
        tsa_trust_roots=str(authority.root_pem),
    )
    made = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    store = KeyStore.init(key_directory(settings), PASSPHRASE, now=made)
    provider = SigningProvider(settings)
    assert provider.load() is not None
    clock = {"now": dt.datetime.now(dt.UTC)}
    keeper = CrlKeeper(settings, provider, now=lambda: clock["now"])

    assert keeper.check() is False  # two days old: not due
    assert _embedded_root_crl_number(provider, store) == _crl_number(store.pdf_crl)

    clock["now"] = made + MADE_AGO  # 26 days before the next update
    assert keeper.check() is True
    renewed = KeyStore.load(key_directory(settings), PASSPHRASE).pdf_crl
    assert _crl_number(renewed) > _crl_number(store.pdf_crl)
    der = serialization.Encoding.DER
    assert provider().keys.pdf_crl.public_bytes(der) == renewed.public_bytes(der)
    assert _embedded_root_crl_number(provider, store) == _crl_number(renewed)
    assert keeper.check() is False  # fresh again


def test_due_means_a_month_old_missing_or_a_month_from_expiry(tmp_path: Path) -> None:
    made = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    KeyStore.init(tmp_path / "keys", PASSPHRASE, now=made)
    assert not crl_renewal_due(tmp_path / "keys", made + dt.timedelta(days=29))
    assert crl_renewal_due(tmp_path / "keys", made + CRL_RENEW_AFTER)
    short = dt.timedelta(days=400)  # a list that expires sooner than it ages
    assert crl_renewal_due(tmp_path / "keys", made + dt.timedelta(days=1), renew_after=short)
    (tmp_path / "keys" / "vdsnc" / "csca.crl").unlink()
    assert crl_renewal_due(tmp_path / "keys", made + dt.timedelta(days=1))


def test_processes_racing_for_a_due_renewal_sign_once(tmp_path: Path) -> None:
    made = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    directory = tmp_path / "keys"
    KeyStore.init(directory, PASSPHRASE, now=made)
    due = made + dt.timedelta(days=40)
    # Four processes (as server workers at start-up) ask at the same moment, all past
    # their start-up: they meet at a barrier, then all call while this test holds the
    # store's lock. The first one in renews; the others, judging under the lock, find
    # fresh lists. Without the lock all four judge the lists due and sign.
    import fcntl

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(5)
    answers = context.Queue()
    workers = [
        context.Process(target=_renew, args=(str(directory), due, barrier, answers))
        for _ in range(4)
    ]
    with (directory / "crl.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        for worker in workers:
            worker.start()
        barrier.wait(timeout=60)
        time.sleep(0.5)  # they are at the lock now
        assert crl_renewal_due(directory, due)
        fcntl.flock(held, fcntl.LOCK_UN)
    results = sorted(answers.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert results == [False, False, False, True]
    assert not crl_renewal_due(directory, due)


def _renew(directory: str, now: dt.datetime, barrier: Any, answers: Any) -> None:
    barrier.wait(timeout=60)
    answers.put(KeyStore.renew_crl_if_due(directory, PASSPHRASE, now=now))


def _embedded_root_crl_number(provider: SigningProvider, store: KeyStore) -> int:
    """Sign a certificate at B-LTA now and read back the PDF root's CRL from its DSS."""
    context = provider()
    issued = issue_certificate(
        example_content(5),
        context.keys,
        issuer_url=context.issuer_url,
        pdf_signer=context.pdf_signer,
        level="B-LTA",
    )
    dss = PdfFileReader(io.BytesIO(issued.pdf)).root["/DSS"]
    numbers = []
    for stream in dss["/CRLs"]:
        crl = x509.load_der_x509_crl(stream.get_object().data)
        if crl.issuer == store.pdf_root.subject:
            numbers.append(_crl_number(crl))
    (number,) = numbers
    return number
