"""Names as the register holds them: 𠮷 beyond IPAexGothic, and a 氏名 without a space.

Read back with poppler's pdftotext; the glyph check opens the embedded font
subset and looks at the outline of the glyph the character maps to.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFontFile

from db.certificates.queries import split_name
from signing import fonts
from signing.content import CertificateContent
from signing.examples import example_content
from signing.fhir import immunization_bundle
from signing.pdf import PageCodes, render_certificate
from signing.qr import byte_symbol
from tests.realparts import missing_part, require_executable

KICHI = "\U00020bb7"  # 𠮷, 「つちよし」


def _named(family: str, given: str, kind: str = "domestic") -> CertificateContent:
    content = example_content(3, kind)  # type: ignore[arg-type]  # a str for the Literal kind
    holder = dataclasses.replace(
        content.holder, family_name=family, given_name=given, former_family_name=""
    )
    return dataclasses.replace(content, holder=holder)


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    tool = require_executable("pdftotext")
    return subprocess.run([tool, str(path), "-"], capture_output=True, text=True).stdout


def _page(content: CertificateContent) -> bytes:
    return render_certificate(content, PageCodes(byte_symbol("x")))


def test_kichi_prints_from_the_fallback_font_with_its_glyph(tmp_path: Path) -> None:
    if not Path(fonts.FALLBACK_FONT_PATH).is_file():
        missing_part(f"{fonts.FALLBACK_FONT_PATH} (Debian package fonts-ipamj-mincho)")
    main, fallback = fonts.register()
    assert ord(KICHI) not in pdfmetrics.getFont(main).face.charToGlyph  # why there is a fallback
    assert fallback == fonts.FALLBACK_FONT
    pdf = _page(_named(f"{KICHI}田", "太郎"))

    assert f"{KICHI}田 太郎" in _text(pdf, tmp_path)  # extracted as U+20BB7, not a box or "?"
    reader = PdfFileReader(io.BytesIO(pdf))
    used = reader.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"]
    (subset,) = [
        f.get_object() for f in used.values() if "IPAmjMincho" in str(f.get_object()["/BaseFont"])
    ]
    to_unicode = subset["/ToUnicode"].get_object().data.decode("ascii")
    code = re.search(r"<([0-9A-F]{2})> <D842DFB7>", to_unicode)  # UTF-16: a surrogate pair
    assert code, to_unicode
    program = TTFontFile(io.BytesIO(subset["/FontDescriptor"]["/FontFile2"].get_object().data))
    glyph = program.charToGlyph[int(code.group(1), 16)]
    assert glyph != 0 and program.glyphPos[glyph + 1] > program.glyphPos[glyph]  # an outline


def test_text_in_the_main_font_stays_in_one_run() -> None:
    assert list(fonts.runs("山田 太郎")) == [(fonts.FONT, "山田 太郎")]
    if fonts.register()[1]:
        assert list(fonts.runs(f"{KICHI}田")) == [(fonts.FALLBACK_FONT, KICHI), (fonts.FONT, "田")]


@pytest.mark.parametrize(
    ("registered", "family", "given"),
    [
        ("山田 太郎", "山田", "太郎"),
        ("山田\u3000太郎", "山田", "太郎"),  # a full-width space
        ("  山田 太郎 ", "山田", "太郎"),
        ("山田太郎", "山田太郎", ""),  # no space: the family name alone
        ("Smith John Paul", "Smith", "John Paul"),  # only the first space splits
    ],
)
def test_the_registered_name_splits_at_its_first_space(
    registered: str, family: str, given: str
) -> None:
    assert split_name(registered) == (family, given)


def test_a_name_without_a_space_is_printed_once_and_is_the_family_name_alone(
    tmp_path: Path,
) -> None:
    content = _named("山田太郎", "")  # refused as "the name is required" before
    assert content.holder.name_kanji == "山田太郎"
    text = _text(_page(content), tmp_path)
    assert text.count("山田太郎") == 1 and "山田太郎 山田太郎" not in text
    patient = immunization_bundle(content)["entry"][0]["resource"]
    assert patient["name"] == [{"family": "山田太郎"}]  # SHC: no given, never family = given


def test_a_name_with_a_space_prints_both_parts_once(tmp_path: Path) -> None:
    content = _named("山田", "太郎")
    text = _text(_page(content), tmp_path)
    assert text.count("山田 太郎") == 1
    patient = immunization_bundle(content)["entry"][0]["resource"]
    assert patient["name"] == [{"family": "山田", "given": ["太郎"]}]


def test_an_overseas_name_without_a_given_part_is_the_family_name_alone() -> None:
    content = _named("山田太郎", "", "overseas")
    holder = dataclasses.replace(content.holder, family_name_roman="YAMADA", given_name_roman="")
    content = dataclasses.replace(content, holder=holder)
    assert holder.name_roman == "YAMADA"
    patient = immunization_bundle(content)["entry"][0]["resource"]
    assert patient["name"] == [{"family": "YAMADA"}]


def test_a_certificate_without_a_family_name_is_refused() -> None:
    with pytest.raises(ValueError, match="name is required"):
        _named("", "太郎")
