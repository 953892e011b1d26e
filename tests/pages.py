"""Page checks the test client applies to EVERY HTML answer it receives.

:func:`check_html` is hooked into the client of :mod:`tests.fixtures` (an httpx
response hook), so no test has to remember it: a page or htmx partial fails
the test that fetched it when its markup is not well-formed (html5lib, strict),
an id repeats, a form field has no label, a message key or an unfilled
``{placeholder}`` is shown instead of its message, template syntax leaked, or
a form lacks an action (and, when it posts, a CSRF token), or a form posts a
field its route's form Struct (``web/forms.py``) does not declare: msgspec
ignores undeclared fields, so the handler would never see what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache, partial
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


def check_html(markup: str, where: str = "", form_fields: FormFields | None = None) -> None:
    """Fail, saying what and where, on a page or partial that is not right.

    With ``form_fields`` (the app's POST routes, :func:`form_fields_of`), every POST form
    must send only fields its route's form Struct declares."""
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
    check_html(response.text, where, form_fields)


def response_checker(app: Any) -> Callable[[httpx.Response], Any]:
    """The response hook for a client of ``app``: the page checks, forms against their routes."""
    return partial(check_response, form_fields=form_fields_of(app))
