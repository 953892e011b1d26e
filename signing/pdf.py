"""The printed certificate: one A4 page drawn with reportlab.

Domestic (国内用) pages are in Japanese; overseas (海外用) pages carry every
label in Japanese and English and the values in Roman letters. Both show the
SMART Health Card QR code; overseas pages also show the ICAO VDS-NC.

Text is set in IPAexGothic, a TrueType font reportlab embeds as a subset
(Noto CJK is CFF-based and cannot be embedded by reportlab), with IPAmj Mincho
for characters IPAexGothic lacks (:mod:`signing.fonts`). The font files are
parsed once per process, on first use. The document says who made it
(Creator/Producer), its language (/Lang ja) and its title, and it is a tagged
PDF: reportlab writes no structure tree, so the page records its structure
while drawing (headings, paragraphs, the holder, dose and issuer tables with
header cells, the notes as a list, each QR code a figure with Alt text) and
:mod:`signing.tagged` writes the tree with pikepdf before anything is signed.
English lines of an overseas page carry /Lang en. QR codes are drawn as one vector path
of horizontal module runs: no PNG encoding and decoding, and sharp at any
printer resolution. Each code is at least 40 mm wide with modules of at least
0.35 mm (FORMATS §1: smaller codes failed to decode from a 300 dpi scan).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from signing import fonts
from signing.content import CertificateContent
from signing.qr import QrSymbol
from signing.tagged import StructureRecorder, write_structure

FONT_PATH = fonts.FONT_PATH
FONT = fonts.FONT
#: The /Creator and /Producer of every certificate PDF.
CREATOR = "Vaccination Record System (VRS)"
PRODUCER = "VRS certificate renderer (reportlab, pikepdf)"

TITLE_JA = "新型コロナウイルス感染症予防接種証明書"
TITLE_EN = "Vaccination Certificate of COVID-19"
STATEMENT_JA = "上記の者が新型コロナウイルス感染症の予防接種を受けたことを証明します。"
STATEMENT_EN = "This is to certify that the person named above has received the vaccination(s) against COVID-19 shown above."

NOTES = (
    (
        "二次元コードには、この証明書の記載事項と発行者の電子署名が記録されています。",
        "The QR codes hold the particulars of this certificate and the issuer's digital signature.",
    ),
    (
        "記載事項の確認は、証明書ID・発行者を添えて上記のお問い合わせ先へお願いします。",
        "For enquiries about this certificate, contact the office above quoting the certificate ID.",
    ),
)

#: Without a contact on the certificate (the municipality has not set one), the enquiry
#: note sends the holder to the issuer printed above, never to a contact that is not there.
ENQUIRY_WITHOUT_CONTACT = (
    "記載事項の確認は、証明書ID・発行者を添えて上記の発行者（市区町村）へお願いします。",
    "For enquiries, contact the issuing municipality above quoting the certificate ID.",
)


def notes_for(contact_ja: str, contact_en: str) -> tuple[tuple[str, str], ...]:
    """The notes printed on a certificate, with the enquiry note matching its contact rows."""
    return NOTES if contact_ja or contact_en else (NOTES[0], ENQUIRY_WITHOUT_CONTACT)


#: Alt text of the QR codes (Japanese; an overseas page adds the English after " / ").
ALT_SHC = (
    "二次元コード（SMART Health Card）：この証明書の記載事項と発行者の電子署名。"
    "スマートフォンアプリで読み取れます。",
    "QR code (SMART Health Card): the particulars of this certificate and the issuer's"
    " digital signature, readable by smartphone apps.",
)
ALT_SEAL = (
    "二次元コード（ICAO VDS-NC）：この証明書の記載事項と発行者の電子署名（国際民間航空機関の形式）。",
    "QR code (ICAO Visible Digital Seal for non-constrained environments): the particulars"
    " of this certificate and the issuer's digital signature.",
)

DOSE_HEADERS = (
    ("接種回数", "Dose"),
    ("接種年月日", "Date"),
    ("ワクチン名", "Vaccine"),
    ("メーカー", "Manufacturer"),
    ("ロット番号", "Lot No."),
    ("接種自治体", "Administered in"),
)

QR_MIN_SIZE: float = 40 * mm
#: Least module sizes, chosen so each code still decodes from a 300 dpi render
#: blurred (Gaussian, radius 1.5 px), saved as JPEG quality 70 and turned by up
#: to ±5° (tests/integration/signing/test_qr_robustness.py). At 0.35 mm a
#: version 33 VDS-NC failed at 0° and ±5°; at 0.40 mm every angle read. Both
#: codes keep error correction L: at a fixed width, M's larger version gives
#: smaller modules and read worse (and an SHC must fit version 22 at L).
QR_MIN_MODULE_SHC: float = 0.45 * mm
QR_MIN_MODULE_SEAL: float = 0.5 * mm
#: The seal's module when the page is too full for 0.5 mm (seven doses and long
#: contact lines): still above the 0.40 mm that read at every angle.
QR_COMPACT_MODULE_SEAL: float = 0.42 * mm
QR_QUIET_ZONE = 4  # modules, as ISO 18004 requires

_PAGE_WIDTH, _PAGE_HEIGHT = A4
_MARGIN = 15 * mm
#: Row heights in points: small enough for seven doses (Japan gave up to 7) on one page.
_ROW = 16
_DOSE_ROW = 16
_CONTENT_WIDTH = _PAGE_WIDTH - 2 * _MARGIN
_SHADE = (0.93, 0.93, 0.93)
#: Least space between the last block and the QR codes' quiet zone, in points.
_CLEARANCE = 4


@dataclass(frozen=True)
class PageCodes:
    """The QR codes a page carries."""

    health_card: QrSymbol
    icao_seal: QrSymbol | None = None


def _register_font() -> str:
    return fonts.register()[0]


def render_certificate(content: CertificateContent, codes: PageCodes) -> bytes:
    """The certificate page as PDF bytes (unsigned)."""
    font = _register_font()
    buffer = io.BytesIO()
    # initialFontName: without it reportlab also declares a non-embedded Helvetica.
    canvas = Canvas(
        buffer,
        pagesize=A4,
        pageCompression=1,
        initialFontName=font,
        initialFontSize=10,
        lang="ja",  # the certificate's language; English lines are the overseas translation
    )
    title = f"{TITLE_JA} / {TITLE_EN}" if content.overseas else TITLE_JA
    canvas.setTitle(title)
    canvas.setAuthor(content.issuer.name_en if content.overseas else content.issuer.name_ja)
    canvas.setSubject(content.certificate_id)
    canvas.setCreator(CREATOR)
    canvas.setProducer(PRODUCER)
    page = _Page(canvas, font, content)
    page.draw(codes)
    canvas.showPage()
    canvas.save()
    return write_structure(buffer.getvalue(), page.tags.root, lang="ja", title=title)


class _Page:
    """Draws one certificate from the top of the page down; ``y`` is the current baseline."""

    def __init__(self, canvas: Canvas, font: str, content: CertificateContent) -> None:
        self.c = canvas
        self.font = font
        self.content = content
        self.bilingual = content.overseas
        self.y = _PAGE_HEIGHT - _MARGIN
        self.tags = StructureRecorder(canvas.addLiteral)

    def draw(self, codes: PageCodes) -> None:
        placed = _place_codes(codes, self.bilingual, QR_MIN_MODULE_SEAL)
        self._header()
        self._title()
        self._holder()
        self._doses()
        self._statement()
        self._issuer()
        if self.y - _CLEARANCE < max(p.top for p in placed):
            placed = _place_codes(codes, self.bilingual, QR_COMPACT_MODULE_SEAL)
        codes_top = max(p.top for p in placed)
        # The notes are the one block that may give way to many doses (Japan gave up to seven).
        if self.y - self._notes_height() - _CLEARANCE >= codes_top:
            self._notes()
        if self.y - _CLEARANCE < codes_top:
            raise ValueError("certificate content does not fit the page above the QR codes")
        for code in placed:
            self._code(code)

    # --- blocks ----------------------------------------------------------------

    def _header(self) -> None:
        content = self.content
        lines = [
            (self._label("証明書ID", "Certificate ID"), content.certificate_id),
            (self._label("発行年月日", "Date of issue"), self._date(content.issued_on)),
        ]
        self.c.setFont(self.font, 9)
        for label, value in lines:
            with self.tags.content("P"):
                self.c.drawRightString(_PAGE_WIDTH - _MARGIN, self.y, f"{label}: {value}")
            self.y -= 12
        self.y -= 10

    def _title(self) -> None:
        self.c.setFont(self.font, 18)
        self.y -= 8
        with self.tags.content("H1"):
            self.c.drawCentredString(_PAGE_WIDTH / 2, self.y, TITLE_JA)
        if self.bilingual:
            self.y -= 20
            self.c.setFont(self.font, 14)
            with self.tags.content("P", lang="en"):
                self.c.drawCentredString(_PAGE_WIDTH / 2, self.y, TITLE_EN)
            self.y -= 16
            self.c.setFont(self.font, 10)
            with self.tags.content("P"):
                self.c.drawCentredString(_PAGE_WIDTH / 2, self.y, "海外用 / For use overseas")
        else:
            self.y -= 16
            self.c.setFont(self.font, 10)
            with self.tags.content("P"):
                self.c.drawCentredString(_PAGE_WIDTH / 2, self.y, "国内用")
        self.y -= 22

    def _holder(self) -> None:
        holder = self.content.holder
        self._section(self._label("接種者", "Vaccinated person"))
        name = holder.name_kanji
        if holder.former_family_name:
            name += f"（旧姓：{holder.former_family_name}）"
        rows: list[tuple[str, str]] = []
        if self.bilingual:
            rows.append(("氏名 / Name", holder.name_roman))
            rows.append(("氏名（日本字）/ Name in Japanese", name))
        else:
            rows.append(("氏名", name))
        rows.append((self._label("生年月日", "Date of birth"), self._date(holder.birth_date)))
        if holder.sex is not None:
            rows.append((self._label("性別", "Sex"), self._sex(holder.sex)))
        if self.bilingual:
            rows.append(("国籍 / Nationality", holder.nationality))
            rows.append(("旅券番号 / Passport No.", holder.passport_number))
        self._key_value_table(rows, label_width=62 * mm if self.bilingual else 40 * mm)

    def _doses(self) -> None:
        self._section(self._label("接種記録", "Vaccination record"))
        widths = [0.10, 0.16, 0.21, 0.17, 0.14, 0.22]
        columns = [w * _CONTENT_WIDTH for w in widths]
        header_height = 26 if self.bilingual else 16
        with self.tags.element("Table"):
            with self.tags.element("THead"), self.tags.element("TR"):
                self._row_box(columns, header_height, shaded=True)
                x = _MARGIN
                for (ja, en), width in zip(DOSE_HEADERS, columns, strict=True):
                    with self.tags.element("TH", attributes={("Table", "Scope"): "Column"}):
                        self.c.setFont(self.font, 8.5)
                        with self.tags.content():
                            self.c.drawCentredString(x + width / 2, self.y - 11, ja)
                        if self.bilingual:
                            self.c.setFont(self.font, 7.5)
                            with self.tags.content("Span", lang="en"):
                                self.c.drawCentredString(x + width / 2, self.y - 21, en)
                    x += width
            self.y -= header_height
            with self.tags.element("TBody"):
                self._dose_rows(columns)
        self.y -= 18

    def _dose_rows(self, columns: Sequence[float]) -> None:
        for dose in self.content.doses:
            if self.bilingual:
                cells = [
                    _ordinal(dose.dose_number),
                    dose.date.isoformat(),
                    dose.product_name_en,
                    dose.maker_en,
                    dose.lot,
                    dose.municipality_en,
                ]
            else:
                cells = [
                    f"{dose.dose_number}回目",
                    self._date(dose.date),
                    dose.product_name_ja,
                    dose.maker_ja,
                    dose.lot,
                    dose.municipality_ja,
                ]
            self._row_box(columns, _DOSE_ROW, shaded=False)
            x = _MARGIN
            with self.tags.element("TR"):
                for text, width in zip(cells, columns, strict=True):
                    with self.tags.content("TD"):
                        self._fit_text(
                            text, x + width / 2, self.y - 11.5, width - 4, 9, centred=True
                        )
                    x += width
            self.y -= _DOSE_ROW

    def _statement(self) -> None:
        self.c.setFont(self.font, 10)
        with self.tags.content("P"):
            self.c.drawString(_MARGIN, self.y, STATEMENT_JA)
        if self.bilingual:
            self.y -= 13
            self.c.setFont(self.font, 8.5)
            with self.tags.content("P", lang="en"):
                self.c.drawString(_MARGIN, self.y, STATEMENT_EN)
        self.y -= 18

    def _issuer(self) -> None:
        issuer = self.content.issuer
        self._section(self._label("証明書発行者", "Issued by"))
        # Every value row has its label: the English head and contact share their row
        # or name themselves (no empty label cell), and the country is said in English.
        rows = [(self._label("発行者", "Issuer"), self._pair(issuer.head_ja, issuer.head_en))]
        municipality = self._pair(issuer.name_ja, f"{issuer.name_en}, Japan")
        rows.append((self._label("市区町村", "Municipality"), municipality))
        rows.append((self._label("市区町村コード", "Municipality code"), issuer.municipality_code))
        if issuer.contact_ja:
            rows.append((self._label("お問い合わせ先", "Enquiries"), issuer.contact_ja))
        if self.bilingual and issuer.contact_en:
            label = (
                "お問い合わせ先（英語）/ Enquiries in English" if issuer.contact_ja else "Enquiries"
            )
            rows.append((label, issuer.contact_en))
        self._key_value_table(rows, label_width=62 * mm if self.bilingual else 40 * mm)

    def _notes_height(self) -> float:
        return 14 + len(NOTES) * (22 if self.bilingual else 11)

    def _notes(self) -> None:
        self._section(self._label("備考", "Notes"))
        self.y -= 8
        issuer = self.content.issuer
        with self.tags.element("L"):
            for ja, en in notes_for(issuer.contact_ja, issuer.contact_en):
                with self.tags.element("LI"):
                    self.c.setFont(self.font, 8.5)
                    with self.tags.content("Lbl"):
                        self.c.drawString(_MARGIN + 4, self.y, "・")
                    with self.tags.element("LBody"):
                        with self.tags.content("P"):
                            self.c.drawString(
                                _MARGIN + 4 + fonts.string_width("・", 8.5), self.y, ja
                            )
                        self.y -= 11
                        if self.bilingual:
                            self.c.setFont(self.font, 7.5)
                            with self.tags.content("P", lang="en"):
                                self.c.drawString(_MARGIN + 12, self.y, en)
                            self.y -= 11

    def _code(self, code: _PlacedCode) -> None:
        quiet = code.quiet
        box = (code.x - quiet, code.y - quiet, code.x + code.size + quiet, code.top)
        alt = code.alt_en if self.bilingual else code.alt_ja
        with self.tags.element("Figure", alt=alt, attributes={("Layout", "BBox"): box}):
            with self.tags.content():
                draw_qr(self.c, code.symbol, code.x, code.y, code.size)
        centre = code.x + code.size / 2
        self.c.setFont(self.font, 8.5)
        with self.tags.content("P"):
            self.c.drawCentredString(centre, code.y - code.quiet - 8, code.caption)
        if code.subcaption:
            self.c.setFont(self.font, 7)
            with self.tags.content("P"):
                self.c.drawCentredString(centre, code.y - code.quiet - 17, code.subcaption)

    # --- pieces ------------------------------------------------------------------

    def _label(self, ja: str, en: str) -> str:
        return f"{ja} / {en}" if self.bilingual else ja

    def _pair(self, ja: str, en: str) -> str:
        return f"{ja} / {en}" if self.bilingual and en else ja

    def _date(self, value: date) -> str:
        japanese = f"{value.year}年{value.month}月{value.day}日"
        return f"{japanese} ({value.isoformat()})" if self.bilingual else japanese

    def _sex(self, sex: str) -> str:
        ja = {"M": "男", "F": "女", "X": "—"}[sex]
        return f"{ja} / {sex}" if self.bilingual else ja

    def _section(self, heading: str) -> None:
        self.c.setFont(self.font, 11)
        with self.tags.artifact():  # the square is decoration, the heading its text
            self.c.drawString(_MARGIN, self.y, "■")
        with self.tags.content("H2"):
            self.c.drawString(_MARGIN + fonts.string_width("■ ", 11), self.y, heading)
        self.y -= 6

    def _row_box(self, columns: Sequence[float], height: float, shaded: bool) -> None:
        with self.tags.artifact():
            self._draw_row_box(columns, height, shaded)

    def _draw_row_box(self, columns: Sequence[float], height: float, shaded: bool) -> None:
        top = self.y
        if shaded:
            self.c.setFillColorRGB(*_SHADE)
            self.c.rect(_MARGIN, top - height, sum(columns), height, stroke=0, fill=1)
            self.c.setFillColorRGB(0, 0, 0)
        self.c.setLineWidth(0.6)
        self.c.rect(_MARGIN, top - height, sum(columns), height, stroke=1, fill=0)
        x = _MARGIN
        for width in columns[:-1]:
            x += width
            self.c.line(x, top, x, top - height)

    def _key_value_table(self, rows: Sequence[tuple[str, str]], label_width: float) -> None:
        """A table of rows, each a header cell (its label, scope Row) and a data cell."""
        height = _ROW
        with self.tags.element("Table"):
            for label, value in rows:
                top = self.y
                with self.tags.artifact():
                    self.c.setFillColorRGB(*_SHADE)
                    self.c.rect(_MARGIN, top - height, label_width, height, stroke=0, fill=1)
                    self.c.setFillColorRGB(0, 0, 0)
                    self.c.setLineWidth(0.6)
                    self.c.rect(_MARGIN, top - height, _CONTENT_WIDTH, height, stroke=1, fill=0)
                    self.c.line(_MARGIN + label_width, top, _MARGIN + label_width, top - height)
                with self.tags.element("TR"):
                    with self.tags.element("TH", attributes={("Table", "Scope"): "Row"}):
                        with self.tags.content():
                            self._fit_text(label, _MARGIN + 4, top - 11.5, label_width - 8, 9)
                    with self.tags.content("TD"):
                        self._fit_text(
                            value,
                            _MARGIN + label_width + 6,
                            top - 11.5,
                            _CONTENT_WIDTH - label_width - 12,
                            10,
                        )
                self.y -= height
        self.y -= 14

    def _fit_text(
        self, text: str, x: float, y: float, width: float, size: float, centred: bool = False
    ) -> None:
        # Shrink long values (a long lot or municipality name) rather than overflow the cell.
        while size > 6 and fonts.string_width(text, size) > width:
            size -= 0.5
        if centred:
            x -= fonts.string_width(text, size) / 2
        # Runs: a character IPAexGothic lacks (𠮷) is set in the fallback font.
        for font, part in fonts.runs(text):
            self.c.setFont(font, size)
            self.c.drawString(x, y, part)
            x += pdfmetrics.stringWidth(part, font, size)


@dataclass(frozen=True)
class _PlacedCode:
    """A QR code with its place on the page; captions go below its quiet zone, never inside."""

    symbol: QrSymbol
    caption: str
    subcaption: str | None
    alt_ja: str
    alt_en: str
    x: float
    y: float
    size: float

    @property
    def quiet(self) -> float:
        return QR_QUIET_ZONE * self.size / self.symbol.modules

    @property
    def top(self) -> float:
        return self.y + self.size + self.quiet


def _place_codes(codes: PageCodes, bilingual: bool, seal_module: float) -> list[_PlacedCode]:
    """Side by side, centred, anchored to the bottom margin so the tables above can grow."""
    hint = None if bilingual else "スマートフォンアプリで読み取れます"
    wanted = [(codes.health_card, "SMART Health Card", hint, ALT_SHC)]
    if codes.icao_seal is not None:
        wanted.append((codes.icao_seal, "ICAO VDS-NC", "ICAO Visible Digital Seal", ALT_SEAL))
    sizes = [_qr_size(symbol, QR_MIN_MODULE_SHC) for symbol, *_ in wanted[:1]]
    sizes += [_qr_size(symbol, seal_module) for symbol, *_ in wanted[1:]]
    gap = 14 * mm
    x = (_PAGE_WIDTH - sum(sizes) - gap * (len(sizes) - 1)) / 2
    placed = []
    for (symbol, caption, sub, (alt_ja, alt_en)), size in zip(wanted, sizes, strict=True):
        placed.append(
            _PlacedCode(symbol, caption, sub, alt_ja, f"{alt_ja} / {alt_en}", x, _MARGIN + 22, size)
        )
        x += size + gap
    return placed


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _qr_size(symbol: QrSymbol, least_module: float) -> float:
    """Side of the symbol (without quiet zone): ≥ 40 mm and ≥ ``least_module`` per module."""
    return max(QR_MIN_SIZE, symbol.modules * least_module)


def draw_qr(canvas: Canvas, symbol: QrSymbol, x: float, y: float, size: float) -> None:
    """Draw ``symbol`` with its lower-left corner at (x, y), ``size`` points wide, plus quiet zone."""
    module = size / symbol.modules
    quiet = QR_QUIET_ZONE * module
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x - quiet, y - quiet, size + 2 * quiet, size + 2 * quiet, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    # One path in module units under a scaling matrix, written as PDF operators
    # directly: going through reportlab's path API formats every coordinate in
    # pure Python (about 60 ms for a version 28 symbol); this takes a few ms.
    # One fill of the whole path also leaves no anti-aliasing seams between rows.
    last_row = symbol.modules - 1
    runs = " ".join(
        f"{column} {last_row - row} {length} 1 re" for row, column, length in symbol.dark_runs()
    )
    canvas.addLiteral(f"q {module:.5f} 0 0 {module:.5f} {x:.3f} {y:.3f} cm {runs} f Q")
