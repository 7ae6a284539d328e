"""The HTML report: self-contained, safe with hostile output, complete, and scrubbed."""

from __future__ import annotations

import base64
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runt_action.errors import OutputWriteError
from runt_action.report.html import render_cell, render_html, write_html
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult, RunStatus

SECRET = "s3cr3t-T0KEN-value"


def png(width: int = 40, height: int = 20, rgb: tuple[int, int, int] = (200, 30, 30)) -> str:
    """A real PNG (base64), made with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def sample_result(**kw: Any) -> RunResult:
    """A failed run with every kind of cell and output the report must show."""
    cells = [
        CellResult(
            "intro",
            "markdown",
            "# Sales report\n\nSome **bold** text and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
            "\n<script>document.title='pwned'</script>\n\n![remote](https://example.com/x.png)\n",
            CellStatus.NOT_EXECUTED,
        ),
        CellResult(
            "setup",
            "code",
            "import math\nprint('hello')\n",
            CellStatus.SUCCESS,
            line=12,
            duration_ms=41.0,
            attempts=1,
            execution_count=1,
            outputs=[
                CellOutput("stream", name="stdout", text=f"hello token={SECRET}\n"),
                CellOutput("stream", name="stderr", text="\x1b[33mwarning\x1b[0m: careful\n"),
            ],
            notes=[f"output truncated to 1 MiB (had {SECRET})"],
        ),
        CellResult(
            "plot",
            "code",
            "plt.plot([1, 2])",
            CellStatus.SUCCESS,
            duration_ms=2300.0,
            attempts=2,
            execution_count=2,
            outputs=[
                CellOutput(
                    "display_data",
                    data={"image/png": png(), "text/plain": "<Figure size 800x400 with 1 Axes>"},
                ),
                CellOutput(
                    "execute_result",
                    execution_count=2,
                    data={
                        "text/html": "<table><tr><th>x</th></tr><tr><td>1</td></tr></table>"
                        "<script>parent.document.body.innerHTML='pwned'</script>",
                        "text/plain": "   x\n0  1",
                    },
                ),
                CellOutput("display_data", data={"application/vnd.widget+json": {"a": 1}}),
            ],
            notes=["runtime restarted after this cell"],
        ),
        CellResult(
            "boom",
            "code",
            "raise ValueError('bad')",
            CellStatus.FAILED,
            line=30,
            duration_ms=5.0,
            attempts=1,
            execution_count=3,
            reason="ValueError: bad",
            outputs=[
                CellOutput(
                    "error",
                    ename="ValueError",
                    evalue="bad",
                    traceback=[
                        "\x1b[0;31m----------------------------------------\x1b[0m",
                        "Cell In[3], line 1\n----> 1 raise ValueError('bad')",
                        "\x1b[0;31mValueError\x1b[0m: bad",
                    ],
                )
            ],
        ),
        CellResult("after", "code", "print(1)", CellStatus.SKIPPED, reason="after a failure"),
    ]
    values: dict[str, Any] = {
        "notebook_id": "nbDemo123",
        "notebook_url": None,
        "title": "Sales <report>",
        "source_file": "notebooks/sales.yml",
        "status": RunStatus.FAILED,
        "cells": cells,
        "parameters": {"region": "north", "days": 7, "api_key": "***", "echo": SECRET},
        "duration_ms": 2800.0,
        "runtime": "python",
        "started_at": "2026-12-01T12:00:00Z",
        "timings": {"startup": 410.0, "cells": 2350.0},
    }
    values.update(kw)
    return RunResult(**values)


class Page(HTMLParser):
    """Every tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        found = []
        for name, a in self.tags:
            if name == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                found.append(a)
        return found

    def by_class(self, cls: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.tags if cls in a.get("class", "").split()]


@pytest.fixture(scope="module")
def report() -> str:
    return render_html(sample_result(), secrets=[SECRET])


@pytest.fixture(scope="module")
def page(report: str) -> Page:
    return Page(report)


def test_the_report_needs_nothing_but_itself(page: Page) -> None:
    assert not page.find("script") and not page.find("link") and not page.find("base")
    for tag, attrs in page.tags:
        for name in ("src", "srcset", "data", "poster"):
            if name in attrs:
                assert attrs[name].startswith("data:"), (tag, attrs)
    csp = page.find("meta", http_equiv="Content-Security-Policy")
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert "img-src data:" in csp[0]["content"] and "script-src" not in csp[0]["content"]
    style = "".join(page.text)
    assert "@import" not in style and "url(http" not in style and "@font-face" not in style


def test_images_are_inlined_valid_pngs(page: Page) -> None:
    imgs = page.find("img")
    assert len(imgs) == 1
    src = imgs[0]["src"]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "<Figure size" not in "".join(page.text)  # the image, not its text fallback


def test_markdown_is_rendered_and_its_raw_html_sanitised(report: str, page: Page) -> None:
    assert page.find("h1") and page.find("strong") and page.find("table")
    text = "".join(page.text)
    assert "pwned" not in report  # the script is gone, not shown as text nor run
    assert "HTML sanitised: removed 1 script" in text  # and that is said
    links = [a for a in page.find("a") if a.get("class") == "ext-image"]
    assert links and links[0]["href"] == "https://example.com/x.png"  # a link, not a fetch


def test_raw_html_in_markdown_renders_as_jupyter_and_github_do() -> None:
    cell = CellResult(
        "md",
        "markdown",
        "<details><summary>More</summary>\n\nhidden <b>bold</b>\n</details>\n\n"
        '<table><tr><td><img src="https://img.shields.io/badge" alt="badge"></td></tr>'
        "</table>\n",
        CellStatus.NOT_EXECUTED,
    )
    html = str(render_cell(cell))
    found = Page(html)
    assert found.find("details") and found.find("summary") and found.find("b")
    assert found.find("td") and found.find("img", alt="badge")
    assert "https://img.shields.io" not in str(found.find("img"))  # no request
    assert "removed 1 external URL (https://img.shields.io/badge)" in html


def test_math_in_markdown_becomes_mathml() -> None:
    source = "Inline $\\frac{a}{b}$, price $5 and $6, \\(x^2\\) and\n\n$$\\mathbf{X}^+$$\n"
    html = str(render_cell(CellResult("m", "markdown", source, CellStatus.NOT_EXECUTED)))
    found = Page(html)
    assert len(found.find("math")) == 3 and found.find("mfrac")
    assert "price $5 and $6" in "".join(found.text)  # currency is not math
    broken = str(render_cell(CellResult("m", "markdown", "$\\frac{a}{$", CellStatus.NOT_EXECUTED)))
    assert 'class="math-error"' in broken and "$\\frac{a}{$" in broken  # visible, marked


def test_code_is_highlighted(report: str, page: Page) -> None:
    sources = page.by_class("source")
    assert len(sources) == 4
    assert '<span class="kn">import</span>' in report  # Pygments token classes
    assert ".hl .kn" in report  # and their colours, inline


def test_ansi_colours_become_styled_spans(report: str, page: Page) -> None:
    assert "\x1b" not in report
    assert '<span style="color: #aa0000">ValueError</span>: bad' in report
    errors = page.by_class("error")
    assert any(t == "pre" for t, _ in errors)


def test_html_outputs_are_inline_and_sanitised(report: str, page: Page) -> None:
    assert not page.find("iframe")  # a table needs no frame
    boxes = page.by_class("html-output")
    assert [t for t, _ in boxes] == ["div"]
    assert "<td>1</td>" in report and "pwned" not in report
    assert "HTML sanitised: removed 1 script" in "".join(page.text)


def test_scripted_outputs_stay_in_a_sandboxed_frame() -> None:
    plot = {
        "application/vnd.plotly.v1+json": {"data": [], "layout": {"height": 420}},
        "text/html": "<div id='p'></div><script>Plotly.newPlot('p')</script>",
    }
    widget = {
        "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
        "text/html": "<div>slider</div><script>render()</script>",
    }
    cell = CellResult(
        "c",
        "code",
        "x",
        CellStatus.SUCCESS,
        outputs=[CellOutput("display_data", data=plot), CellOutput("display_data", data=widget)],
    )
    found = Page(str(render_cell(cell)))
    frames = found.find("iframe")
    assert [f["sandbox"] for f in frames] == ["", ""]  # no allow-scripts, no same origin
    assert frames[0]["style"] == "height:436px"  # the height the output states (+ margin)
    assert frames[1]["style"] == "height:360px"  # else the default, and a way to see it all
    assert "<script>render()</script>" in frames[1]["srcdoc"]
    opens = [a for a in found.find("a") if a.get("class") == "open-full"]
    assert len(opens) == 1 and opens[0]["href"].startswith("#frame-")


def test_text_latex_outputs_become_mathml() -> None:
    data = {"text/latex": "$\\displaystyle \\frac{x}{2}$", "text/plain": "x/2"}
    cell = CellResult(
        "c", "code", "x", CellStatus.SUCCESS, outputs=[CellOutput("execute_result", data=data)]
    )
    found = Page(str(render_cell(cell)))
    assert found.find("math") and found.find("mfrac")


def test_cells_show_status_duration_attempts_and_notes(page: Page) -> None:
    text = "".join(page.text)
    for expected in ("✓ success", "✗ failed", "↷ skipped", "2.3 s", "41 ms", "2 attempts"):
        assert expected in text, expected
    assert "runtime restarted after this cell" in text
    assert "after a failure" in text  # the skip reason
    assert "line 12" in text
    # an output we cannot show is said, not dropped
    assert "application/vnd.widget+json cannot be shown here" in text
    markdown = next(a for t, a in page.tags if a.get("id") == "cell-intro")
    assert "markdown" in markdown["class"]
    assert "not-executed" not in text  # markdown cells are not status rows


def test_run_header_parameters_and_first_error_link(page: Page) -> None:
    text = "".join(page.text)
    assert "Sales <report>" in text and "notebooks/sales.yml" in text and "nbDemo123" in text
    assert "region" in text and "north" in text and "days" in text
    first = [a for t, a in page.tags if a.get("id") == "first-error"]
    assert first
    links = [a["href"] for a in page.find("a") if a.get("href") == "#cell-boom"]
    assert links, "the first error links to its cell"
    assert [a for t, a in page.tags if a.get("id") == "cell-boom"]
    assert "ValueError: bad" in text
    assert "startup" in text  # timings, collapsed


def test_no_secret_reaches_the_report(report: str) -> None:
    assert SECRET not in report
    assert "***" in report
    with_html = sample_result()
    with_html.cells[2].outputs[1].data["text/html"] = f"<b>{SECRET}</b>"
    assert SECRET not in render_html(with_html, secrets=[SECRET])


def test_invalid_image_data_is_a_visible_note() -> None:
    cell = CellResult(
        "c",
        "code",
        "x",
        CellStatus.SUCCESS,
        outputs=[CellOutput("display_data", data={"image/png": "not base64!", "text/plain": "x"})],
    )
    html = str(render_cell(cell))
    assert "image/png output was not valid base64 and is not shown" in html
    assert "<img" not in html


def test_a_live_status_overrides_the_cell_status() -> None:
    cell = CellResult("c", "code", "x", CellStatus.NOT_EXECUTED)
    html = str(render_cell(cell, status="running"))
    assert "status-running" in html and "▶ running" in html


def test_write_html_is_atomic_and_reports_failures(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_html(sample_result(), path, secrets=[SECRET])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and SECRET not in text
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputWriteError, match="could not write the HTML report"):
        write_html(sample_result(), blocker / "report.html")


def test_a_fragment_cache_renders_each_finished_cell_once(monkeypatch: Any) -> None:
    """Checkpoints rewrite the report many times; a cell whose result did not change is not
    rendered again, and the page is the same as without the cache."""
    from runt_action.report import html as report_html
    from runt_action.results import CellResult, CellStatus, RunResult, RunStatus

    cells = [CellResult(f"c{i}", "code", f"x = {i}", CellStatus.SUCCESS) for i in range(3)]
    result = RunResult("n", None, "t", "f.yml", RunStatus.RUNNING, cells, {}, 1.0, "python", "s")
    calls: list[str] = []
    real = report_html.render_cell

    def counting(cell: CellResult, **kw: Any) -> Any:
        calls.append(cell.id)
        return real(cell, **kw)

    monkeypatch.setattr(report_html, "render_cell", counting)
    cache: report_html.FragmentCache = {}
    first = "".join(report_html._page_pieces(result, report_html.Scrubber(), cache))
    cells[1].status, cells[1].duration_ms = CellStatus.FAILED, 5.0  # one cell changes
    second = "".join(report_html._page_pieces(result, report_html.Scrubber(), cache))
    assert calls == ["c0", "c1", "c2", "c1"]
    assert second == report_html.render_html(result) and first != second


def test_prewarm_pays_the_one_time_costs_in_a_fresh_process() -> None:
    """What the orchestrator runs in a thread while a runtime boots: afterwards rendering
    needs no import, no template compile and no lexer set-up."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from runt_action.report import html\n"
        "assert 'markdown_it' not in sys.modules and 'pygments.lexers.python' not in sys.modules\n"
        "html.prewarm()\n"
        "assert 'markdown_it' in sys.modules and 'pygments.lexers.python' in sys.modules\n"
        "assert html._markdown.cache_info().currsize == 1\n"
        "env = html.template_environment()\n"
        "names = sorted(key[1] for key in env.cache.keys())\n"
        "assert names == ['cell.html.j2', 'report.html.j2'], names\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_header_note_is_prose_not_markdown_source() -> None:
    note = "Embedded run: run with `--view` to watch it live"
    page = Page(render_html(sample_result(location_note=note)))
    text = "".join(page.text)
    assert "run with --view to watch it live" in text and "`" not in text
    assert page.find("code")
