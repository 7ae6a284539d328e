"""The sanitiser's allow-list: what a notebook's HTML keeps, what it loses, and that it says so."""

from __future__ import annotations

import pytest

from runt_action.report.sanitize import sanitize_html

DATAFRAME = (
    "<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n"
    "        vertical-align: middle;\n    }\n\n    .dataframe thead th {\n"
    "        text-align: right;\n    }\n</style>\n"
    '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
    "      <th></th>\n      <th>a</th>\n    </tr>\n  </thead>\n  <tbody>\n"
    "    <tr>\n      <th>0</th>\n      <td>1</td>\n    </tr>\n  </tbody>\n</table>\n</div>"
)


def test_a_dataframe_keeps_its_table_and_needs_no_note() -> None:
    clean = sanitize_html(DATAFRAME)
    assert '<table border="1">' in clean.html and '<tr style="text-align:right">' in clean.html
    assert "<th>a</th>" in clean.html and "<td>1</td>" in clean.html
    assert "<style" not in clean.html and "class=" not in clean.html
    assert clean.removed == ()  # pandas' own sheet: the page styles tables itself


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        ('<img src="data:image/png;base64,iVBORw0KGgo=" alt="x">', 'src="data:image/png;base64,'),
        ("<details open><summary>More</summary><p>text</p></details>", '<details open="">'),
        (
            '<span style="color: red; font-weight: bold">x</span>',
            'style="color:red;font-weight:bold"',
        ),
        ('<a href="https://example.com/page">link</a>', 'href="https://example.com/page"'),
        ('<table><tr><td colspan="2" rowspan="3">x</td></tr></table>', 'colspan="2" rowspan="3"'),
        ('<math display="block"><mfrac><mi>a</mi><mi>b</mi></mfrac></math>', "<mfrac>"),
        ("<b>bold</b> <i>it</i> <code>c</code> <sub>1</sub>", "<b>bold</b> <i>it</i>"),
    ],
)
def test_the_allow_list_keeps(html: str, kept: str) -> None:
    clean = sanitize_html(html)
    assert kept in clean.html
    assert clean.removed == ()


@pytest.mark.parametrize(
    ("html", "gone", "said"),
    [
        ("<p>x</p><script>alert(1)</script>", "alert", "1 script"),
        ('<img src="data:image/png;base64,AA" onerror="alert(1)">', "onerror", "(onerror)"),
        ('<div onclick="x()" onmouseover="y()">d</div>', "onclick", "2 event handlers"),
        ('<form action="/x"><input name="a"><button>go</button></form>', "<input", "form control"),
        ('<iframe src="https://evil.example"></iframe>', "iframe", "1 frame or embed"),
        ('<img src="https://tracker.example/p.gif">', "tracker", "external URL (https://tr"),
        ('<a href="javascript:alert(1)">x</a>', "javascript", "javascript: URL"),
        (
            '<div style="background: url(https://x.example/a.png); color: red">x</div>',
            "url(",
            "1 style declaration (background)",
        ),
        (
            '<div style="position: fixed; top: 0">over the page</div>',
            "position",
            "2 style declarations (position, top)",
        ),
        ("<style>body { display: none }</style><p>x</p>", "display", "1 <style> sheet"),
        ('<p class="badge failed" id="first-error">spoof</p>', "badge", ""),
        ('<link rel="stylesheet" href="https://x.example/a.css">', "<link", "link/meta/base"),
    ],
)
def test_the_allow_list_drops_and_says_so(html: str, gone: str, said: str) -> None:
    clean = sanitize_html(html)
    assert gone not in clean.html
    if said:
        assert any(said in part for part in clean.removed), clean.removed


def test_side_by_side_layout_stays_but_nothing_is_hidden() -> None:
    clean = sanitize_html(
        '<div style="display: flex; gap: 8px"><table style="display:inline">'
        '<tr><td>1</td></tr></table><p style="display: none">hidden</p>'
        '<p style="opacity: 0">faded</p></div>'
    )
    assert 'style="display:flex;gap:8px"' in clean.html
    assert 'style="display:inline"' in clean.html
    assert "display:none" not in clean.html and "opacity" not in clean.html
    assert any("(display, opacity)" in part for part in clean.removed), clean.removed


def test_a_style_keeps_its_safe_declarations_only() -> None:
    clean = sanitize_html(
        '<table><tr><td style="color: red; background: url(x); padding: 2px">1</td></tr></table>'
    )
    assert 'style="color:red;padding:2px"' in clean.html
