"""A worn print: each code still decodes after blur, JPEG and a slight turn.

The page is rendered at 300 dpi (pdftoppm), blurred (Gaussian, radius 1.5 px),
saved as JPEG quality 70 and turned by 0°, ±2° and ±5° (Pillow), then read
with zbarimg. Module sizes in signing/pdf.py are chosen for this: with the
former 0.35 mm the VDS-NC stopped decoding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.realparts import require_executable
from tests.unit.signing.fixtures import ISSUER_URL

from .tools import scan_png

ANGLES = (0, 2, -2, 5, -5)


def _content(kind: str, doses: int):  # noqa: ANN202 - a CertificateContent
    content = example_content(12, kind, min(doses, 7))  # type: ignore[arg-type]  # parametrized str for the Literal kind
    # Beyond Japan's seven doses the page is full: the seal falls back to 0.42 mm modules.
    extra = tuple(
        dataclasses.replace(content.doses[-1], dose_number=number) for number in range(8, doses + 1)
    )
    return dataclasses.replace(content, doses=content.doses + extra)


@pytest.mark.parametrize(
    ("kind", "doses"),
    [("domestic", 3), ("overseas", 3), ("overseas", 7), ("overseas", 8)],  # 7: the largest codes
)
def test_each_code_decodes_after_blur_jpeg_and_rotation(
    tmp_path: Path,
    key_store: KeyStore,
    pdf_signer: PdfSigner,
    now: dt.datetime,
    kind: str,
    doses: int,
) -> None:
    content = _content(kind, doses)
    issued = issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer, issued_at=now
    )
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(issued.pdf)
    pdftoppm = require_executable("pdftoppm")
    subprocess.run(
        [pdftoppm, "-png", "-r", "300", "-singlefile", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    worn = Image.open(tmp_path / "page.png").convert("L").filter(ImageFilter.GaussianBlur(1.5))
    expected = {issued.shc_qr_text} | ({issued.vdsnc_json} if issued.vdsnc_json else set())
    unread = {}
    for angle in ANGLES:
        photo = tmp_path / f"turned{angle}.jpg"
        turned = worn.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
        turned.save(photo, quality=70)
        missing = expected - set(scan_png(photo))
        if missing:
            unread[angle] = ["SHC" if m.startswith("shc:/") else "VDS-NC" for m in missing]
    assert unread == {}, f"codes not read, by angle: {unread}"
