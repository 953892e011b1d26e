"""The archive reader on damaged input: every damaged archive is a refusal, never a crash."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import pytest

from db.backup.errors import BackupError
from db.backup.reader import Archive, Limits


def _archive(path: Path) -> bytes:
    rows = b"".join(
        json.dumps({"id": str(n), "name": "保存 花子", "n": n}).encode() + b"\n" for n in range(50)
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("municipality.json", b"null")
        archive.writestr("tables/resident.jsonl", rows)
        archive.writestr("manifest.sig", b"0" * 64)
        archive.writestr("manifest.json", b"{}")
    return path.read_bytes()


def _read_all(path: Path) -> None:
    with Archive(path, Limits()) as archive:
        for name in archive.entries:
            for _ in archive.lines(name):
                pass


def test_two_thousand_damaged_archives_are_each_refused_or_read(tmp_path) -> None:
    raw = _archive(tmp_path / "good.zip")
    target = tmp_path / "damaged.zip"
    chance = random.Random(20261206)
    refusals: set[str] = set()
    for _ in range(2000):
        data = bytearray(raw)
        for _ in range(chance.randint(1, 6)):
            data[chance.randrange(len(data))] = chance.randrange(256)
        if chance.random() < 0.2:
            data = data[: chance.randrange(len(data))]
        target.write_bytes(bytes(data))
        try:
            _read_all(target)
        except BackupError as refusal:
            refusals.add(refusal.key)
    assert {"backup.damaged", "backup.not_an_archive"} <= refusals


@pytest.mark.parametrize("content", [b"", b"PK", b"not a zip at all", b"PK\x05\x06" + b"\1" * 18])
def test_what_is_not_a_zip_is_said_so(tmp_path, content) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(content)
    with pytest.raises(BackupError) as refusal:
        _read_all(path)
    assert refusal.value.key in {"backup.not_an_archive", "backup.too_many_entries"}
