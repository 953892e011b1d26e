"""Signing integration tests: real poppler, zbar and pyhanko CLI tools, a local TSA."""

from __future__ import annotations

import os
import sys

import pytest

from tests.unit.signing.fixtures import key_store, now, pdf_signer, vectors  # noqa: F401  (fixtures, found by name)


@pytest.fixture(scope="session", autouse=True)
def venv_tools_on_path() -> None:
    """Put this interpreter's bin directory on PATH: the ``pyhanko`` command lives beside it.

    Tests run as ``/work/venv/bin/pytest`` without an activated venv still find
    the CLI of the pyhanko-cli package they were installed with.
    """
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
