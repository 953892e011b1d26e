"""The certificate is a tagged PDF, and its PAdES signature still validates.

Read back with tools the project did not write: poppler's ``pdfinfo`` (the
structure tree with each element's text, followed through the MCIDs of the page
content), pikepdf/qpdf for the catalog, Alt text and the content stream,
``pdftoppm`` + ``zbarimg`` for what each figure's box holds, and ``pdfsig`` and
the pyhanko CLI for the signature over the tagged file.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest

from signing import pdf as page
from signing.content import CertificateContent
from signing.examples import example_content
from signing.issue import IssuedCertificate, issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.realparts import require_executable
from tests.unit.signing.fixtures import ISSUER_URL

from .tools import (
    StructNode,
    nss_trusting,
    pdfsig,
    pyhanko,
    scan_png,
    structure_tree,
    write_pem,
)

KICHI = "\U00020bb7"  # 𠮷: set in the fallback font, still one name in the tree


def _content(kind: str) -> CertificateContent:
    content = example_content(3, kind, doses=4)  # type: ignore[arg-type]  # a str for the Literal kind
    holder = dataclasses.replace(content.holder, family_name=f"{KICHI}田")
    return dataclasses.replace(content, holder=holder)


@pytest.fixture(scope="module", params=["domestic", "overseas"])
def tagged_certificate(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    key_store: KeyStore,
    pdf_signer: PdfSigner,
) -> Iterator[tuple[CertificateContent, IssuedCertificate, Path]]:
    content = _content(request.param)
    certificate = issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer
    )
    path = tmp_path_factory.mktemp(request.param) / "certificate.pdf"
    path.write_bytes(certificate.pdf)
    yield content, certificate, path


def _document(path: Path) -> StructNode:
    (document,) = structure_tree(path).kids
    assert document.role == "Document"
    return document


def _rows(table: StructNode) -> list[list[str]]:
    return [[cell.all_text() for cell in row.kids] for row in table.find("TR")]


def test_the_structure_tree_reads_as_the_certificate(tagged_certificate) -> None:
    content, _certificate, path = tagged_certificate
    document = _document(path)
    bilingual = content.overseas
    holder, doses = content.holder, content.doses

    (title,) = document.find("H1")
    assert title.all_text() == page.TITLE_JA
    headings = [h.all_text() for h in document.find("H2")]
    expected = [("接種者", "Vaccinated person"), ("接種記録", "Vaccination record")]
    expected += [("証明書発行者", "Issued by"), ("備考", "Notes")]
    assert headings == [f"{ja} / {en}" if bilingual else ja for ja, en in expected]

    holder_table, dose_table, issuer_table = document.find("Table")
    name = f"{KICHI}田 {holder.given_name}（旧姓：{holder.former_family_name}）"
    rows = dict((label, value) for label, value in _rows(holder_table))
    if bilingual:
        assert rows["氏名（日本字）/ Name in Japanese"] == name
        assert rows["氏名 / Name"] == holder.name_roman
        assert rows["旅券番号 / Passport No."] == holder.passport_number
    else:
        assert rows["氏名"] == name
        assert (
            rows["生年月日"]
            == f"{holder.birth_date.year}年{holder.birth_date.month}月{holder.birth_date.day}日"
        )
    for row in holder_table.find("TR"):
        assert [cell.role for cell in row.kids] == ["TH", "TD"]
        assert row.kids[0].attributes == ["/Scope /Row"]

    # The doses: a header row of six column headers, then one row of six cells per dose.
    (head,) = dose_table.find("THead")
    (body,) = dose_table.find("TBody")
    (header_row,) = head.find("TR")
    assert [cell.role for cell in header_row.kids] == ["TH"] * 6
    assert all(cell.attributes == ["/Scope /Column"] for cell in header_row.kids)
    assert [cell.all_text() for cell in header_row.kids] == [
        ja + en if bilingual else ja for ja, en in page.DOSE_HEADERS
    ]
    dose_rows = _rows(body)
    assert len(dose_rows) == len(doses) == 4
    for dose, row in zip(doses, dose_rows, strict=True):
        if bilingual:
            assert row[1:] == [
                dose.date.isoformat(),
                dose.product_name_en,
                dose.maker_en,
                dose.lot,
                dose.municipality_en,
            ]
        else:
            date = f"{dose.date.year}年{dose.date.month}月{dose.date.day}日"
            assert row == [
                f"{dose.dose_number}回目",
                date,
                dose.product_name_ja,
                dose.maker_ja,
                dose.lot,
                dose.municipality_ja,
            ]

    issuer_rows = dict((label, value) for label, value in _rows(issuer_table))
    assert content.issuer.municipality_code in issuer_rows.values()
    paragraphs = [p.all_text() for p in document.kids if p.role == "P"]
    assert page.STATEMENT_JA in paragraphs
    assert content.certificate_id in "".join(paragraphs)
    (notes,) = document.find("L")
    assert [item.find("Lbl")[0].all_text() for item in notes.find("LI")] == ["・", "・"]
    assert len(document.find("Figure")) == (2 if bilingual else 1)


def test_language_title_and_marked(tagged_certificate) -> None:
    content, _certificate, path = tagged_certificate
    with pikepdf.open(path) as pdf:
        catalog = pdf.Root
        assert str(catalog.Lang) == "ja"
        assert catalog.MarkInfo.Marked is True
        assert catalog.ViewerPreferences.DisplayDocTitle is True
        title = str(pdf.docinfo.Title)
        assert title.startswith(page.TITLE_JA)
        assert (page.TITLE_EN in title) is content.overseas
        assert pdf.open_metadata()["dc:title"] == title
        assert pdf.pages[0].obj.StructParents == 0
        english = [
            element
            for element in _elements(catalog.StructTreeRoot)
            if str(element.get("/Lang", "")) == "en"
        ]
        # The English lines of an overseas page say so; a domestic page has none.
        assert bool(english) is content.overseas
    report = subprocess.run(
        [require_executable("pdfinfo"), str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Tagged:          yes" in report


def test_every_qr_code_is_a_figure_with_alt_text_over_its_own_code(
    tagged_certificate, tmp_path
) -> None:
    content, certificate, path = tagged_certificate
    with pikepdf.open(path) as pdf:
        figures = [e for e in _elements(pdf.Root.StructTreeRoot) if e.S == "/Figure"]
        height = float(pdf.pages[0].mediabox[3])
        boxes = []
        for figure in figures:
            assert len(str(figure.Alt)) > 20
            (layout,) = [a for a in figure.A if a.O == "/Layout"]
            boxes.append((str(figure.Alt), [float(v) for v in layout.BBox]))
    assert len(boxes) == (2 if content.overseas else 1)
    # Render each figure's box alone: it holds exactly the code its Alt text names.
    for index, (alt, (x0, y0, x1, y1)) in enumerate(boxes):
        scale = 300 / 72
        prefix = tmp_path / f"figure{index}"
        subprocess.run(
            [require_executable("pdftoppm"), "-png", "-r", "300", "-singlefile",
             "-x", str(int(x0 * scale) - 8), "-y", str(int((height - y1) * scale) - 8),
             "-W", str(int((x1 - x0) * scale) + 16), "-H", str(int((y1 - y0) * scale) + 16),
             str(path), str(prefix)],
            check=True,
        )  # fmt: skip
        (code,) = scan_png(Path(f"{prefix}.png"))
        if "SMART Health Card" in alt:
            assert code == certificate.shc_qr_text
        else:
            assert "ICAO VDS-NC" in alt and code == certificate.vdsnc_json


def test_all_page_content_is_tagged_or_an_artifact(tagged_certificate) -> None:
    _content, _certificate, path = tagged_certificate
    painting = {"Tj", "TJ", "'", '"', "f", "f*", "F", "S", "s", "B", "B*", "b", "b*", "Do", "sh"}
    with pikepdf.open(path) as pdf:
        page_object = pdf.pages[0]
        open_sequences: list[int | None] = []
        seen: list[int] = []
        for operands, operator in pikepdf.parse_content_stream(page_object):
            name = str(operator)
            if name == "BDC":
                tag, properties = operands
                mcid = int(properties.MCID) if "/MCID" in properties else None
                open_sequences.append(mcid)
                if mcid is not None:
                    seen.append(mcid)
            elif name == "BMC":
                assert str(operands[0]) == "/Artifact"
                open_sequences.append(None)
            elif name == "EMC":
                open_sequences.pop()
            elif name in painting:
                assert open_sequences, f"{name} painted outside any tag or artifact"
        assert not open_sequences
        # Each MCID once, and the parent tree leads back to the element that holds it.
        assert seen == list(range(len(seen)))
        nums = pdf.Root.StructTreeRoot.ParentTree.Nums
        assert int(nums[0]) == int(page_object.obj.StructParents)
        owners = nums[1]
        assert len(owners) == len(seen)
        for mcid in seen:
            assert mcid in [int(k) for k in owners[mcid].K if isinstance(k, int)]


def test_the_signature_covers_the_tags_and_validates(
    tagged_certificate, key_store: KeyStore, tmp_path
) -> None:
    _content, certificate, path = tagged_certificate
    signed = certificate.pdf
    # The tags were written before signing: they are in the signed revision, not after it.
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        assert "/StructTreeRoot" in pdf.Root
    start = signed.index(b"/ByteRange")
    byte_range = [int(v) for v in signed[start:].split(b"[", 1)[1].split(b"]", 1)[0].split()]
    assert byte_range[2] + byte_range[3] == len(signed)  # the signature covers the whole file
    assert b"/StructTreeRoot" in signed[: byte_range[1]]

    root = write_pem(key_store.pdf_root, tmp_path / "root.pem")
    report = pdfsig(path, nss_trusting([root], tmp_path / "nss"))
    assert "Signature is Valid." in report and "Certificate is Trusted." in report, report
    assert "Total document signed" in report
    result = pyhanko(
        "sign", "validate", "--pretty-print", "--trust", str(root), "--trust-replace", str(path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The signature is judged VALID." in result.stdout


def _elements(tree: pikepdf.Object) -> Iterator[pikepdf.Object]:
    """Every structure element below ``tree``, in reading order."""
    kids = tree.K
    for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
        if isinstance(kid, pikepdf.Dictionary):
            yield kid
            yield from _elements(kid)
