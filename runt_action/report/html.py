"""The HTML report: one self-contained page a person can open from a CI artifact or a laptop.

Libraries, and why:

- **markdown-it-py** renders markdown cells and ``text/markdown`` outputs. It is CommonMark
  exact, small, pure Python and well kept (the executablebooks project); its dollarmath and
  texmath plugins (mdit-py-plugins) find the math, which :mod:`.mathml` turns into MathML on
  our side (no MathJax: no script, no CDN). Raw HTML in markdown is parsed, as Jupyter and
  GitHub show it, and the rendered whole goes through the sanitiser.
- **nh3** (ammonia) sanitises HTML: see :mod:`.sanitize` for why and its allow-list.
- **Pygments** highlights code: the reference highlighter, pure Python, already in every
  Jupyter install; its stylesheet is inlined.
- **ansi2html** turns the ANSI colours of tracebacks and streams into escaped HTML with inline
  styles; a small, maintained library instead of a hand-written SGR parser.
- **jinja2** (autoescaping) lays out the page; it already renders the job summary.

nbconvert's HTML exporter was the other candidate: it pulls in a large dependency tree
(bleach, mistune, beautifulsoup, jupyterlab CSS) and its templates load require.js, MathJax
and fonts from CDNs, which a report that must make no network request would have to strip.

Safety and self-containment: a Content-Security-Policy allows no script and no fetch (images
only as ``data:``), every image is inlined as a ``data:`` URI, markdown images that point
elsewhere become links. ``text/html`` outputs are inlined after sanitising, so a DataFrame
takes exactly its own size, with a note saying what was removed; outputs that draw with a
script (:data:`SCRIPTED_MIMES`: widgets, Plotly, Bokeh, Vega/Altair) keep their HTML in an
``<iframe sandbox srcdoc>`` (an opaque origin that inherits the policy, so it runs nothing),
sized to the height the output states, else a default with an "open in full" link. Every
string is scrubbed of secrets before rendering, and the finished page once more.

Output is shown as what it is: of terminal escapes only SGR colours are rendered, an OSC 8
hyperlink becomes its text followed by its URL (never an anchor whose target is hidden), and
bidi controls ("Trojan Source") are visible markers, in the page and in each cell fragment
(:func:`runt_action.masking.show_bidi`). The .ipynb keeps the raw data.

The cell renderer and stylesheet are shared with the live viewer (``runt_action.viewer``),
so a live notebook looks exactly like its report.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from runt_action.blobs import BlobText
from runt_action.errors import OutputWriteError
from runt_action.report.annotations import error_line, traceback_line
from runt_action.report.escape import show_bidi, terminal_safe
from runt_action.report.files import write_file
from runt_action.report.mathml import latex_output, math_html
from runt_action.report.sanitize import sanitize_html
from runt_action.report.scrub import Scrubber, scrub_result
from runt_action.report.sidefiles import side_file_link, spill_large_outputs
from runt_action.results import CellOutput, CellResult, CellStatus, RunResult

__all__ = [
    "REPORT_CSP",
    "render_cell",
    "render_html",
    "render_markdown",
    "status_label",
    "stylesheet",
    "template_environment",
    "write_html",
]

ASSETS = Path(__file__).with_name("html_assets")

#: No script, no fetch, no font, no frame source but ``srcdoc``; images only inline.
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-src 'self' about:; base-uri 'none'; form-action 'none'"
)

# Images a browser shows in <img>; SVG in <img> cannot script anything.
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_BASE64 = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")
# The order an output's MIME bundle is looked at, richest first.
_TEXT_MIMES = ("text/markdown", "text/latex", "application/json", "text/plain")

# Icons that DejaVu (Debian's default font) and the usual system fonts all have.
STATUS_LABELS: dict[str, str] = {
    "success": "✓ success",
    "failed": "✗ failed",
    "timeout": "◔ timeout",
    "cancelled": "⊘ cancelled",
    "skipped": "↷ skipped",
    "not-executed": "",
    "allowed-error": "⚠ allowed error",
    # live states (the viewer)
    "queued": "… queued",
    "running": "▶ running",
    "idle": "○ not run",
    "error": "⚠ error",
    "dead": "⊗ runtime dead",
}


def status_label(status: str) -> str:
    """A short, icon-led label for a cell or run status (empty for markdown cells)."""
    return STATUS_LABELS.get(status, status)


def format_duration(ms: float) -> str:
    """Durations people read: ``850 ms``, ``2.4 s``, ``3 min 05 s``."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


# -- markdown -----------------------------------------------------------------------------


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    # Raw HTML is parsed (a badge table, <details>, <img>, as Jupyter and GitHub show them)
    # and the rendered whole goes through the sanitiser. Math: $…$ and $$…$$ as Jupyter reads
    # them ("$5 and $6" is not math: no space inside the dollars), \(…\) and \[…\].
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    md.use(texmath_plugin, delimiters="brackets")
    renderer: Any = md.renderer
    default_image = renderer.rules.get("image")

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        if src.startswith("data:image/") and default_image is not None:
            return str(default_image(tokens, idx, options, env))
        # A remote image would be a network request: show a link to it instead.
        alt = escapeHtml(token.content or "image")
        return f'<a class="ext-image" href="{escapeHtml(src)}">[image: {alt}]</a>'

    def inline_math(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return str(math_html(tokens[idx].content, False))

    def block_math(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return str(math_html(tokens[idx].content, True))

    md.add_render_rule("image", image)
    for name in ("math_inline", "math_single"):
        md.add_render_rule(name, inline_math)
    for name in ("math_inline_double", "math_block", "math_block_label", "math_block_eqno"):
        md.add_render_rule(name, block_math)
    return md


def render_markdown(text: str) -> Markup:
    """CommonMark (+ tables, strikethrough, math as MathML) with raw HTML through the
    sanitiser; what it removed is said under the text."""
    clean = sanitize_html(_markdown().render(text))
    return Markup(clean.html) + _removed_note(clean.removed)


def render_markdown_inline(text: str) -> Markup:
    """One line of our own prose (a note with ``--flag`` in backticks) as inline markdown."""
    return Markup(sanitize_html(_markdown().renderInline(text)).html)


def _removed_note(removed: Sequence[str]) -> Markup:
    if not removed:
        return Markup("")
    return Markup('<p class="out-note sanitised">HTML sanitised: removed {}</p>').format(
        "; ".join(removed)
    )


# -- code and ANSI --------------------------------------------------------------------------


@cache
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, style="default")


def _lexer(cell_type: str) -> Any:
    from pygments.lexers import PythonLexer, SqlLexer, TextLexer

    if cell_type == "code":
        return PythonLexer()
    if cell_type == "sql":
        return SqlLexer()
    return TextLexer()


def highlight_code(source: str, cell_type: str = "code") -> Markup:
    from pygments import highlight

    return Markup(highlight(source, _lexer(cell_type), _formatter()))


@cache
def _ansi() -> Any:
    from ansi2html import Ansi2HTMLConverter

    return Ansi2HTMLConverter(inline=True, escaped=True, dark_bg=False, linkify=False)


def ansi_html(text: str) -> Markup:
    """Escaped text with its ANSI colours as inline-styled spans. Every other escape and
    control is dropped first (:func:`terminal_safe`), so an OSC 8 hyperlink shows as
    ``text <url>`` instead of becoming an anchor; a carriage return starts a new line, as a
    browser shows it in ``<pre>``."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = terminal_safe(text)
    if "\x1b" not in text:
        return escape(text)
    return Markup(_ansi().convert(text, full=False))


@cache
def stylesheet() -> str:
    """The report's CSS (also served by the viewer), Pygments' token colours included."""
    css = (ASSETS / "report.css").read_text(encoding="utf-8")
    return css + "\n" + str(_formatter().get_style_defs(".hl"))


# -- outputs --------------------------------------------------------------------------------


#: Outputs that draw with a script (widgets, Plotly, Bokeh, Vega/Altair): no static HTML
#: shows them, so their HTML goes into a sandboxed frame instead of through the sanitiser.
SCRIPTED_MIMES = (
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.plotly.v1+json",
    "application/vnd.bokehjs_exec.v0+json",
    "application/vnd.bokehjs_load.v0+json",
    "application/vnd.vegalite.v6+json",
    "application/vnd.vegalite.v5+json",
    "application/vnd.vegalite.v4+json",
    "application/vnd.vegalite.v3+json",
    "application/vnd.vega.v5+json",
    "application/vnd.vega.v4+json",
    "application/javascript",
)
#: A frame's height when the output does not say its own.
FRAME_DEFAULT_HEIGHT = 360

_FRAME_STYLE = (
    "<style>body{font:14px/1.4 system-ui,sans-serif;margin:6px;color:#1f2328}"
    "table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:2px 8px;"
    "text-align:right}th{background:#f6f8fa}</style>"
)


def _stated_height(data: Mapping[str, Any], metadata: Mapping[str, Any]) -> int | None:
    """The height an output gives for itself: its metadata (``{"text/html": {"height": …}}``
    or ``{"height": …}``), Plotly's ``layout.height``, Vega-Lite's ``height``."""
    candidates: list[Any] = []
    for key in ("text/html", *SCRIPTED_MIMES):
        entry = metadata.get(key)
        if isinstance(entry, Mapping):
            candidates.append(entry.get("height"))
    candidates.append(metadata.get("height"))
    plotly = data.get("application/vnd.plotly.v1+json")
    if isinstance(plotly, Mapping) and isinstance(plotly.get("layout"), Mapping):
        candidates.append(plotly["layout"].get("height"))
    for mime in SCRIPTED_MIMES:
        spec = data.get(mime)
        if "vega" in mime and isinstance(spec, Mapping):
            height = spec.get("height")
            candidates.append(height + 60 if isinstance(height, int | float) else None)
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return int(min(value, 4000)) + 16  # the frame's body margin
        if isinstance(value, str) and value.removesuffix("px").isdigit():
            return int(value.removesuffix("px")) + 16
    return None


def _html_frame(html: str, data: Mapping[str, Any], metadata: Mapping[str, Any]) -> Markup:
    """Script-drawn output in a sandboxed frame (an opaque origin that runs nothing: the
    page's CSP holds in ``srcdoc`` too). Sized to the height the output states; else a
    default, and an "open in full" link (no script: ``:target`` makes the frame tall)."""
    height = _stated_height(data, metadata)
    doc = _FRAME_STYLE + html
    anchor = "frame-" + format(zlib.crc32(doc.encode("utf-8", "surrogatepass")), "08x")
    frame = Markup(
        '<iframe class="html-output" sandbox="" referrerpolicy="no-referrer" '
        'title="HTML output" style="height:{h}px" srcdoc="{doc}"></iframe>'
    ).format(h=height or FRAME_DEFAULT_HEIGHT, doc=doc)
    link = Markup("")
    if height is None:
        link = Markup(
            '<a class="open-full" href="#{a}">open in full</a> '
            '<a class="close-full" href="#">close</a>'
        ).format(a=anchor)
    note = Markup(
        '<p class="out-note">this output draws with a script, which this page does not run; '
        "{link}</p>"
    ).format(link=link or "its static HTML is shown")
    return Markup('<div class="html-frame" id="{a}">{frame}{note}</div>').format(
        a=anchor, frame=frame, note=note
    )


def _inline_html(html: str) -> Markup:
    """Static HTML (a DataFrame, an estimator's diagram, a styled table) inline, sanitised, so
    it takes exactly its own size; what the sanitiser removed is said under it."""
    clean = sanitize_html(html)
    return Markup('<div class="html-output inline">{html}</div>{note}').format(
        html=Markup(clean.html), note=_removed_note(clean.removed)
    )


def _image(mime: str, value: Any) -> Markup | None:
    if isinstance(value, BlobText):  # only when no side file took it (render_html)
        value = value.read()
    if mime == "image/svg+xml":
        text = value if isinstance(value, str) else "".join(value)
        payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    else:
        payload = re.sub(r"\s+", "", value if isinstance(value, str) else "".join(value))
        if not _BASE64.match(payload):
            return None
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    return Markup('<img class="image" alt="{alt}" src="data:{mime};base64,{data}">').format(
        alt=mime, mime=mime, data=payload
    )


def _as_text(value: Any) -> str:
    if isinstance(value, BlobText):  # only when no side file took it (render_html)
        return value.read()
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)  # nbformat's multi-line strings
    return json.dumps(value, indent=2, ensure_ascii=False)


def _bundle_html(
    data: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> tuple[Markup, list[str]]:
    """The richest representation we can show safely, and notes on what was not shown."""
    notes: list[str] = []
    metadata = metadata or {}
    if "text/html" in data:
        html = _as_text(data["text/html"])
        if any(mime in data for mime in SCRIPTED_MIMES):
            return _html_frame(html, data, metadata), notes
        return _inline_html(html), notes
    scripted = [mime for mime in SCRIPTED_MIMES if mime in data]
    if scripted:
        notes.append(
            f"{', '.join(scripted)} draws with a script, which this page does not run; "
            "its static form is shown"
        )
    for mime in _IMAGE_MIMES:
        if mime in data:
            img = _image(mime, data[mime])
            if img is not None:
                return img, notes
            notes.append(f"{mime} output was not valid base64 and is not shown")
    for mime in _TEXT_MIMES:
        if mime in data and data[mime] not in ("", None):
            text = _as_text(data[mime])
            if mime == "text/markdown":
                return Markup('<div class="markdown">{}</div>').format(render_markdown(text)), notes
            if mime == "text/latex":
                return Markup('<div class="latex">{}</div>').format(latex_output(text)), notes
            return Markup('<pre class="text">{}</pre>').format(ansi_html(text)), notes
    shown = [m for m in data if m != "text/plain"]
    if shown:
        notes.append("output of type " + ", ".join(shown) + " cannot be shown here")
    return Markup(""), notes


def render_output(output: CellOutput) -> Markup:
    """One output as HTML: streams and tracebacks keep their colours."""
    kind = output.output_type
    if kind == "stream":
        name = output.name or "stdout"
        return Markup('<pre class="out stream {name}">{text}</pre>').format(
            name=name, text=ansi_html(output.text or "")
        )
    if kind == "error":
        if output.traceback:
            body = ansi_html("\n".join(output.traceback))
        else:
            body = escape(f"{output.ename or 'Error'}: {output.evalue or ''}")
        return Markup('<pre class="out error">{}</pre>').format(body)
    side = side_file_link(output)  # too large to embed: written beside the report
    if side is not None:
        return side
    content, notes = _bundle_html(output.data, output.metadata)
    prompt = (
        Markup('<span class="prompt">Out[{}]</span>').format(output.execution_count)
        if kind == "execute_result" and output.execution_count is not None
        else Markup("")
    )
    note_html = Markup("").join(Markup('<p class="out-note">{}</p>').format(note) for note in notes)
    return Markup('<div class="out {kind}">{prompt}{content}{notes}</div>').format(
        kind=kind, prompt=prompt, content=content, notes=note_html
    )


# -- cells and page -------------------------------------------------------------------------


def cell_anchor(cell_id: str) -> str:
    return f"cell-{cell_id}"


@cache
def template_environment() -> jinja2.Environment:
    """Autoescaping jinja2 over the report's templates (the viewer adds its own)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ASSETS)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        markdown=render_markdown,
        markdown_inline=render_markdown_inline,
        highlight=highlight_code,
        output=render_output,
        anchor=cell_anchor,
        duration=format_duration,
        status_label=status_label,
        stylesheet=stylesheet,
    )
    return env


def render_cell(cell: CellResult, *, index: int | None = None, status: str | None = None) -> Markup:
    """One cell as an HTML fragment (``<section id="cell-…">``), the same in report and viewer.

    ``status`` overrides ``cell.status`` for live states (``queued``, ``running``, ``idle``).
    The caller scrubs the cell first when it knows any secrets.
    """
    template = template_environment().get_template("cell.html.j2")
    html = template.render(cell=cell, index=index, status=status or str(cell.status.value))
    return Markup(show_bidi(html))


def _scrubbed(result: RunResult, scrubber: Scrubber) -> RunResult:
    clean = scrub_result(result, scrubber)
    if scrubber:  # scrub_result predates notes: scrub them here
        clean.cells = [replace(c, notes=[scrubber.text(n) for n in c.notes]) for c in clean.cells]
    return clean


def _error_place(result: RunResult, cell: CellResult | None) -> str | None:
    """Where the first error is: the YAML line; for a Jupyter input the line in the cell
    (a line of the .ipynb's JSON means little to a person reading the report)."""
    if cell is None:
        return None
    if result.ipynb_input:
        error = next((o for o in cell.outputs if o.output_type == "error"), None)
        n = traceback_line(cell.id, error.traceback) if error is not None else None
        return f"line {n} of the cell" if n else None
    line = error_line(cell)
    return f"line {line}" if line else None


def _parameter_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_html(result: RunResult, *, secrets: Sequence[str] = ()) -> str:
    """The whole report as one HTML document that needs nothing but itself."""
    scrubber = Scrubber(secrets)
    page = "".join(_page_pieces(result, scrubber))
    return scrubber.text(page) if scrubber else page


# Fragments of a report written again and again while its cells run (checkpoints), keyed by
# everything that could change a finished cell's fragment: each cell is rendered once.
FragmentCache = dict[tuple[Any, ...], Markup]


def _fragment_key(index: int, cell: CellResult) -> tuple[Any, ...]:
    return (
        index,
        cell.id,
        cell.source,
        cell.status,
        cell.attempts,
        cell.duration_ms,
        cell.reason,
        len(cell.outputs),
        tuple(cell.notes),
        # A later cell's update_display rewrites a display of a finished cell (str hashes are
        # cached, so this costs nothing per write once the strings exist).
        tuple(
            hash(value)
            for output in cell.outputs
            if output.output_type in ("display_data", "execute_result")  # + restored artifacts
            for value in output.data.values()
            if isinstance(value, str)
        ),
    )


def _fragments(cells: Sequence[CellResult], cache: FragmentCache | None) -> Iterator[Markup]:
    for i, cell in enumerate(cells):
        if cache is None:
            yield render_cell(cell, index=i)
            continue
        key = _fragment_key(i, cell)
        found = cache.get(key)
        if found is None:
            found = cache[key] = render_cell(cell, index=i)
        yield found


def _page_pieces(
    result: RunResult, scrubber: Scrubber, cache: FragmentCache | None = None
) -> Iterator[str]:
    """The page in pieces, each cell rendered as the template reaches it: a 2000-cell report
    never has the whole page in memory at once unless it must be scrubbed as a whole."""
    clean = _scrubbed(result, scrubber)
    first_error = next(
        (c for c in clean.cells if c.status in (CellStatus.FAILED, CellStatus.TIMEOUT)), None
    )
    error_output = None
    if first_error is not None:
        error_output = next((o for o in first_error.outputs if o.output_type == "error"), None)
    counts: dict[str, int] = {}
    for cell in clean.cells:
        if cell.cell_type == "code" or cell.status != CellStatus.NOT_EXECUTED:
            counts[cell.status.value] = counts.get(cell.status.value, 0) + 1
    pieces = (
        template_environment()
        .get_template("report.html.j2")
        .generate(
            result=clean,
            csp=REPORT_CSP,
            cells=_fragments(clean.cells, cache),
            first_error=first_error,
            first_error_line=_error_place(clean, first_error),
            error_output=error_output,
            counts=counts,
            parameters=[(k, _parameter_text(v)) for k, v in clean.parameters.items()],
        )
    )
    return map(show_bidi, pieces)  # a piece never ends inside a character


def prewarm() -> None:
    """Pay the report's one-time costs now: imports, template compiles, the Python lexer's
    regexes, the Markdown parser (about 0.13 s). The orchestrator calls it in a worker
    thread while it waits for a runtime that is still booting, when the GIL is idle."""
    env = template_environment()
    env.get_template("report.html.j2")
    env.get_template("cell.html.j2")
    _markdown()
    highlight_code("x = 1\n")
    stylesheet()
    _ansi()


def write_html(
    result: RunResult,
    path: Path,
    *,
    secrets: Sequence[str] = (),
    fragment_cache: FragmentCache | None = None,
) -> None:
    """Render and write the report atomically; a failure is an :class:`OutputWriteError`.

    ``fragment_cache``: shared by the writes of one run, so a finished cell is rendered once."""
    scrubber = Scrubber(secrets)
    result = spill_large_outputs(result, path, scrub=scrubber.text if scrubber else str)
    pieces = _page_pieces(result, scrubber, fragment_cache)
    data: str | Iterator[str] = scrubber.text("".join(pieces)) if scrubber else pieces
    try:
        write_file(path, data)
    except OSError as exc:
        raise OutputWriteError(f"could not write the HTML report {path}: {exc}") from exc
