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


@pytest.mark.parametrize(
    "body",
    [
        "<span>pfizer-comirnaty</span>",
        "<p>2 · 2021-06-01 · moderna-spikevax · AB123</p>",
        "<span>tablet</span>",
        "<span>import</span>",
        "<span>active</span>",
        "<span>must_fix (v2)</span>",
        "<span>overseas</span><span>kiosk</span>",
        '<abbr title="unknown">?</abbr>',
        "<h1>都道府県コード 13 の統計</h1>",
    ],
)
def test_a_japanese_page_showing_a_code_fails(body: str) -> None:
    with pytest.raises(AssertionError, match="codes shown where a name belongs"):
        check_html(PAGE.format(body))
    # a fragment asked for in Japanese (the default language) fails the same way
    with pytest.raises(AssertionError, match="codes shown where a name belongs"):
        check_html(body, language="ja")


def test_product_codes_come_from_the_master_data() -> None:
    from tests.pages import product_codes

    assert {"pfizer-comirnaty", "moderna-spikevax", "takeda-nuvaxovid"} <= product_codes()


def test_codes_in_values_code_elements_and_english_pages_pass() -> None:
    body = (
        '<form action="/x" method="get"><label>製品 <select name="p">'
        '<option value="pfizer-comirnaty">コミナティ筋注</option></select></label>'
        '<input type="hidden" name="s" value="active"></form>'
        "<p>列 product の例：<code>pfizer-comirnaty</code></p>"
        '<p data-state="must_fix" class="tablet">要修正 · residents.csv · API</p>'
    )
    check_html(PAGE.format(body))
    check_html(PAGE.replace("lang=ja", "lang=en").format("<p>pfizer-comirnaty</p>"))
    check_html("<span>tablet</span>", language="en")


def test_a_quoted_command_line_is_not_a_code_shown() -> None:
    check_html(PAGE.format("<p>端末はありません（vrs app-client --kind kiosk で登録します）。</p>"))
    with pytest.raises(AssertionError, match="codes shown"):
        check_html(PAGE.format("<p>vrs を使います。kiosk</p>"))
