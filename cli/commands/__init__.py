"""More ``vrs`` sub-commands, one module per part of the system.

A module here defines ``register(subparsers)`` adding its sub-commands; each
sets ``func`` to a function taking the parsed arguments. :mod:`cli.main`
offers ``settings_or_exit``, ``ensure_database`` and ``run_async`` to them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(subparsers: argparse._SubParsersAction) -> None:
    """Let every module of this package add its sub-commands."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
