"""Terminal escapes, hyperlinks and bidi controls from cell output are shown as what they are.

Pure functions first (runt_action.masking, re-exported by report.escape), then each place
people read output: the live log, the terminal report, the job summary and the HTML report.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runt_action.report import live_log
from runt_action.report.escape import (
    escape_md,
    show_bidi,
    strip_ansi,
    strip_controls,
    terminal_safe,
)
from runt_action.report.html import ansi_html, render_cell, render_html
from runt_action.report.scrub import MASK, Scrubber
from runt_action.report.summary import render_summary
from runt_action.report.terminal import render_terminal
from runt_action.results import CellOutput, CellStatus

ESC = "\x1b"
TITLE = f"{ESC}]0;pwned title\x07"
CLEAR = f"{ESC}[2J{ESC}[H"
UP = f"{ESC}[3A{ESC}[K"
LINK = f"{ESC}]8;;https://evil.example/x{ESC}\\click here{ESC}]8;;{ESC}\\"
LINK_BEL = f"{ESC}]8;id=7;https://evil.example/y\x07docs{ESC}]8;;\x07"
RED = f"{ESC}[1;31mred{ESC}[0m"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Everything hostile at once, as a cell might print it.
EVIL = f"{TITLE}{CLEAR}{RED} {LINK} {UP}x{ESC}c{ESC}P1$r{ESC}\\ \x9b31m a\x08b\rc {RLO}txt.exe\n"

# What may survive: SGR sequences (with keep_sgr), tab, newline, printable text.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean(text: str, *, keep_sgr: bool) -> bool:
    rest = _SGR.sub("", text) if keep_sgr else text
    return _BAD.search(rest) is None


# -- pure functions ---------------------------------------------------------------------------


def test_terminal_safe_keeps_colours_and_nothing_else() -> None:
    assert terminal_safe(EVIL) == (
        f"{RED} click here <https://evil.example/x> x 31m abc ⟦U+202E⟧txt.exe\n"
    )


def test_strip_controls_drops_colours_too() -> None:
    assert (
        strip_controls(EVIL)
        == "red click here <https://evil.example/x> x 31m abc ⟦U+202E⟧txt.exe\n"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (LINK, "click here <https://evil.example/x>"),
        (LINK_BEL, "docs <https://evil.example/y>"),
        # the URL as its own text: once; coloured text keeps its colour where allowed
        (f"{ESC}]8;;https://a.b/{ESC}\\https://a.b/{ESC}]8;;{ESC}\\", "https://a.b/"),
        (f"{ESC}]8;;https://a.b/\x07{RED}{ESC}]8;;\x07", f"{RED} <https://a.b/>"),
        (f"{ESC}]8;;https://a.b/\x07{ESC}]8;;\x07", "https://a.b/"),  # no text
        (f"{ESC}]8;;https://a.b/\x07never closed", "<https://a.b/> never closed"),
        (f"stray closer{ESC}]8;;\x07", "stray closer"),
        (
            f"{ESC}]8;;https://a.b/\x07one{ESC}]8;;\x07 and {LINK}",
            ("one <https://a.b/> and click here <https://evil.example/x>"),
        ),
    ],
)
def test_hyperlinks_show_their_target(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown
    assert strip_controls(text) == _SGR.sub("", shown)
    assert strip_ansi(text) == _SGR.sub("", shown)


def test_every_bidi_control_is_made_visible() -> None:
    shown = show_bidi(f"a{BIDI}b")
    assert shown == "a" + "".join(f"⟦U+{ord(c):04X}⟧" for c in BIDI) + "b"
    assert strip_controls(BIDI) == terminal_safe(BIDI) == show_bidi(BIDI)
    assert escape_md(RLO) == "⟦U\\+202E⟧"  # markdown escapes the marker like any text
    assert show_bidi("plain עברית ✓") == "plain עברית ✓"


def test_plain_text_is_returned_as_it_is() -> None:
    text = "no controls here\tjust text\n"
    assert terminal_safe(text) is text and strip_controls(text) is text


hostile = st.lists(
    st.sampled_from(
        [
            *"ab \t\n\r\x00\x07\x08\x1b\x9b\x9c\x9d;[]\\m0123489:",
            *(ESC + "[", ESC + "]", ESC + "]8;;", ESC + "\\", "http://x", RLO, "\u2066"),
            *(TITLE, CLEAR, RED, LINK, LINK_BEL, UP, "é", "🔑"),
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(text=hostile)
def test_nothing_but_sgr_survives(text: str) -> None:
    """Whatever is printed, the result holds no control but tab, newline and SGR sequences."""
    safe = terminal_safe(text)
    assert _clean(safe, keep_sgr=True), repr(safe)
    assert _clean(strip_controls(text), keep_sgr=False)
    assert terminal_safe(safe) == safe  # idempotent: neutralising twice changes nothing


def test_a_secret_is_masked_in_its_repr_and_python_html_spellings() -> None:
    secret = "a'b\"c<d>&é"
    scrubber = Scrubber([secret])
    assert scrubber.text(repr(secret)) == f"'{MASK}'"
    assert scrubber.text(html.escape(secret)) == MASK


# -- where people read it ---------------------------------------------------------------------


def test_live_log_outside_actions_keeps_colours_only(make: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False, secrets=["hunter2-x"])
    log.on_cell_start("c", 0, 1)
    log.on_output("c", CellOutput("stream", name="stdout", text=EVIL))
    log.on_output("c", CellOutput("stream", name="stdout", text=f"hunter2{RLO}-x\n"))
    error = make.error("ValueError", f"bad {RLO}name")
    log.on_output("c", error)
    log.on_cell_end(make.cell("c", CellStatus.FAILED, outputs=[error]))
    text = out.getvalue()
    assert f"{RED} click here <https://evil.example/x> x 31m abc ⟦U+202E⟧txt.exe\n" in text
    assert "⟦U+202E⟧" in text and "pwned" not in text
    assert _clean(text, keep_sgr=True), repr(text)
    assert "✗ Cell c: failed in 12 ms: ValueError: bad ⟦U+202E⟧name" in text


def test_live_log_in_actions_keeps_colours_only(make: Any, runner: Any) -> None:
    out = io.StringIO()
    log = live_log(github_actions=True, stream=out)
    log.on_cell_start("c", 0, 1)
    log.on_output("c", CellOutput("stream", name="stdout", text=EVIL))
    log.on_cell_end(make.cell("c"))
    text = out.getvalue()
    assert _clean(text, keep_sgr=True), repr(text)
    assert f"{RED} click here <https://evil.example/x>" in "\n".join(runner(text).shown)


def test_a_secret_with_a_bidi_control_is_scrubbed_before_it_is_made_visible(make: Any) -> None:
    secret = f"abc{RLO}def"
    out = io.StringIO()
    log = live_log(github_actions=False, stream=out, tty=False, secrets=[secret])
    log.on_cell_start("c", 0, 1)
    log.on_output("c", CellOutput("stream", name="stdout", text=f"t={secret}\n"))
    error = make.error("E", secret)
    log.on_output("c", error)
    log.on_cell_end(make.cell("c", CellStatus.FAILED, outputs=[error]))
    text = out.getvalue()
    assert "t=***\n" in text and "E: ***" in text
    assert "abc" not in text and "def" not in text


def _hostile_result(make: Any) -> Any:
    error = make.error("ValueError", f"bad {RLO}gnp.exe")
    cell = make.cell(
        "c1",
        CellStatus.FAILED,
        source=f"x = 1  # {RLO} admin",
        outputs=[CellOutput("stream", name="stdout", text=EVIL), error],
        reason=None,
    )
    notes = make.cell(
        "intro", CellStatus.NOT_EXECUTED, cell_type="markdown", source=f"Read {RLO}me"
    )
    return make.result([notes, cell], title=f"Report {RLO}fdp.exe")


def test_terminal_report_shows_links_and_bidi(make: Any) -> None:
    lines = render_terminal(_hostile_result(make))
    text = "\n".join(lines)
    assert _clean(text, keep_sgr=False), repr(text)
    assert "✗ Report ⟦U+202E⟧fdp.exe: failed" in lines[0]
    assert "  ValueError: bad ⟦U+202E⟧gnp.exe" in lines


def test_job_summary_shows_bidi_visibly(make: Any, render_md: Callable[[str], str]) -> None:
    summary = render_summary(_hostile_result(make))
    assert _BAD.search(summary) is None, repr(summary)
    assert "⟦U\\+202E⟧fdp\\.exe" in summary  # the title, markdown-escaped
    assert "⟦U+202E⟧txt.exe" in summary  # the output, in a code block
    assert "click here <https://evil.example/x>" in summary
    assert "x = 1  # ⟦U+202E⟧ admin" in summary  # the source
    assert "Read ⟦U+202E⟧me" in summary  # a markdown cell
    rendered = render_md(summary)
    assert "evil.example" not in "".join(re.findall(r'href="([^"]*)"', rendered))


def test_html_report_shows_link_targets_and_bidi(make: Any) -> None:
    page = render_html(_hostile_result(make))
    assert _BAD.search(page) is None, repr(page)
    assert "evil.example" not in "".join(re.findall(r'href="([^"]*)"', page))
    assert "click here &lt;https://evil.example/x&gt;" in page
    assert "pwned" not in page
    assert "Report ⟦U+202E⟧fdp.exe" in page
    assert "⟦U+202E⟧gnp.exe" in page
    assert "Read ⟦U+202E⟧me" in page


def test_html_keeps_colours_and_shows_bel_links_as_text() -> None:
    shown = str(ansi_html(f"{RED} {LINK_BEL}"))
    assert "<a" not in shown and "docs &lt;https://evil.example/y&gt;" in shown
    assert re.search(r'<span style="[^"]*color[^"]*">red</span>', shown), shown
    assert str(ansi_html("10%\r20%\r\n")) == "10%\n20%\n"  # as a browser shows a CR in <pre>


def test_a_cell_fragment_for_the_viewer_shows_bidi(make: Any) -> None:
    cell = make.cell("c", outputs=[CellOutput("stream", name="stdout", text=f"{RLO}x\n")])
    fragment = str(render_cell(cell, status="running"))
    assert RLO not in fragment and "⟦U+202E⟧x" in fragment
