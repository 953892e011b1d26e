"""A certificate's enquiry note matches its contact rows (issue 14).

A new municipality that has not yet set its contact printed "上記のお問い合わせ先へ"
with no contact above. Its certificates now send the holder to the issuer above;
with a contact set, the note and the contact row are as before.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from signing.content import CertificateContent
from signing.examples import example_content
from signing.pdf import PageCodes, render_certificate
from signing.qr import byte_symbol
from tests.realparts import require_executable


def _text(content: CertificateContent, tmp_path: Path) -> str:
    path = tmp_path / "page.pdf"
    path.write_bytes(render_certificate(content, PageCodes(byte_symbol("x"))))
    tool = require_executable("pdftotext")
    text = subprocess.run([tool, str(path), "-"], capture_output=True, text=True).stdout
    return "".join(text.split())  # wrapped lines and spaces do not matter here


def test_without_a_contact_the_note_names_the_issuer_not_a_missing_contact(
    tmp_path: Path,
) -> None:
    content = example_content(2, "domestic")
    bare = dataclasses.replace(content.issuer, contact_ja="", contact_en="")
    text = _text(dataclasses.replace(content, issuer=bare), tmp_path)
    assert "お問い合わせ先" not in text
    assert "上記の発行者（市区町村）へお願いします" in text


def test_with_a_contact_it_is_printed_and_the_note_points_to_it(tmp_path: Path) -> None:
    text = _text(example_content(2, "domestic"), tmp_path)
    assert "電話03-0000-0000" in text
    assert "上記のお問い合わせ先へお願いします" in text
