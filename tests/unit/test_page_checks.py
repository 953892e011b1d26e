"""The page checks the test client applies to every HTML answer fail on each kind of fault."""

from __future__ import annotations

import pytest

from tests.pages import check_html

PAGE = "<!doctype html><html lang=ja><head><title>t</title></head><body>{}</body></html>"
GOOD = (
    '<form action="/x" method="get"><label for="q">検索</label><input id="q" name="q">'
    '<label>年 <select name="y"><option>1</option></select></label>'
    '<textarea name="t" aria-label="メモ"></textarea><input type="hidden" name="h">'
    '<button type="submit">送信</button></form>'
)


def test_a_good_page_and_a_good_partial_pass() -> None:
    check_html(PAGE.format(GOOD))
    check_html(GOOD)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("<p>a</div>", "invalid HTML"),
        ('<p id="a"></p><p id="a"></p>', "duplicate ids"),
        ('<form action="/x"><input name="q"></form>', "without a label"),
        ('<form action="/x"><select name="s"></select></form>', "without a label"),
        ("<p>venue.scan_label</p>", "message keys"),
        ('<input aria-label="x" placeholder="error.not_found">', "message keys"),
        ("<p>「{field}」の形式が正しくありません</p>", "left unfilled"),
        ("<p>{{ name }}</p>", "template syntax"),
        ("<p>{% if x %}</p>", "template syntax"),
        ('<form method="post" action="/x"></form>', "CSRF"),
        ("<form></form>", "without an action"),
    ],
)
def test_each_fault_is_named(body: str, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_html(PAGE.format(body))


def test_addresses_and_file_names_are_not_message_keys() -> None:
    check_html(PAGE.format("<p>vrs.example.jp residents.csv https://a.example/x.y 1.5</p>"))
