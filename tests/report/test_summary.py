from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runt_action.report.scrub import Scrubber
from runt_action.report.summary import SUMMARY_LIMIT, render_summary, write_summary
from runt_action.results import CellOutput, CellStatus, RunStatus

INJECTIONS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click me](https://evil.example/phish)",
    "![pixel](https://evil.example/p.png)",
    "</details></summary><details open>",
    "```\n# Injected heading\n```",
    "| col | umn |\n|---|---|",
    "https://evil.example/autolink www.evil.example",
    "<!-- hide the rest",
    "**bold** _em_ ~~del~~",
]


def _allowed_tags(html: str) -> set[str]:
    return set(re.findall(r"</?([a-zA-Z0-9]+)", html))


def test_summary_sections(sample_result: Any, render_md: Callable[[str], str]) -> None:
    text = render_summary(sample_result)
    assert text.startswith("## ❌ Example\n")
    assert "[Open the live notebook](https://app.runt.run/?notebook=nb-123)" in text
    assert "**Status:** failed" in text
    assert "| 4 | explode | code | ❌ failed | 12 ms | 1 | ValueError\\: boom |" in text
    assert "Cell **explode** at notebooks\\/example\\.yml\\:20" in text
    html = render_md(text)
    assert "<h3>❌ First error</h3>" in html
    # the traceback excerpt is in <details>, with ANSI codes stripped
    tb = re.search(r"<summary>Traceback</summary>\s*<pre><code[^>]*>(.*?)</code>", html, re.S)
    assert tb and "\x1b" not in tb.group(1) and "ValueError: boom" in tb.group(1)
    assert "hello\nworld\ncareful\n42\n&lt;Figure&gt;" in html  # output excerpt of "compute"
    assert re.search(r"<td>startup</td>\s*<td[^>]*>812 ms</td>", html)
    assert "<td>n</td>" in html and "<td>3</td>" in html


def test_cell_output_cannot_inject_html_or_markdown(
    make: Any, render_md: Callable[[str], str]
) -> None:
    evil = "\n".join(INJECTIONS)
    cells = [
        make.cell(
            f"cell|{i}`<b>",
            CellStatus.FAILED if i == 0 else CellStatus.SUCCESS,
            reason=payload,
            line=3,
            outputs=[
                CellOutput("stream", name="stdout", text=evil),
                CellOutput("display_data", data={"text/plain": payload, "text/html": payload}),
                *([make.error("Evil<Error>", evil)] if i == 0 else []),
            ],
        )
        for i, payload in enumerate(INJECTIONS)
    ]
    result = make.result(
        cells,
        title="# Title <script>x</script>",
        parameters={"p|x": evil, "<k>": "[a](https://evil.example)"},
        timings={"phase<b>": 1.0},
        error=evil,
        source_file="nb`s.yml",
    )
    text = render_summary(result)
    html = render_md(text)
    allowed = {"h2", "h3", "p", "a", "strong", "table", "thead", "tbody", "tr", "th", "td",
               "details", "summary", "pre", "code", "em", "sub", "br"}  # fmt: skip
    assert _allowed_tags(html) <= allowed, _allowed_tags(html) - allowed
    # the only link is ours; emphasis only where the template puts it
    assert re.findall(r'<a href="([^"]*)"', html) == ["https://app.runt.run/?notebook=nb-123"]
    assert "<em>" not in html  # no template note applies here, so no emphasis at all
    assert html.count("<strong>") == 6  # 4 in the status line, the cell id, the message
    assert "evil.example" in html  # shown, as text
    assert html.count("<h2>") == 1 and html.count("<h3>") == 5  # only the template's headings
    assert html.count("<details>") == html.count("</details>") == 1 + len(INJECTIONS)
    # each table row has exactly 7 cells despite pipes and newlines in ids and reasons
    table = html.split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 1 + len(INJECTIONS)
    assert all(row.count("<td") == 7 for row in rows[1:])


def test_link_destination_is_encoded(make: Any, render_md: Callable[[str], str]) -> None:
    url = 'https://app.example/nb?id=a b)(c<d>\\e"f'
    html = render_md(render_summary(make.result([make.cell("a")], notebook_url=url)))
    assert re.findall(r'<a href="([^"]*)"', html) == [
        "https://app.example/nb?id=a%20b%29%28c%3Cd%3E%5Ce%22f"
    ]


def test_non_http_links_are_not_links(make: Any, render_md: Callable[[str], str]) -> None:
    result = make.result([make.cell("a")], notebook_url="javascript:alert(1)")
    html = render_md(render_summary(result))
    assert "<a " not in html and "javascript" in html
    result = make.result([make.cell("a")], notebook_url=None, location_note="Results are in x")
    assert "Results are in x" in render_summary(result)


def test_output_excerpts_are_dropped_first(make: Any) -> None:
    big = ("y" * 199 + "\n") * 100
    cells = [
        make.cell(f"c{i}", outputs=[CellOutput("stream", name="stdout", text=big)])
        for i in range(40)
    ]
    full = render_summary(make.result(cells), max_bytes=10**9)
    assert full.count("<details>") == 40
    text = render_summary(make.result(cells), max_bytes=len(full.encode()) - 1)
    assert "Output excerpts were left out" in text
    assert "<details>" not in text
    assert len(re.findall(r"^\| \d+ \| c\d+ \|", text, re.M)) == 40  # the table is intact


def test_under_one_mebibyte_whatever_the_run(make: Any) -> None:
    evil = "<&>|`*" * 60
    cells = [
        make.cell(
            f"{evil}{i}",
            CellStatus.FAILED,
            reason=evil,
            outputs=[CellOutput("stream", name="stdout", text=evil * 50), make.error("E", evil)],
        )
        for i in range(3000)
    ]
    text = render_summary(make.result(cells, parameters={f"p{i}": evil for i in range(500)}))
    assert len(text.encode()) <= SUMMARY_LIMIT < 1024 * 1024
    assert "Output excerpts were left out" in text
    assert "more cells not shown" in text


def test_huge_tables_are_cut_and_say_so(make: Any) -> None:
    cells = [make.cell(f"{'x' * 250}{i}", reason="r" * 250) for i in range(3000)]
    text = render_summary(make.result(cells), max_bytes=200_000)
    assert len(text.encode()) <= 200_000
    assert "more cells not shown" in text
    assert "Output excerpts were left out" not in text  # there were none to drop


def test_last_resort_cut(make: Any) -> None:
    text = render_summary(make.result([make.cell("a")]), max_bytes=300)
    assert len(text.encode()) <= 300
    assert text.endswith("_Summary truncated to stay under GitHub's 1 MiB limit._\n")


def test_secrets_scrubbed_in_every_spelling(make: Any) -> None:
    secret = "p<a&s>s|w`o*rd"
    cells = [
        make.cell(
            secret,
            CellStatus.FAILED,
            reason=secret,
            outputs=[
                CellOutput("stream", name="stdout", text="pw: p<a&s>"),
                CellOutput("stream", name="stdout", text="s|w`o*rd\n"),
                make.error("E", f"bad {secret}"),
            ],
        )
    ]
    result = make.result(
        cells, title=secret, parameters={"x": secret}, error=secret, status=RunStatus.ERROR
    )
    text = render_summary(result, scrubber=Scrubber([secret]))
    assert "p<a&s>s|w`o*rd" not in text
    for spelling in ("p&lt;a&amp;s&gt;s", "s\\|w\\`o\\*rd", "s|w`o*rd", "p<a&s>"):
        assert spelling not in text


def test_write_summary_appends_or_replaces(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    write_summary("one\n", path, append=True)
    write_summary("two\n", path, append=True)
    assert path.read_text() == "one\ntwo\n"
    write_summary("three\n", path, append=False)
    assert path.read_text() == "three\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
