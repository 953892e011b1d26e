"""Running the independent validators and scanners on certificate PDFs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.realparts import require_executable


def write_pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def nss_trusting(roots: list[Path], directory: Path) -> str:
    """An NSS database trusting ``roots`` as CAs; returns its ``sql:`` name for pdfsig."""
    certutil = require_executable("certutil")
    directory.mkdir(parents=True, exist_ok=True)
    database = f"sql:{directory}"
    subprocess.run(
        [certutil, "-N", "--empty-password", "-d", database], check=True, capture_output=True
    )
    for index, root in enumerate(roots):
        subprocess.run(
            [certutil, "-A", "-n", f"root{index}", "-t", "CT,C,C", "-i", str(root), "-d", database],
            check=True,
            capture_output=True,
        )
    return database


def pdfsig(pdf: Path, database: str) -> str:
    """pdfsig's report (it exits 0 even for a broken signature, so callers read the lines)."""
    tool = require_executable("pdfsig")
    result = subprocess.run(
        [tool, "-nssdir", database, str(pdf)], capture_output=True, text=True, timeout=60
    )
    return result.stdout


def pyhanko(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the pyhanko CLI (from the pyhanko-cli package)."""
    tool = require_executable("pyhanko")
    return subprocess.run([tool, *arguments], capture_output=True, text=True, timeout=120)


def scan_qr_codes(pdf: Path, resolution: int = 300) -> list[str]:
    """Render the page with pdftoppm and return every QR code zbarimg reads from it."""
    pdftoppm = require_executable("pdftoppm")
    prefix = pdf.with_suffix("")
    subprocess.run(
        [pdftoppm, "-png", "-r", str(resolution), "-singlefile", str(pdf), str(prefix)], check=True
    )
    return scan_png(Path(f"{prefix}.png"))


def scan_png(png: Path) -> list[str]:
    """Every QR code zbarimg reads from an image, one per line of its output."""
    zbarimg = require_executable("zbarimg")
    result = subprocess.run(
        [zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        timeout=60,
    )
    # --raw: one symbol per line (our payloads are single-line JSON or shc:/ text). Not
    # -Sbinary: with it zbarimg printed only the first of two symbols.
    return [line.decode("utf-8") for line in result.stdout.splitlines() if line]


@dataclass
class StructNode:
    """One element of a tagged PDF's structure tree as poppler's ``pdfinfo -struct-text`` reads it."""

    role: str
    attributes: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    kids: list[StructNode] = field(default_factory=list)

    def walk(self) -> Iterator[StructNode]:
        yield self
        for kid in self.kids:
            yield from kid.walk()

    def all_text(self) -> str:
        """The text of this element and everything below it, in reading order."""
        return "".join(["".join(self.text), *(kid.all_text() for kid in self.kids)])

    def find(self, role: str) -> list[StructNode]:
        return [node for node in self.walk() if node.role == role]


def structure_tree(pdf: Path) -> StructNode:
    """The structure tree with each element's text, read by poppler (``pdfinfo -struct-text``).

    Poppler follows the MCIDs of the page content to the elements that own them, so
    an element's text here is what a screen reader would read for it.
    """
    tool = require_executable("pdfinfo")
    result = subprocess.run(
        [tool, "-struct-text", str(pdf)], capture_output=True, text=True, timeout=60, check=True
    )
    assert not result.stderr.strip(), result.stderr  # poppler complains of a broken tree
    root = StructNode("(root)")
    stack: list[tuple[int, StructNode]] = [(-1, root)]
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        item = line.strip()
        while stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1]
        if item.startswith('"') and item.endswith('"'):
            parent.text.append(item[1:-1])
        elif item.startswith("/"):
            parent.attributes.append(item)
        else:
            node = StructNode(item.split(" ")[0].rstrip(":"))
            parent.kids.append(node)
            stack.append((depth, node))
    return root
