"""Page checks the test client applies to EVERY HTML answer it receives.

:func:`check_html` is hooked into the client of :mod:`tests.fixtures` (an httpx
response hook), so no test has to remember it: a page or htmx partial fails
the test that fetched it when its markup is not well-formed (html5lib, strict),
an id repeats, a form field has no label, a message key or an unfilled
``{placeholder}`` is shown instead of its message, template syntax leaked, or
a form lacks an action (and, when it posts, a CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
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
        if element.tag in ("script", "style"):
            if element.tail:
                yield element.tail
            continue
        if element.text:
            yield element.text
        if element.tail:
            yield element.tail
        for name in _READ_ATTRIBUTES:
            if (
                name == "value"
                and element.tag != "button"
                and element.get("type")
                not in (
                    "submit",
                    "button",
                )
            ):
                continue
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


def check_html(markup: str, where: str = "") -> None:
    """Fail, saying what and where, on a page or partial that is not right."""
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

    for form in document.iter("form"):
        assert form.get("action"), f"{prefix}a form without an action"
        if (form.get("method") or "get").lower() == "post":
            tokens = [i for i in form.iter("input") if i.get("name") == "_csrf_token"]
            assert tokens and tokens[0].get("value"), (
                f"{prefix}POST form to {form.get('action')} without a CSRF token"
            )


def assert_valid_page(markup: str) -> None:
    """The same checks, for markup a test made itself (the client checks what it receives)."""
    check_html(markup)


async def check_response(response: httpx.Response) -> None:
    """httpx response hook: check every HTML answer (Swagger's own page excepted)."""
    if "text/html" not in response.headers.get("content-type", ""):
        return
    if response.request.url.path.startswith("/schema"):
        return
    await response.aread()
    check_html(response.text, f"{response.request.method} {response.request.url.path}")
