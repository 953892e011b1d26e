"""The certificate's fonts: IPAexGothic, and IPAmj Mincho for the characters it lacks.

IPAexGothic covers JIS X 0213, but names on the resident register use
characters beyond it, e.g. 𠮷 (U+20BB7, 「つちよし」). IPAmj Mincho (Debian's
``fonts-ipamj-mincho``, the font of the 文字情報基盤 with about 58,000
glyphs) covers them and, being TrueType, embeds with reportlab (Noto CJK is
CFF and does not). Text is drawn in runs: each character in IPAexGothic when
it has the glyph, else in IPAmj Mincho when that has it, else in IPAexGothic
(a missing-glyph box, as before).

reportlab writes each subset's ToUnicode map with one hex code per glyph,
which for a character beyond the BMP (``<20BB7>``) is not UTF-16: text
extraction, search and screen readers would lose the character.
:func:`_to_unicode_cmap` writes surrogate pairs instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger("vrs.signing.fonts")

FONT_PATH = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
FONT = "IPAexGothic"
FALLBACK_FONT_PATH = "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"
FALLBACK_FONT = "IPAmjMincho"


def _utf16_hex(code_point: int) -> str:
    return chr(code_point).encode("utf-16-be").hex().upper()


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap with UTF-16BE destinations (surrogate pairs beyond the BMP)."""
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{index:02X}> <{_utf16_hex(value)}>" for index, value in enumerate(subset)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


@functools.cache
def register() -> tuple[str, str | None]:
    """Register the fonts once per process; returns (main font, fallback font or ``None``)."""
    # Parsing the 6 MB font is the slowest step of a first page: once per process.
    pdfmetrics.registerFont(TTFont(FONT, FONT_PATH))
    # Streams are Flate-compressed either way; the extra ASCII85 layer only
    # makes files larger and costs ~50 ms a page in reportlab's pure Python.
    rl_config.useA85 = 0
    ttfonts.makeToUnicodeCMap = _to_unicode_cmap  # see the module docstring
    if not Path(FALLBACK_FONT_PATH).is_file():
        log.warning("%s is missing: characters beyond IPAexGothic print as boxes", FALLBACK_FONT)
        return FONT, None
    pdfmetrics.registerFont(TTFont(FALLBACK_FONT, FALLBACK_FONT_PATH))
    return FONT, FALLBACK_FONT


@functools.cache
def _covered(font: str) -> frozenset[int]:
    return frozenset(pdfmetrics.getFont(font).face.charToGlyph)


def runs(text: str) -> Iterator[tuple[str, str]]:
    """``text`` as (font name, characters) runs, each character in the first font that has it."""
    main, fallback = register()
    main_chars = _covered(main)
    fallback_chars = _covered(fallback) if fallback else frozenset()
    start, current = 0, main
    for index, char in enumerate(text):
        point = ord(char)
        font = (
            fallback if fallback and point not in main_chars and point in fallback_chars else main
        )
        if font != current and index > start:
            yield current, text[start:index]
            start = index
        current = font
    if text:
        yield current, text[start:]


def string_width(text: str, size: float) -> float:
    """The width of ``text`` set in runs at ``size`` points."""
    return sum(float(pdfmetrics.stringWidth(part, font, size)) for font, part in runs(text))
