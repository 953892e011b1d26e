"""Page checks the test client applies to EVERY HTML answer it receives.

:func:`check_html` is hooked into the client of :mod:`tests.fixtures` (an httpx
response hook), so no test has to remember it: a page or htmx partial fails
the test that fetched it when its markup is not well-formed (html5lib, strict),
an id repeats, a form field has no label, a message key or an unfilled
``{placeholder}`` is shown instead of its message, template syntax leaked, or
a form lacks an action (and, when it posts, a CSRF token), or a form posts a
field its route's form Struct (``web/forms.py``) does not declare: msgspec
ignores undeclared fields, so the handler would never see what was typed; or a
Japanese page shows a known code where a name belongs (a product code from the
master data, a record source, a state, a certificate kind or channel, the age
band ``unknown``, a prefecture code): see :func:`shown_codes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache, partial
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import html5lib
import httpx
from html5lib.html5parser import ParseError

#: Inputs that label themselves (their value or image) or are never seen.
_SELF_LABELLED = {"hidden", "submit", "button", "reset", "image"}
_FIELDS = ("input", "select", "textarea")
#: What a dotted message key looks like (``venue.scan_label``).
_KEY = re.compile(r"(?<![\w./:@-])([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)(?![\w/@-])")
#: File name endings: ``residents.csv`` names a file, not the message key it resembles.
_FILES = {"csv", "json", "ndjson", "zip", "pdf", "txt", "html", "xml", "der", "pem", "crl", "jws"}
#: A message parameter ``{name}`` that no value filled.
_PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*\}")
#: Template syntax that should never reach the browser.
_TEMPLATE = re.compile(r"\{\{|\{%|%\}|\{#")
#: Attributes whose text people read (or screen readers say).
_READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "value")
#: The fields a POST route's form declares, by the form's action (empty: it takes none).
FormFields = Callable[[str], frozenset[str]]
#: What Litestar's CSRF middleware reads, never a handler.
_CSRF_FIELD = "_csrf_token"


#: The vaccine master data file the installation is seeded from (its product codes).
_MASTER_FILE = Path(__file__).resolve().parents[1] / "db" / "vaccines" / "data" / "vaccines.json"
#: Codes a Japanese page must name instead: record sources, record/ticket/resident/job
#: states, certificate kinds and channels, and the unknown age band.
_PLAIN_CODES = frozenset(
    {
        # where a record came from
        "tablet", "api", "csv", "import", "edit", "erase",
        # record, ticket, resident, certificate and job states
        "active", "deleted", "erased", "must_fix", "valid", "void", "reissued",
        "moved_out", "deceased", "queued", "running", "done", "failed", "interrupted",
        # certificate kinds and channels
        "domestic", "overseas", "counter", "app", "kiosk",
        # the age band of a resident without a birth date
        "unknown",
    }
)  # fmt: skip
#: A prefecture shown by its code rather than its name (a municipality code may be the
#: subject itself: "市区町村コード 134016 の検査数字が合いません").
_AREA_CODE = re.compile(r"都道府県コード\s*[:：]?\s*\d{2,6}")
#: A ``vrs`` command line quoted in a message (``vrs app-client --kind kiosk``): codes on purpose.
_COMMAND = re.compile(r"\bvrs(?: +-{0,2}[\w=./:-]+)+")
#: Elements whose text is a code on purpose (a CSV column example, a CLI command).
_CODE_ELEMENTS = ("code", "kbd", "samp", "pre")


@cache
def product_codes() -> frozenset[str]:
    """The product codes of the master data (``pfizer-comirnaty``...)."""
    data = json.loads(_MASTER_FILE.read_text(encoding="utf-8"))
    return frozenset(product["code"] for product in data["products"])


@cache
def _code_pattern() -> re.Pattern[str]:
    codes = sorted(product_codes() | _PLAIN_CODES, key=len, reverse=True)
    return re.compile(
        r"(?<![A-Za-z0-9_./:@-])(" + "|".join(map(re.escape, codes)) + r")(?![A-Za-z0-9_/@-])"
    )


def _visible_texts(document: Element) -> Iterator[str]:
    """:func:`_texts`, less the text of elements that show a code on purpose (``<code>``)."""
    skipped: set[int] = set()
    for element in document.iter():
        if element.tag in _CODE_ELEMENTS:
            skipped.update(id(inner) for inner in element.iter())
    for element in document.iter():
        if id(element) in skipped:
            if element.tail and element.tag in _CODE_ELEMENTS:
                yield element.tail
            continue
        yield from _texts_of(element)


def shown_codes(texts: Iterable[str]) -> list[str]:
    """Known codes in visible text, each with the text around it.

    ``pfizer-comirnaty``, ``must_fix``, ``都道府県コード 13``: each found as
    ``'code' in '…text…'``, so a failure says where.
    """
    found = set()
    for text in texts:
        text = _COMMAND.sub("vrs …", text)
        for pattern in (_code_pattern(), _AREA_CODE):
            for match in pattern.finditer(text):
                near = " ".join(text[max(0, match.start() - 30) : match.end() + 30].split())
                found.add(f"{match.group(0)!r} in {near!r}")
    return sorted(found)


def _is_japanese(document: Element, whole: bool, language: str) -> bool:
    if whole:
        html = document if document.tag == "html" else document.find(".//html")
        return html is not None and (html.get("lang") or "").lower().startswith("ja")
    return language == "ja"


@cache
def _catalog_keys() -> frozenset[str]:
    from web.i18n import catalog

    return frozenset(catalog("ja")) | frozenset(catalog("en"))


def _parse(markup: str) -> Element:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    whole = markup.lstrip()[:15].lower().startswith("<!doctype")
    try:
        if whole:
            return parser.parse(markup)
        root = Element("fragment")
        for child in parser.parseFragment(markup):
            if isinstance(child, Element):
                root.append(child)
        return root
    except ParseError as exc:
        line, column = parser.errors[-1][0] if parser.errors else ("?", "?")
        lines = markup.splitlines()
        near = lines[line - 1].strip()[:160] if isinstance(line, int) and line <= len(lines) else ""
        raise AssertionError(f"invalid HTML at {line}:{column}: {exc}\n  {near}") from exc


def _texts(document: Element) -> Iterator[str]:
    """The text people see: text nodes outside script/style, and readable attributes."""
    for element in document.iter():
        yield from _texts_of(element)


def _texts_of(element: Element) -> Iterator[str]:
    if element.tag in ("script", "style"):
        if element.tail:
            yield element.tail
        return
    if element.text:
        yield element.text
    if element.tail:
        yield element.tail
    for name in _READ_ATTRIBUTES:
        if name == "value" and not (
            element.tag == "input" and element.get("type") in ("submit", "button", "reset")
        ):
            continue  # a <button>'s value is sent, not shown; an input's is what was typed
        value = element.get(name)
        if value:
            yield value


def _labelled(field: Element, labels_for: set[str], inside_label: set[int]) -> bool:
    return bool(
        (field.get("id") and field.get("id") in labels_for)
        or field.get("aria-label")
        or field.get("aria-labelledby")
        or id(field) in inside_label
    )


def posted_names(form: Element) -> set[str]:
    """The names a form sends: its named fields and buttons (the CSRF token aside)."""
    return {
        element.get("name") or ""
        for tag in (*_FIELDS, "button")
        for element in form.iter(tag)
        if element.get("name") and element.get("name") != _CSRF_FIELD
    }


def form_fields_of(app: Any) -> FormFields:
    """The fields each POST route of ``app`` declares: its ``data`` form Struct
    (:class:`web.forms.FormBody`), or the one a streamed upload names in ``opt["form"]``."""
    from web.forms import FormBody

    routes: list[tuple[int, re.Pattern[str], str, frozenset[str]]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "POST" not in (handler.http_methods or ()):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            form = data.annotation if data is not None else handler.opt.get("form")
            declared = (
                frozenset(form.__struct_fields__)
                if isinstance(form, type) and issubclass(form, FormBody)
                else frozenset()
            )
            pattern = re.sub(r"\\\{.*?\\\}", "[^/]+", re.escape(route.path))
            routes.append((route.path.count("{"), re.compile(f"^{pattern}/?$"), route.path,
                           declared))  # fmt: skip
    routes.sort(key=lambda r: r[0])  # a fixed path before a path with parameters

    def fields(action: str) -> frozenset[str]:
        path = urlsplit(action).path
        for _, pattern, _, declared in routes:
            if pattern.match(path):
                return declared
        raise AssertionError(f"a form posts to {action}, which no POST route serves")

    return fields


def check_html(
    markup: str,
    where: str = "",
    form_fields: FormFields | None = None,
    language: str = "ja",
) -> None:
    """Fail, saying what and where, on a page or partial that is not right.

    With ``form_fields`` (the app's POST routes, :func:`form_fields_of`), every POST form
    must send only fields its route's form Struct declares. ``language`` is the language
    a fragment was asked for (a whole page says it in ``<html lang>``); Japanese pages
    must show names, not codes."""
    prefix = f"{where}: " if where else ""
    leaked = _TEMPLATE.search(markup)
    assert not leaked, (
        f"{prefix}template syntax in the page: {markup[max(0, leaked.start() - 60) : leaked.end() + 60]!r}"
    )
    try:
        document = _parse(markup)
    except AssertionError as exc:
        raise AssertionError(f"{prefix}{exc}") from None

    ids = [element.get("id") for element in document.iter() if element.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"{prefix}duplicate ids: {sorted(duplicates)}"

    labels_for = {label.get("for") for label in document.iter("label") if label.get("for")}
    inside_label = {
        id(field)
        for label in document.iter("label")
        for tag in _FIELDS
        for field in label.iter(tag)
    }
    unlabelled = [
        f"<{field.tag} name={field.get('name')!r} id={field.get('id')!r}>"
        for tag in _FIELDS
        for field in document.iter(tag)
        if (field.get("type") or "text").lower() not in _SELF_LABELLED
        and not _labelled(field, labels_for, inside_label)
    ]
    assert not unlabelled, f"{prefix}form fields without a label: {unlabelled}"

    keys = _catalog_keys()
    namespaces = {key.split(".", 1)[0] for key in keys}
    shown_keys = sorted(
        {
            found
            for text in _texts(document)
            for found in _KEY.findall(text)
            if found in keys
            or (found.split(".", 1)[0] in namespaces and found.rsplit(".", 1)[1] not in _FILES)
        }
    )
    assert not shown_keys, f"{prefix}message keys shown instead of their message: {shown_keys}"
    placeholders = sorted({p for text in _texts(document) for p in _PLACEHOLDER.findall(text)})
    assert not placeholders, f"{prefix}message parameters left unfilled: {placeholders}"

    whole = markup.lstrip()[:15].lower().startswith("<!doctype")
    if _is_japanese(document, whole, language):
        codes = shown_codes(_visible_texts(document))
        assert not codes, f"{prefix}codes shown where a name belongs on a Japanese page: {codes}"

    for form in document.iter("form"):
        assert form.get("action"), f"{prefix}a form without an action"
        if (form.get("method") or "get").lower() == "post":
            tokens = [i for i in form.iter("input") if i.get("name") == "_csrf_token"]
            assert tokens and tokens[0].get("value"), (
                f"{prefix}POST form to {form.get('action')} without a CSRF token"
            )
            if form_fields is not None:
                action = form.get("action") or ""
                undeclared = sorted(posted_names(form) - form_fields(action))
                assert not undeclared, (
                    f"{prefix}the form posting to {action} sends {undeclared}, which its route's "
                    "form Struct does not declare (web/forms.py): the handler would never see them"
                )


async def check_response(response: httpx.Response, form_fields: FormFields | None = None) -> None:
    """httpx response hook: check every HTML answer (Swagger's own page excepted)."""
    if "text/html" not in response.headers.get("content-type", ""):
        return
    if response.request.url.path.startswith("/schema"):
        return
    await response.aread()
    where = f"{response.request.method} {response.request.url.path}"
    check_html(response.text, where, form_fields, _requested_language(response.request))


def _requested_language(request: httpx.Request) -> str:
    """The language a request asked for, as the server picks it (``?lang=``, cookie, ja)."""
    from web.i18n import LANGUAGE_COOKIE, pick_language

    cookies: SimpleCookie = SimpleCookie()
    cookies.load(request.headers.get("cookie", ""))
    cookie = cookies[LANGUAGE_COOKIE].value if LANGUAGE_COOKIE in cookies else None
    return pick_language(cookie, request.url.params.get("lang"))


def response_checker(app: Any) -> Callable[[httpx.Response], Any]:
    """The response hook for a client of ``app``: the page checks, forms against their routes."""
    return partial(check_response, form_fields=form_fields_of(app))
