"""Real parts the tests need (PostgreSQL, Chromium, pcscd, pdfsig, zbarimg, ...).

Locally a missing part skips the test that needs it; with ``CI=true`` it fails
the run instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_part(what: str) -> NoReturn:
    """Skip (locally) or fail (in CI) because a real part is not available."""
    message = f"real part missing: {what}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing part fails the run)", pytrace=False)
    pytest.skip(message)


def require_executable(name: str) -> str:
    """Return the path of an executable the test needs, or skip/fail."""
    path = shutil.which(name)
    if path is None:
        missing_part(f"executable {name!r} not on PATH")
    return path
