"""QR code symbols for certificates: the SMART Health Card code and byte-mode codes (VDS-NC).

Symbols use error correction L (what the SHC spec sizes its version 22 limit
for), the smallest version that fits, and a fixed data mask. Two encoding rules
matter to readers:

- The SHC code has exactly two segments: byte mode ``shc:/`` then numeric mode
  digits (one byte-mode segment would make it too large, FORMATS §1).
- Byte-mode text that is not ASCII gets an ECI UTF-8 designator, since zbar and
  other readers otherwise read undeclared bytes as Shift_JIS.

The encoder is segno (the chosen stack), pure Python. Choosing the mask by
penalty score took it 60–130 ms a symbol; with a fixed mask and no error-level
boost it takes 20–40 ms (bench/certificates.py prints the figures).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import segno

from signing.shc import QR_PREFIX

#: Largest QR version a SMART Health Card may use (105×105 modules at 40 mm).
SHC_MAX_VERSION = 22

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
    version, rows = _encode(
        [("byte", QR_PREFIX.encode("ascii")), ("numeric", digits.encode("ascii"))]
    )
    if version > SHC_MAX_VERSION:
        raise ValueError(f"SHC QR code would be version {version}, above {SHC_MAX_VERSION}")
    return QrSymbol(qr_text, version, rows)


def byte_symbol(text: str) -> QrSymbol:
    """A byte-mode QR code of ``text`` (UTF-8; with an ECI designator when not ASCII)."""
    segments: list[tuple[str, bytes]] = [] if text.isascii() else [("eci", b"")]
    segments.append(("byte", text.encode("utf-8")))
    version, rows = _encode(segments)
    return QrSymbol(text, version, rows)


# --- the encoder ---------------------------------------------------------------

_MODES = {"numeric": segno.consts.MODE_NUMERIC, "byte": segno.consts.MODE_BYTE}
#: A fixed data mask: choosing the best of eight by ISO 18004 penalty takes
#: segno about four times as long as encoding, and any mask reads as well.
_MASK = 0


def _encode(segments: list[tuple[str, bytes]]) -> tuple[int, tuple[bytes, ...]]:
    """Encode explicit segments with segno at level L, fixed mask, no error boost."""
    eci = any(mode == "eci" for mode, _ in segments)
    parts = [(data.decode("utf-8"), _MODES[mode]) for mode, data in segments if mode != "eci"]
    content = parts[0][0] if len(parts) == 1 else parts
    code = segno.make(
        content,  # type: ignore[arg-type]  # segno also takes a list of (text, mode) segments
        error="L",
        mode="byte" if len(parts) == 1 else None,
        encoding="utf-8" if eci else None,
        eci=eci,
        mask=_MASK,
        boost_error=False,  # keep L: the SHC version limit is sized for it
        micro=False,  # segno picks a Micro QR for short text; readers and the spec want QR
    )
    return int(code.version), tuple(bytes(row) for row in code.matrix)
