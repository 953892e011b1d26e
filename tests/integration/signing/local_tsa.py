"""A local RFC 3161 timestamp authority, CRL and OCSP responder: certomancer's Animator on 127.0.0.1.

certomancer builds a small PKI from a YAML description (a root and a TSA
certificate carrying a CRL distribution point and an OCSP URL) and answers TSA,
CRL and OCSP requests for it. ``archival=True`` gives the TSA what a verifier
years from now needs of a TSA still in service: a CRL only (no OCSP URL), on a
40-year (14,600-day) schedule, so the one issued now still counts as current in 2030. It runs in a thread of the test process, served
by werkzeug on a free port, and is stopped by the test that needs it gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import CertomancerConfig
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import make_server

ARCH = "vrs-test"

_AIA = """          - id: authority_information_access
            smart-value: {{schema: aia-urls, params: {{ocsp-responder-names: [root]}}}}"""

_CONFIG = """
keysets:
  {arch}:
    path-prefix: keys
    keys:
      root: {{path: root.key.pem}}
      tsa: {{path: tsa.key.pem}}
pki-architectures:
  {arch}:
    keyset: {arch}
    entity-defaults: {{country-name: JP, organization-name: VRS Test TSA}}
    entities:
      root: {{common-name: Test TSA Root}}
      tsa: {{common-name: Test Time Stamping Authority}}
    certs:
      root:
        subject: root
        issuer: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2060-01-01T00:00:00+0000"}}
        extensions:
          - {{id: basic_constraints, critical: true, value: {{ca: true}}}}
          - id: key_usage
            critical: true
            smart-value: {{schema: key-usage, params: [digital_signature, key_cert_sign, crl_sign]}}
      tsa:
        issuer: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2060-01-01T00:00:00+0000"}}
        extensions:
          - id: key_usage
            critical: true
            smart-value: {{schema: key-usage, params: [digital_signature]}}
          - {{id: extended_key_usage, critical: true, value: [time_stamping]}}
          - id: crl_distribution_points
            smart-value: {{schema: crl-dist-url, params: {{crl-repo-names: [root]}}}}
{aia}
    services:
      ocsp:
        root: {{for-issuer: root, responder-cert: root, signing-key: root}}
      crl-repo:
        root: {{for-issuer: root, signing-key: root, simulated-update-schedule: "{schedule}"}}
      time-stamping:
        tsa: {{signing-key: tsa, signing-cert: tsa}}
"""


@dataclass(frozen=True)
class LocalTsa:
    """A running local TSA."""

    url: str
    root: x509.Certificate
    root_pem: Path
    stopped: threading.Event


def _write_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextmanager
def local_tsa(
    directory: Path, *, archival: bool = False
) -> Iterator[tuple[LocalTsa, Callable[[], None]]]:
    """Start the TSA; yields it and a function that stops it early (idempotent)."""
    (directory / "keys").mkdir(parents=True)
    for name in ("root", "tsa"):
        _write_key(directory / "keys" / f"{name}.key.pem")
    holder: dict[str, Animator] = {}

    def app(environ, start_response):  # the Animator is made once the port is known
        return holder["animator"](environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    prefix = f"http://127.0.0.1:{server.server_port}"
    config = CertomancerConfig(
        yaml.safe_load(
            _CONFIG.format(
                arch=ARCH,
                aia="" if archival else _AIA.format(),
                schedule="P14600D" if archival else "P30D",
            )
        ),
        key_search_dir=str(directory),
        external_url_prefix=prefix,
    )
    architecture = config.get_pki_arch(ARCH)
    holder["animator"] = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
    root_der = architecture.get_cert("root").dump()
    root = x509.load_der_x509_certificate(root_der)
    root_pem = directory / "tsa-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()

    try:
        yield (
            LocalTsa(url=f"{prefix}/{ARCH}/tsa/tsa", root=root, root_pem=root_pem, stopped=stopped),
            stop,
        )
    finally:
        stop()
