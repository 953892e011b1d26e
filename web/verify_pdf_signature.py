"""Check an uploaded PDF's own signature with pyHanko (run as a child process).

``python -m web.verify_pdf_signature ROOTS.pem < upload.pdf`` prints one JSON
object: whether the PDF is signed, the signature intact (the signed bytes
unchanged), valid (cryptographically), trusted (chains to one of the roots),
whether nothing was changed after signing that the signature does not allow
(``bottom_line``), the signer and the signing time. It runs in a child with
time and memory limits (:mod:`web.verify_decoding`): a crafted PDF can only
exhaust its own limits. No network: revocation is not fetched here (the
certificate's QR codes carry the revocation checks).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any


def check(data: bytes, roots_pem: bytes) -> dict[str, Any]:
    """What pyHanko concludes about the first signature of ``data``."""
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(roots_pem, multiple=True)]
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    signatures = reader.embedded_signatures
    if not signatures:
        return {"signed": False}
    status = validate_pdf_signature(
        signatures[0],
        ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"),
    )
    signer = status.signing_cert.subject.human_friendly if status.signing_cert else ""
    signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else ""
    return {
        "signed": True,
        "intact": bool(status.intact),
        "valid": bool(status.valid),
        "trusted": bool(status.trusted),
        "bottom_line": bool(status.bottom_line),
        "signer": signer,
        "signed_at": signed_at,
    }


def main() -> int:
    """Read the PDF from standard input; print the JSON answer."""
    data = sys.stdin.buffer.read()
    roots = Path(sys.argv[1]).read_bytes()
    try:
        answer = check(data, roots)
    except Exception as error:  # noqa: BLE001 - any failure of a hostile file is "not valid"
        answer = {"signed": True, "intact": False, "valid": False, "trusted": False,
                  "bottom_line": False, "error": type(error).__name__}  # fmt: skip
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
