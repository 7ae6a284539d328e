from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runt_action.report.markdown import contained_markdown, is_self_contained
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

# Markdown cells that, pasted raw, would take over the rest of the summary.
HOSTILE_MARKDOWN = [
    "</details>\n\n</details>\n\n# after",
    "<!-- everything after this is hidden",
    "```\nan unclosed fence swallows the rest",
    "~~~~\nanother unclosed fence",
    "<pre>\nan unclosed pre",
    "<details open><summary>fake</summary>\n\nnever closed",
    "<script>\nalert(1)",
    "<style>body{display:none}",
    "<textarea>",
    "text with inline </details> and <b>unclosed bold",
    "<div>\n\n**md inside html**\n\n</div>",
    "- a list\n\n      indented code in the list",
    "> a quote that continues",
]

TIMES = "\u00d7"  # the multiplication sign in image placeholders


def png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 4
    return base64.b64encode(raw + b"IDAT" * 50).decode()


def _tags(html: str) -> set[str]:
    return set(re.findall(r"</?([a-zA-Z0-9]+)", html))


def _structure(html: str) -> list[str]:
    """The summary's own skeleton: sections, collapsed blocks, the footer."""
    return re.findall(r"</?(?:details|summary|h2|h3|table|sub)\b", html)


def test_summary_in_order(sample_result: Any, render_md: Callable[[str], str]) -> None:
    text = render_summary(sample_result)
    assert text.startswith("## ❌ Example\n\n**Status:** failed · **Cells:** 2 succeeded, ")
    order = [
        "**Status:**",
        "[Open the live notebook](https://app.runt.run/?notebook=nb-123)",
        "### ❌ First error: cell `explode`",
        "### Cells",
        "### Notebook",
        "<summary>Timings (internal phases)</summary>",
        "<sub>Started",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "**ValueError\\: boom** at `notebooks/example.yml:20`" in text  # copyable path
    html = render_md(text)
    tb = re.search(r"<summary>Traceback</summary>\s*<pre><code[^>]*>(.*?)</code>", html, re.S)
    assert tb and "\x1b" not in tb.group(1) and "ValueError: boom" in tb.group(1)
    assert re.search(r"<td>startup</td>\s*<td[^>]*>812 ms</td>", html)
    assert "<summary>Parameters (1)</summary>" in html and "<td>n</td>" in html


def test_cell_table_has_code_cells_only(
    sample_result: Any, render_md: Callable[[str], str]
) -> None:
    text = render_summary(sample_result)
    rows = re.findall(r"^\| (\d+) \| ([^|]*) \|", text, re.M)
    assert rows == [("1", "parameters"), ("2", "compute"), ("3", "explode"), ("4", "later")]
    assert "| 3 | explode | ❌ failed | 12 ms | 1 | ValueError\\: boom |" in text
    assert "| 4 | later | ⏭️ skipped | 12 ms | 0 | after a failure |" in text
    assert "not-executed" not in text and "intro" not in text
    assert "<h4>Hello</h4>" in render_md(text)  # the markdown cell, below our headings


def test_notebook_part_shows_markdown_and_collapsed_outputs(
    make: Any, render_md: Callable[[str], str]
) -> None:
    cells = [
        make.cell(
            "intro",
            cell_type="markdown",
            status=CellStatus.NOT_EXECUTED,
            source="# Sales\n\nTotals for **all** regions, see [docs](https://docs.example).",
        ),
        make.cell(
            "plot",
            source="df\nplt.show()",
            duration_ms=1500,
            notes=["stdout truncated at 64 MB (3 MB dropped)"],
            outputs=[
                CellOutput("stream", name="stdout", text="hello\n"),
                CellOutput(
                    "execute_result",
                    data={
                        "text/html": "<table><tr><td>1</td></tr></table>",
                        "text/plain": "   a\n0  1",
                    },
                ),
                CellOutput(
                    "display_data",
                    data={
                        "image/png": png(800, 400),
                        "text/plain": "<Figure size 800x400 with 1 Axes>",
                    },
                ),
                CellOutput("display_data", data={"image/svg+xml": "<svg>" + "x" * 2000}),
                CellOutput("display_data", data={"text/html": "<b>only html</b>" * 100}),
            ],
        ),
    ]
    text = render_summary(make.result(cells))
    html = render_md(text)
    assert "<h4>Sales</h4>" in html and "<strong>all</strong>" in html
    assert '<a href="https://docs.example">docs</a>' in html  # the author's own link
    block = re.search(r"<details><summary>✅ <code>plot</code>(.*?)</details>", html, re.S)
    assert block, html
    body = block.group(1)
    assert "success · 1.50 s · 5 outputs</summary>" in body
    assert "⚠️ stdout truncated at 64 MB (3 MB dropped)" in body  # the cell's note
    code = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", body, re.S)
    assert code[0] == "df\nplt.show()\n"
    assert code[1] == (
        f"hello\n   a\n0  1\n[image/png 800{TIMES}400]\n"
        "[image/svg+xml 2.0 kB]\n[text/html 1.6 kB]\n"
    )
    assert "Figure size" not in text and "<table><tr>" not in text
    assert "| 1 | plot | ✅ success | 1.50 s | 1 | stdout truncated at 64 MB" in text


def test_paths_and_hint_when_there_is_no_live_link(
    make: Any, render_md: Callable[[str], str]
) -> None:
    artifacts = {
        "ipynb": "/work/runt-output/ex ample.ipynb",
        "html": "/work/runt-output/ex`ample.html",
        "outputs": "/work/runt-output/files",
    }
    result = make.result(
        [make.cell("a")], notebook_url=None, artifacts=artifacts, location_note="Stored in memory."
    )
    text = render_summary(result, problems=["could not write the thing to /x: OSError: no"])
    html = render_md(text)
    items = re.findall(r"<li>(.*?)</li>", html)
    assert items[:3] == [
        "HTML report: <code>/work/runt-output/ex`ample.html</code>",
        "Executed notebook (.ipynb): <code>/work/runt-output/ex ample.ipynb</code>",
        "Output files: <code>/work/runt-output/files</code>",
    ]
    assert "Publish these files with the <code>actions/upload-artifact</code> action" in html
    assert "<p>Stored in memory.</p>" in html
    assert "<h3>⚠️ Not written</h3>" in html and "could not write the thing" in html
    linked = render_summary(make.result([make.cell("a")], artifacts=artifacts))
    assert "upload-artifact" not in linked and "Open the live notebook" in linked


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
            source=evil,
            notes=[payload],
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
    assert _tags(html) <= allowed, _tags(html) - allowed
    # the only link is ours; emphasis only where the template puts it
    assert re.findall(r'<a href="([^"]*)"', html) == ["https://app.runt.run/?notebook=nb-123"]
    assert "<em>" not in html  # no template note applies here, so no emphasis at all
    assert html.count("<strong>") == 5  # 4 in the status line, the error message
    assert "evil.example" in html  # shown, as text
    assert html.count("<h2>") == 1
    assert html.count("<h3>") == 4  # first error, run error, cells, notebook: no more
    # traceback, parameters, one per code cell, timings
    assert html.count("<details>") == html.count("</details>") == 3 + len(INJECTIONS)
    assert html.count("<summary>") == html.count("</summary>") == 3 + len(INJECTIONS)
    # each table row has exactly 6 cells despite pipes and newlines in ids and reasons
    table = html.split("<h3>Cells</h3>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 1 + len(INJECTIONS)
    assert all(row.count("<td") == 6 for row in rows[1:])
    assert html.rstrip().endswith("</sub></p>")


@pytest.mark.parametrize("hostile", HOSTILE_MARKDOWN)
def test_markdown_cells_cannot_break_out(
    hostile: str, make: Any, render_md: Callable[[str], str]
) -> None:
    def run(markdown: str) -> str:
        cells = [
            make.cell("md", cell_type="markdown", status=CellStatus.NOT_EXECUTED, source=markdown),
            make.cell("after", outputs=[CellOutput("stream", name="stdout", text="AFTER-OUT\n")]),
        ]
        return render_md(render_summary(make.result(cells)))

    baseline, html = run("harmless *text*"), run(hostile)
    assert _structure(html) == _structure(baseline)
    assert re.search(r"<summary>✅ <code>after</code>.*?<pre><code[^>]*>AFTER-OUT\n", html, re.S)
    allowed = {"h2", "h3", "h4", "p", "a", "strong", "em", "table", "thead", "tbody", "tr",
               "th", "td", "details", "summary", "pre", "code", "sub", "ul", "li", "blockquote",
               "div"}  # fmt: skip
    assert _tags(html) <= allowed, _tags(html) - allowed
    assert html.count("<div>") <= 1  # ours, around a markdown cell that needed containing
    for tag in ("script", "style", "textarea", "b"):
        assert f"<{tag}>" not in html and f"<{tag} " not in html
    assert "<!--" not in html
    assert html.count("<details") == baseline.count("<details")


def test_safe_markdown_stays_markdown() -> None:
    source = "# Title\n\nSome **bold**, `code`, a [link](https://x.example).\n\n| a |\n|---|"
    assert is_self_contained(source)
    assert contained_markdown(source) == source
    fallback = contained_markdown("<b>x</b>\n\n```\nopen fence\n\nmore")
    assert fallback.startswith("<div>") and fallback.endswith("</div>")
    assert "\n" not in fallback and "&lt;b&gt;x&lt;/b&gt;" in fallback
    assert "open fence&#10;&#10;more" in fallback  # blank lines kept inside <pre>


def test_notebook_is_shortened_then_dropped_first(make: Any) -> None:
    big = ("y" * 199 + "\n") * 100
    cells = [
        make.cell(f"c{i}", outputs=[CellOutput("stream", name="stdout", text=big)])
        for i in range(40)
    ]
    full = render_summary(make.result(cells), max_bytes=10**9)
    assert full.count("<details><summary>✅") == 40
    shorter = render_summary(make.result(cells), max_bytes=len(full.encode()) - 1)
    assert "_Outputs are shortened to keep this summary under GitHub's 1 MiB limit" in shorter
    assert shorter.count("<details><summary>✅") == 40
    tiny = render_summary(make.result(cells), max_bytes=8000)
    assert "The notebook's cells were left out" in tiny
    assert "<details><summary>✅" not in tiny
    assert len(re.findall(r"^\| \d+ \| c\d+ \|", tiny, re.M)) == 40  # the table is intact


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
    assert "The notebook's cells were left out" in text
    assert "more cells not shown" in text


def test_huge_tables_are_cut_and_say_so(make: Any) -> None:
    cells = [make.cell(f"{'x' * 250}{i}", reason="r" * 250) for i in range(3000)]
    text = render_summary(make.result(cells), max_bytes=200_000)
    assert len(text.encode()) <= 200_000
    assert "more cells not shown" in text


def test_last_resort_cut(make: Any) -> None:
    text = render_summary(make.result([make.cell("a")]), max_bytes=300)
    assert len(text.encode()) <= 300
    assert text.endswith("_Summary truncated to stay under GitHub's 1 MiB limit._\n")


def test_secrets_scrubbed_in_every_spelling(make: Any) -> None:
    secret = "p<a&s>s|w`o*rd"
    cells = [
        make.cell(
            "md",
            cell_type="markdown",
            status=CellStatus.NOT_EXECUTED,
            source=f"<b>{secret}</b> and *{secret}*",
        ),
        make.cell(
            secret,
            CellStatus.FAILED,
            reason=secret,
            source=f"token = {secret!r}",
            notes=[f"note {secret}"],
            outputs=[
                CellOutput("stream", name="stdout", text="pw: p<a&s>"),
                CellOutput("stream", name="stdout", text="s|w`o*rd\n"),
                make.error("E", f"bad {secret}"),
            ],
        ),
    ]
    result = make.result(
        cells,
        title=secret,
        parameters={"x": secret},
        error=secret,
        status=RunStatus.ERROR,
        notebook_url=None,
        artifacts={"ipynb": f"/tmp/{secret}.ipynb"},
    )
    text = render_summary(result, scrubber=Scrubber([secret]))
    assert "p<a&s>s|w`o*rd" not in text
    for spelling in ("p&lt;a&amp;s&gt;s", "s\\|w\\`o\\*rd", "s|w`o*rd", "p<a&s>", "o*rd"):
        assert spelling not in text


def test_write_summary_appends_or_replaces(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    write_summary("one\n", path, append=True)
    write_summary("two\n", path, append=True)
    assert path.read_text() == "one\ntwo\n"
    write_summary("three\n", path, append=False)
    assert path.read_text() == "three\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_the_dependency_graph_is_a_collapsed_mermaid_block(
    sample_result: Any, render_md: Callable[[str], str]
) -> None:
    from runt_action.notebook.graph import build_graph

    graph = build_graph([("load", "rows = [1, 2]"), ("total", "t = sum(rows)")])
    sample_result.dependency_graph = graph.to_mermaid()
    text = render_summary(sample_result)
    block = re.search(
        r"<details><summary>Dependency graph</summary>\n\n```mermaid\n(.*?)```\n\n</details>",
        text,
        re.S,
    )
    assert block is not None and block.group(1) == graph.to_mermaid()
    assert 'c_load -->|"rows"| c_total' in block.group(1)
    assert text.index("### Cells") < block.start() < text.index("### Notebook")
    html = render_md(text)
    assert '<code class="language-mermaid">' in html  # what GitHub draws as a diagram


def test_a_graph_too_big_for_github_is_named_not_drawn(sample_result: Any) -> None:
    from runt_action.report.summary import MERMAID_MAX_EDGES

    edges = "".join(f"  c{i} -->|x| c{i + 1}\n" for i in range(MERMAID_MAX_EDGES + 1))
    sample_result.dependency_graph = "graph TD\n  c0[c0]\n" + edges
    text = render_summary(sample_result)
    assert "```mermaid" not in text
    assert f"dependency graph \\({MERMAID_MAX_EDGES + 1} edges" in text
