"""QR code symbols for certificates: the SMART Health Card code and byte-mode codes (VDS-NC).

Symbols use error correction L (what the SHC spec sizes its version 22 limit
for), the smallest version that fits, and the data mask with the lowest
ISO 18004 penalty. Two encoding rules matter to readers:

- The SHC code has exactly two segments: byte mode ``shc:/`` then numeric mode
  digits (one byte-mode segment would make it too large, FORMATS §1).
- Byte-mode text that is not ASCII gets an ECI UTF-8 designator, since zbar and
  other readers otherwise read undeclared bytes as Shift_JIS.

The encoder is libqrencode (Debian ``libqrencode4``) through ctypes: it takes
1–2 ms a symbol, where segno's pure Python took 20–40 ms with a fixed mask and
60–130 ms choosing the mask, more than the rest of a certificate together.
Where the library is missing, segno produces the same symbols, slowly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import segno

from signing.shc import QR_PREFIX

#: Largest QR version a SMART Health Card may use (105×105 modules at 40 mm).
SHC_MAX_VERSION = 22
#: ECI assignment number of UTF-8.
ECI_UTF8 = 26

_DARK_RUN = re.compile(b"\x01+")


@dataclass(frozen=True)
class QrSymbol:
    """One QR code: what it says and its modules."""

    text: str
    """What a reader decodes from it."""
    version: int
    """QR version (1–40)."""
    rows: tuple[bytes, ...]
    """Module rows, top first, without quiet zone: byte 1 dark, 0 light."""

    @property
    def modules(self) -> int:
        """Modules per side, without the quiet zone."""
        return len(self.rows)

    def dark_runs(self) -> Iterator[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length), top row 0.

        Drawing runs rather than single modules keeps a vector QR code to a
        few thousand rectangles.
        """
        for index, row in enumerate(self.rows):
            for run in _DARK_RUN.finditer(row):
                yield index, run.start(), run.end() - run.start()

    def png(self, scale: int = 4, border: int = 4) -> bytes:
        """The symbol as a PNG (for screens: the app and the verify page)."""
        from PIL import Image  # reportlab's own dependency; only screens need it

        size = self.modules + 2 * border
        image = Image.new("L", (size, size), 255)
        image.paste(
            Image.frombytes(
                "L", (self.modules, self.modules), b"".join(self.rows).translate(_TO_GREY)
            ),
            (border, border),
        )
        buffer = io.BytesIO()
        image.resize((size * scale, size * scale), Image.Resampling.NEAREST).save(
            buffer, format="PNG"
        )
        return buffer.getvalue()


_TO_GREY = bytes([255, 0] + [0] * 254)


def shc_symbol(qr_text: str) -> QrSymbol:
    """The QR code of a SMART Health Card from its ``shc:/`` text.

    Raises:
        ValueError: not ``shc:/`` followed by digits, or larger than version 22.
    """
    digits = qr_text[len(QR_PREFIX) :]
    if not qr_text.startswith(QR_PREFIX) or not digits.isdigit():
        raise ValueError("an SHC QR text is shc:/ followed by digits")
    version, rows = _ENCODER.encode(
        [("byte", QR_PREFIX.encode("ascii")), ("numeric", digits.encode("ascii"))]
    )
    if version > SHC_MAX_VERSION:
        raise ValueError(f"SHC QR code would be version {version}, above {SHC_MAX_VERSION}")
    return QrSymbol(qr_text, version, rows)


def byte_symbol(text: str) -> QrSymbol:
    """A byte-mode QR code of ``text`` (UTF-8; with an ECI designator when not ASCII)."""
    segments: list[tuple[str, bytes]] = [] if text.isascii() else [("eci", b"")]
    segments.append(("byte", text.encode("utf-8")))
    version, rows = _ENCODER.encode(segments)
    return QrSymbol(text, version, rows)


# --- encoders ------------------------------------------------------------------


class _QRcode(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("width", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
    ]


class _Libqrencode:
    """libqrencode 4: explicit segments (QRinput), version 0 = smallest, level L, best mask."""

    _MODES = {"numeric": 0, "byte": 2}
    _LEVEL_L = 0
    # Module bytes carry flags in the upper bits; bit 0 is dark.
    _DARK_BIT = bytes(b & 1 for b in range(256))

    def __init__(self, library: ctypes.CDLL) -> None:
        library.QRinput_new2.restype = ctypes.c_void_p
        library.QRinput_new2.argtypes = [ctypes.c_int, ctypes.c_int]
        library.QRinput_append.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        library.QRinput_appendECIheader.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        library.QRcode_encodeInput.restype = ctypes.POINTER(_QRcode)
        library.QRcode_encodeInput.argtypes = [ctypes.c_void_p]
        library.QRinput_free.argtypes = [ctypes.c_void_p]
        library.QRcode_free.argtypes = [ctypes.POINTER(_QRcode)]
        self._lib = library

    def encode(self, segments: list[tuple[str, bytes]]) -> tuple[int, tuple[bytes, ...]]:
        lib = self._lib
        qr_input = lib.QRinput_new2(0, self._LEVEL_L)
        if not qr_input:
            raise MemoryError("libqrencode could not allocate its input")
        try:
            for mode, data in segments:
                if mode == "eci":
                    status = lib.QRinput_appendECIheader(qr_input, ECI_UTF8)
                else:
                    status = lib.QRinput_append(qr_input, self._MODES[mode], len(data), data)
                if status != 0:
                    raise ValueError(f"libqrencode refused a {mode} segment")
            code = lib.QRcode_encodeInput(qr_input)
        finally:
            lib.QRinput_free(qr_input)
        if not code:
            raise ValueError("data too large for a QR code")
        try:
            width, version = code.contents.width, code.contents.version
            modules = ctypes.string_at(code.contents.data, width * width).translate(self._DARK_BIT)
        finally:
            lib.QRcode_free(code)
        return version, tuple(modules[i : i + width] for i in range(0, width * width, width))


class _Segno:
    """The pure-Python fallback, used only where libqrencode is not installed."""

    _MODES = {"numeric": segno.consts.MODE_NUMERIC, "byte": segno.consts.MODE_BYTE}

    def encode(self, segments: list[tuple[str, bytes]]) -> tuple[int, tuple[bytes, ...]]:
        eci = any(mode == "eci" for mode, _ in segments)
        parts = [
            (data.decode("utf-8"), self._MODES[mode]) for mode, data in segments if mode != "eci"
        ]
        content = parts[0][0] if len(parts) == 1 else parts
        code = segno.make(
            content,
            error="L",
            mode="byte" if len(parts) == 1 else None,
            encoding="utf-8" if eci else None,
            eci=eci,
            boost_error=False,
            micro=False,  # segno picks a Micro QR for short text; readers and the spec want QR
        )
        return int(code.version), tuple(bytes(row) for row in code.matrix)


def _load_encoder() -> _Libqrencode | _Segno:
    for name in ("libqrencode.so.4", ctypes.util.find_library("qrencode")):
        if name:
            try:
                return _Libqrencode(ctypes.CDLL(name))
            except OSError:
                continue
    return _Segno()


_ENCODER = _load_encoder()
