"""Password rules: long enough, not common, not the login, not a repeated pattern.

The common list (``common_passwords.txt``, shipped here) holds stems: a
password is refused when, lower-cased and stripped of the digits and symbols
around it, it is one of them (``Password2024!`` is ``password``). A password
containing the login or the display name, or made of one short unit repeated
or a plain run (``aaaaaaaaaaaa``, ``abcabcabcabc``, ``123456789012``), is refused.
A new password may not contain the one it replaces (:func:`contains_password`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 12

_LIST = Path(__file__).with_name("common_passwords.txt")
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased."""
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def _repeated_unit(text: str) -> bool:
    """One unit of up to 4 characters repeated (aaaa…, abab…, abcabc…)."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, 5)
        if len(text) >= size * 2
    )


def _plain_run(text: str) -> bool:
    """A run along the alphabet, the digits or the keyboard, forwards or backwards."""
    for run in _RUNS:
        for sequence in (run, run[::-1]):
            doubled = sequence * 3
            if len(text) <= len(doubled) and text in doubled:
                return True
    return False


def _squeezed(password: str) -> str:
    """Lower-cased, without spaces and the separators a temporary password is read out with."""
    return re.sub(r"[\s\-_.]+", "", password.lower())


def contains_password(new: str, old: str) -> bool:
    """Whether ``new`` holds ``old`` (or is part of it), case, spaces and ``-_.`` aside.

    ``temporary + "!"`` is the temporary password to whoever read it out: the admin who
    reset it, or the terminal ``vrs create-user`` printed it on.
    """
    new_core, old_core = _squeezed(new), _squeezed(old)
    return bool(old_core) and (
        old_core in new_core or (len(new_core) >= 4 and new_core in old_core)
    )


def password_problem(password: str, login: str = "", display_name: str = "") -> str | None:
    """Why a password is refused (a message key), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "account.password_short"
    lowered = password.lower()
    compact = re.sub(r"\s+", "", lowered)
    if compact in common_passwords() or _AROUND.sub("", compact) in common_passwords():
        return "account.password_common"
    stem = _AROUND.sub("", compact)
    for name in (login, display_name):
        name = re.sub(r"\s+", "", name.lower())
        if len(name) >= 3 and (name in compact or (len(stem) >= 4 and stem in name)):
            return "account.password_like_login"
    if len(set(compact)) <= 3 or _repeated_unit(compact) or _plain_run(compact):
        return "account.password_repetitive"
    return None
