"""Page checks every page test applies: valid HTML, unique ids, forms that post somewhere."""

from __future__ import annotations

import html5lib
from html5lib.html5parser import ParseError


def assert_valid_page(markup: str) -> None:
    """Fail on invalid markup, duplicate ids, or a form without an action."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        document = parser.parse(markup)
    except ParseError as exc:
        line, column = parser.errors[-1][0] if parser.errors else ("?", "?")
        raise AssertionError(f"invalid HTML at {line}:{column}: {exc}") from exc
    ids = [element.get("id") for element in document.iter() if element.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {sorted(duplicates)}"
    for form in document.iter("form"):
        assert form.get("action"), "a form without an action"
        if (form.get("method") or "get").lower() == "post":
            tokens = [i for i in form.iter("input") if i.get("name") == "_csrf_token"]
            assert tokens and tokens[0].get("value"), (
                f"POST form to {form.get('action')} without a CSRF token"
            )
