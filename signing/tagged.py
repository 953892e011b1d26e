"""A tagged PDF: the certificate page's logical structure, for screen readers and reflow.

reportlab draws the page but writes no structure tree. The renderer
(:mod:`signing.pdf`) records the structure while it draws, with a
:class:`StructureRecorder`: each piece of real content is a marked-content
sequence with its own MCID (``/P <</MCID 3>> BDC … EMC``), each decorative
piece (cell borders, shading) an ``/Artifact``. :func:`write_structure` then
writes the structure tree with pikepdf (qpdf): the ``/StructTreeRoot`` with
its elements (headings, paragraphs, tables with header cells and their scope,
figures with Alt text and a bounding box, lists), the parent tree from MCIDs
back to their elements, ``/MarkInfo /Marked true``, the language, the title
shown as the window title, and the title in the XMP metadata.

This runs before the PAdES signature, which then covers the tagged file; a
later change would break it. Standard structure types only (ISO 32000-1
§14.8.4), so no role map is needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pikepdf

#: The version the tagged file declares: /Lang and /MarkInfo need 1.4; PDF/UA builds on 1.7.
PDF_VERSION = "1.7"

#: Attributes an element may carry, as (owner, key) → value: ``("Table", "Scope")`` → ``"Column"``.
Attributes = dict[tuple[str, str], str | tuple[float, ...]]


@dataclass
class Element:
    """One structure element: its type, its children (elements or MCIDs) and its attributes."""

    role: str
    kids: list[Element | int] = field(default_factory=list)
    alt: str | None = None
    """Alternate description (``/Alt``): what a figure shows, read instead of its content."""
    lang: str | None = None
    """The element's language when it differs from the document's (``en`` for translations)."""
    attributes: Attributes = field(default_factory=dict)

    def walk(self) -> Iterator[Element]:
        """This element and every element below it, in reading order."""
        yield self
        for kid in self.kids:
            if isinstance(kid, Element):
                yield from kid.walk()


class StructureRecorder:
    """Records the structure of one page while it is drawn.

    Args:
        emit: writes raw content-stream operators at the current place of the
            page (reportlab's ``Canvas.addLiteral``).
    """

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self.root = Element("Document")
        self._open: list[Element] = [self.root]
        self._marking = False
        self.mcids = 0
        """How many marked-content sequences the page has (MCIDs 0 … mcids-1)."""

    @contextmanager
    def element(
        self,
        role: str,
        *,
        alt: str | None = None,
        lang: str | None = None,
        attributes: Attributes | None = None,
    ) -> Iterator[Element]:
        """A structure element under the current one; elements opened inside go below it."""
        element = Element(role, alt=alt, lang=lang, attributes=attributes or {})
        self._open[-1].kids.append(element)
        self._open.append(element)
        try:
            yield element
        finally:
            self._open.pop()

    @contextmanager
    def content(self, role: str | None = None, *, lang: str | None = None) -> Iterator[None]:
        """Content drawn inside belongs to a new ``role`` element, or to the current element."""
        if role is None:
            yield from self._marked()
            return
        with self.element(role, lang=lang):
            yield from self._marked()

    def _marked(self) -> Iterator[None]:
        if self._marking:
            raise RuntimeError("marked content cannot nest: close the sequence first")
        element = self._open[-1]
        mcid = self.mcids
        self.mcids += 1
        element.kids.append(mcid)
        self._marking = True
        self._emit(f"/{element.role} <</MCID {mcid}>> BDC")
        try:
            yield
        finally:
            self._emit("EMC")
            self._marking = False

    @contextmanager
    def artifact(self) -> Iterator[None]:
        """Content drawn inside is decoration (borders, shading): no element, skipped by readers."""
        if self._marking:
            raise RuntimeError("an artifact cannot sit inside marked content")
        self._marking = True
        self._emit("/Artifact BMC")
        try:
            yield
        finally:
            self._emit("EMC")
            self._marking = False


def write_structure(pdf: bytes, root: Element, *, lang: str, title: str) -> bytes:
    """``pdf`` (one page whose content carries the MCIDs below ``root``) as a tagged PDF.

    Everything else in the file is kept: fonts, the document information, the
    page content. The title goes in the XMP metadata too, and the viewer is
    asked to show it rather than the file name.
    """
    with pikepdf.open(io.BytesIO(pdf)) as document:
        page = document.pages[0].obj
        tree = document.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructTreeRoot))
        owners: dict[int, pikepdf.Object] = {}

        def build(element: Element, parent: pikepdf.Object) -> pikepdf.Object:
            node = document.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.StructElem,
                    S=pikepdf.Name("/" + element.role),
                    P=parent,
                    Pg=page,
                )
            )
            kids = pikepdf.Array()
            for kid in element.kids:
                if isinstance(kid, int):
                    owners[kid] = node
                    kids.append(kid)
                else:
                    kids.append(build(kid, node))
            node.K = kids
            if element.alt is not None:
                node.Alt = pikepdf.String(element.alt)
            if element.lang is not None:
                node.Lang = pikepdf.String(element.lang)
            if element.attributes:
                node.A = _attribute_objects(element.attributes)
            return node

        tree.K = build(root, tree)
        mcids = sorted(owners)
        if mcids != list(range(len(mcids))):
            raise ValueError("MCIDs must run from 0 without gaps")
        # One page: its /StructParents key 0 maps each MCID to the element that owns it.
        tree.ParentTree = document.make_indirect(
            pikepdf.Dictionary(Nums=pikepdf.Array([0, pikepdf.Array(owners[m] for m in mcids)]))
        )
        tree.ParentTreeNextKey = 1
        page.StructParents = 0
        page.Tabs = pikepdf.Name.S  # tab order follows the structure
        catalog = document.Root
        catalog.StructTreeRoot = tree
        catalog.MarkInfo = pikepdf.Dictionary(Marked=True)
        catalog.Lang = pikepdf.String(lang)
        catalog.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
        # Not as editor: the /Producer stays the renderer's, and no modification date is added.
        with document.open_metadata(set_pikepdf_as_editor=False) as metadata:
            # The XMP repeats the document information (author, subject, creator, producer),
            # which pikepdf then writes back over it: start from what reportlab wrote.
            # (/Trapped has no XMP equivalent: it stays in the information dictionary only.)
            info = {key: value for key, value in document.docinfo.items() if key != "/Trapped"}
            metadata.load_from_docinfo(info)
            metadata["dc:title"] = title
            metadata["dc:language"] = [lang]
        output = io.BytesIO()
        # Streams as reportlab compressed them, copied as they are: qpdf would otherwise
        # decode and recompress the font (about 7 ms a page). The XMP stays plain text.
        document.save(
            output,
            min_version=PDF_VERSION,
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
        )
        return output.getvalue()


def _attribute_objects(attributes: Attributes) -> pikepdf.Array:
    """``/A``: one attribute dictionary per owner (``/Table``, ``/Layout``)."""
    by_owner: dict[str, pikepdf.Dictionary] = {}
    for (owner, key), value in attributes.items():
        dictionary = by_owner.setdefault(owner, pikepdf.Dictionary(O=pikepdf.Name("/" + owner)))
        if isinstance(value, tuple):
            dictionary[f"/{key}"] = pikepdf.Array(value)
        else:
            dictionary[f"/{key}"] = pikepdf.Name("/" + value)
    return pikepdf.Array(by_owner.values())
