"""QR symbols: segments, error level, sizes, segno settings (ECI scan: see the integration test)."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from signing import qr
from signing.qr import byte_symbol, shc_symbol

SHC_TEXT = "shc:/" + "5676290952432060346029243740446031222959532654603460292540772804336028" * 12


def test_shc_symbol_is_byte_then_numeric_at_level_l() -> None:
    symbol = shc_symbol(SHC_TEXT)
    digits = SHC_TEXT[len("shc:/") :]
    two_segments = segno.make(
        [("shc:/", segno.consts.MODE_BYTE), (digits, segno.consts.MODE_NUMERIC)],
        error="L",
        boost_error=False,
        mask=0,
    )
    assert symbol.version == two_segments.version
    # The digits fit only because they are numeric mode: as bytes they need a larger symbol.
    all_bytes = segno.make(SHC_TEXT, error="L", mode="byte", boost_error=False, mask=0)
    assert all_bytes.version > symbol.version
    higher_level = segno.make(
        [("shc:/", segno.consts.MODE_BYTE), (digits, segno.consts.MODE_NUMERIC)],
        error="M",
        boost_error=False,
        mask=0,
    )
    assert higher_level.version > symbol.version  # so the level is L


def test_shc_symbol_refuses_what_is_not_shc_text() -> None:
    with pytest.raises(ValueError):
        shc_symbol("shc:/12ab")
    with pytest.raises(ValueError, match="above 22"):
        shc_symbol("shc:/" + "1" * 3000)


def test_symbols_are_segnos_with_a_fixed_mask() -> None:
    symbol = shc_symbol(SHC_TEXT)
    expected = segno.make(
        [("shc:/", segno.consts.MODE_BYTE), (SHC_TEXT[5:], segno.consts.MODE_NUMERIC)],
        error="L",
        boost_error=False,
        mask=qr._MASK,
    )
    assert symbol.rows == tuple(bytes(row) for row in expected.matrix)


def test_non_ascii_text_gets_an_eci_designator() -> None:
    text = '{"n":"山田 太郎"}'
    expected = segno.make(
        text, error="L", mode="byte", encoding="utf-8", eci=True, boost_error=False, mask=qr._MASK
    )
    assert byte_symbol(text).rows == tuple(bytes(row) for row in expected.matrix)


def test_dark_runs_cover_exactly_the_dark_modules() -> None:
    symbol = byte_symbol("vaccination certificate")
    painted = [bytearray(symbol.modules) for _ in range(symbol.modules)]
    for row, column, length in symbol.dark_runs():
        painted[row][column : column + length] = b"\x01" * length
    assert tuple(bytes(r) for r in painted) == symbol.rows


def test_png_is_the_symbol_scaled_with_a_quiet_zone() -> None:
    symbol = byte_symbol("x")
    image = Image.open(io.BytesIO(symbol.png(scale=3, border=4)))
    assert image.size == ((symbol.modules + 8) * 3,) * 2
    assert image.getpixel((0, 0)) == 255  # quiet zone is light
    assert image.getpixel((4 * 3, 4 * 3)) == 0  # finder pattern corner is dark
