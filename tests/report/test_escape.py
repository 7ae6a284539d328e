from __future__ import annotations

import html
import re
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from runt_action.report.escape import (
    code_block,
    escape_command_data,
    escape_command_property,
    escape_html,
    escape_md,
    strip_ansi,
    strip_controls,
    unescape_command_data,
    unescape_command_property,
)

# Text that looks like every kind of markdown/HTML a notebook might print.
hostile = st.lists(
    st.sampled_from(
        [
            *"ab1 \t\n\r`*_~[]()<>!#|&;:/.\\-+=\"'@%{}^$?,",
            *("http://", "www.", "<script>", "&amp;", "```", "\x1b[31m", "é", "\x00"),
        ]
    ),
    max_size=40,
).map("".join)


def _normalise(text: str) -> str:
    """What a reader should see: controls gone, newlines and tabs as spaces."""
    return strip_controls(text).replace("\n", " ").replace("\t", " ")


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=hostile)
def test_inline_markdown_renders_literally(text: str, render_md: Callable[[str], str]) -> None:
    rendered = render_md("x " + escape_md(text) + " x")
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n")
    inner = rendered[3:-5]
    assert "<" not in inner.replace("&lt;", ""), rendered  # no tag, link, image or emphasis
    assert html.unescape(inner) == "x " + _normalise(text) + " x"


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(text=hostile)
def test_table_cell_stays_one_cell(text: str, render_md: Callable[[str], str]) -> None:
    rendered = render_md(f"| a | b |\n|---|---|\n| {escape_md(text)} | end |\n")
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cells) == 2 and cells[1] == "end", rendered
    assert "<" not in cells[0].replace("&lt;", "")
    assert html.unescape(cells[0]) == _normalise(text).strip()


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(text=hostile)
def test_code_block_cannot_be_closed_from_inside(
    text: str, render_md: Callable[[str], str]
) -> None:
    rendered = render_md(code_block(text) + "\n\nafter\n")
    match = re.fullmatch(
        r'<pre><code class="language-text">(.*)</code></pre>\n<p>after</p>\n', rendered, re.S
    )
    assert match, rendered
    body = strip_controls(text).rstrip("\n")
    assert html.unescape(match.group(1)) == body + "\n"


def test_html_escape_for_raw_html_blocks() -> None:
    assert escape_html('</summary><img src=x onerror="a">\n') == (
        "&lt;/summary&gt;&lt;img src=x onerror=&quot;a&quot;&gt; "
    )


def test_ansi_and_controls_are_stripped() -> None:
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: x\x1b]0;title\x07") == "ValueError: x"
    assert strip_controls("a\x00b\rc\td\ne\x7f") == "abc\td\ne"


@settings(derandomize=True, database=None)
@given(st.text())
def test_command_escaping_round_trips(text: str) -> None:
    data = escape_command_data(text)
    assert "\n" not in data and "\r" not in data
    assert unescape_command_data(data) == text
    prop = escape_command_property(text)
    assert not set(prop) & set("\r\n:,")
    assert unescape_command_property(prop) == text


def test_command_escaping_matches_github() -> None:
    assert escape_command_data("50%\r\nx:y,z") == "50%25%0D%0Ax:y,z"
    assert escape_command_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
