"""Benchmark: how many signed certificates per second this machine issues.

A certificate here is the whole path the web layer takes: content → SMART
Health Card and VDS-NC → two QR codes → PDF page → PAdES B-B signature, each
for a different person. The same run times pyHanko signing an already-rendered
PDF with the same key (our kept-key signer, and pyHanko's stock SimpleSigner for
reference), and prints how many signatures' worth a whole certificate costs.

Besides wall time it prints CPU time of the measuring thread (``thread_time``):
on a machine shared with other work, wall time includes waiting for a core,
CPU time much less so.

Run: ``python bench/certificates.py [--count N] [--workers W]``. It prints
figures; it asserts nothing (CONVENTIONS: benchmarks are never timed tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

# Runnable as ``python bench/certificates.py`` without PYTHONPATH: the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import figure  # noqa: E402
from signing.examples import example_content  # noqa: E402
from signing.issue import issue_certificate  # noqa: E402
from signing.keys import KeyStore  # noqa: E402
from signing.pades import PdfSigner  # noqa: E402
from signing.pdf import PageCodes, render_certificate  # noqa: E402
from signing.qr import byte_symbol, shc_symbol  # noqa: E402

ISSUER_URL = "https://vrs.example.jp/issuer"
PASSPHRASE = "benchmark"  # noqa: S105 - a throwaway key store in a temporary directory

_worker: tuple[KeyStore, PdfSigner] | None = None


def _init_worker(directory: str) -> None:
    """Per process, as the web server does at start-up: load keys, build the signer, warm up."""
    global _worker
    store = KeyStore.load(directory, PASSPHRASE)
    _worker = (store, PdfSigner.from_key_store(store))
    _issue(10_000)


def _issue(n: int, kind: str = "overseas") -> int:
    assert _worker is not None
    store, signer = _worker
    issued = issue_certificate(
        example_content(n, kind),  # type: ignore[arg-type]  # a str for the Literal kind
        store,
        issuer_url=ISSUER_URL,
        pdf_signer=signer,
        issued_at=dt.datetime.now(dt.UTC),
    )
    return len(issued.pdf)


_cpu_medians: dict[str, float] = {}


def _per_item_ms(function, items, label: str = "") -> tuple[float, float]:
    """Mean and median wall milliseconds per item; the CPU median goes to ``_cpu_medians``."""
    times, cpu = [], []
    for item in items:
        start, start_cpu = time.perf_counter(), time.thread_time()
        function(item)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    if label:
        _cpu_medians[label] = statistics.median(cpu)
    return statistics.mean(times), statistics.median(times)


def _stock_signer(store: KeyStore) -> signers.SimpleSigner:
    der = store.pdf_signer.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    root = asn1_x509.Certificate.load(store.pdf_root.public_bytes(serialization.Encoding.DER))
    return signers.SimpleSigner(
        asn1_x509.Certificate.load(store.pdf_signer.certificate_der),
        asn1_keys.PrivateKeyInfo.load(der),
        SimpleCertificateStore.from_certs([root]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="certificates per measurement")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for the throughput run"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        keys = Path(directory) / "keys"
        KeyStore.init(keys, PASSPHRASE)
        _init_worker(str(keys))
        assert _worker is not None
        store, signer = _worker

        people = range(args.count)
        overseas_mean, overseas_median = _per_item_ms(
            lambda n: _issue(n, "overseas"), people, "overseas"
        )
        domestic_mean, domestic_median = _per_item_ms(
            lambda n: _issue(n, "domestic"), people, "domestic"
        )

        unsigned_pdf = _unsigned_page(store, signer)
        sign_mean, sign_median = _per_item_ms(
            lambda _: signer.sign(unsigned_pdf), people, "signature"
        )
        stock = _stock_signer(store)
        meta = signers.PdfSignatureMetadata(
            field_name="Signature", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        stock_mean, stock_median = _per_item_ms(
            lambda _: signers.sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf)), meta, signer=stock
            ),
            people,
            "stock signature",
        )

        rounds = []
        with ProcessPoolExecutor(
            args.workers, initializer=_init_worker, initargs=(str(keys),)
        ) as pool:
            list(pool.map(_issue, range(args.workers)))  # wait until every worker has warmed up
            for _ in range(3):  # the machine may be shared: three rounds show the noise
                start = time.perf_counter()
                list(pool.map(_issue, range(args.count * 2), chunksize=4))
                rounds.append(args.count * 2 / (time.perf_counter() - start))
        throughput = statistics.median(rounds)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; {args.count} certificates per run")
    print(
        f"overseas certificate (content → SHC + VDS-NC → 2 QR → PDF → PAdES B-B): "
        f"{overseas_mean:.1f} ms mean, {overseas_median:.1f} ms median, "
        f"{1000 / overseas_mean:.1f} certificates/s in one process"
    )
    print(
        f"domestic certificate (1 QR): {domestic_mean:.1f} ms mean, {domestic_median:.1f} ms median, "
        f"{1000 / domestic_mean:.1f} certificates/s in one process"
    )
    print(
        f"pyHanko B-B signature of a rendered PDF, kept-key signer: {sign_mean:.1f} ms mean, "
        f"{sign_median:.1f} ms median"
    )
    print(
        f"pyHanko B-B signature of a rendered PDF, stock SimpleSigner: {stock_mean:.1f} ms mean, "
        f"{stock_median:.1f} ms median"
    )
    print(
        "CPU ms per item (medians): "
        + ", ".join(f"{label} {value:.1f}" for label, value in _cpu_medians.items())
    )
    print(
        f"ratio whole overseas certificate / signature alone (medians): "
        f"{overseas_median / sign_median:.2f}"
    )
    print(
        f"throughput with {args.workers} processes (overseas): {throughput:.1f} certificates/s median "
        f"of rounds {', '.join(f'{r:.1f}' for r in rounds)} "
        f"({1000 / throughput:.1f} ms per certificate of wall time); goal ≥ 20/s"
    )
    figure(f"certificates/s, {args.workers} processes (overseas)", throughput, "/s",
           goal="≥ 20/s", met=throughput >= 20)  # fmt: skip
    figure("whole overseas certificate vs its signature alone", overseas_median, "ms",
           baseline=sign_median, goal="the page, not the signature, is the cost")  # fmt: skip


def _unsigned_page(store: KeyStore, signer: PdfSigner) -> bytes:
    """A rendered, unsigned overseas page: what the signature-only timing signs."""
    content = example_content(0, "overseas")
    issued = issue_certificate(content, store, issuer_url=ISSUER_URL, pdf_signer=signer)
    assert issued.vdsnc_json is not None
    codes = PageCodes(
        health_card=shc_symbol(issued.shc_qr_text), icao_seal=byte_symbol(issued.vdsnc_json)
    )
    return render_certificate(content, codes)


if __name__ == "__main__":
    main()
