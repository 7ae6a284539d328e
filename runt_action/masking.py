"""Secret masking, and the text neutralising it must know about (imports nothing of ours).

Neutral ground, like ``results.py``: the runtime agent masks outputs before it commits them
(``agents/`` must not import ``report/``), and every reporter masks what it writes. A secret
takes other spellings on its way out (HTML entities, markdown escapes, JSON, workflow-command
escaping), so the :class:`Scrubber` masks those too; the escapes that make them live here.

Terminal text is hostile as well: an escape sequence can retitle the window, move the cursor,
clear the screen or hide a hyperlink's target, and bidi controls ("Trojan Source") make text
read differently from what it is. The functions below turn such text into what may be shown:
every control removed except tab and newline (and SGR colours where a terminal or the runner's
log renders them), OSC 8 hyperlinks as ``text <url>``, bidi controls as a visible marker such
as ``⟦U+202E⟧``. Only what people read is neutralised: the executed .ipynb keeps the raw data,
as papermill does.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import markupsafe

__all__ = [
    "MASK",
    "Scrubber",
    "escape_command_data",
    "escape_html",
    "escape_md",
    "show_bidi",
    "strip_ansi",
    "strip_controls",
    "terminal_safe",
]

MASK = "***"
T = TypeVar("T")

# -- terminal text --------------------------------------------------------------------------

# OSC 8 hyperlink: ESC ] 8 ; params ; URI ST, the text, then the same with an empty URI.
# An opener that is never closed matches without its text.
_LINK = re.compile(
    r"\x1b\]8;[^;\x07\x1b]*;(?P<url>[^\x07\x1b]*)(?:\x07|\x1b\\)"
    r"(?:(?P<label>(?:(?!\x1b\]8;)[\s\S])*?)\x1b\]8;[^;\x07\x1b]*;(?:\x07|\x1b\\))?"
)
# CSI (colours, cursor moves, clears), OSC (titles, hyperlinks), DCS/SOS/PM/APC strings and
# every other escape (nF, Fp, Fe, Fs: charset switches, cursor save, full reset); a lone ESC.
_ESCAPE_BODY = (
    r"(?:\[[0-?]*[ -/]*[@-~]"
    r"|\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|[PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|[ -/]*[0-~])?"
)
# C0/C1 controls except tab, newline and ESC (handled above). \r is dropped so "progress\rdone"
# shows "progressdone": a carriage return must not start a new log or markdown line, nor
# overwrite what a terminal already shows.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_ANSI = re.compile(f"\x1b{_ESCAPE_BODY}")
# The same, except SGR colour sequences (ESC [ params m), which are left alone.
_ANSI_BUT_SGR = re.compile(f"\x1b(?!\\[[0-9;:]*m){_ESCAPE_BODY}")
# Unicode's explicit directional formatting characters (UAX #9) and the implicit marks.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _bidi_marker(char: str) -> str:
    return f"\u27e6U+{ord(char):04X}\u27e7"


def _link(match: re.Match[str]) -> str:
    url, label = match["url"], match["label"]
    if not url:  # a closer without an opener
        return label or ""
    if label is None:  # never closed: the rest is not a link any more, say where it went
        return f"<{url}> "
    shown = strip_ansi(label).strip()
    if not shown:
        return url
    return label if shown == url else f"{label} <{url}>"


def _links(text: str) -> str:
    """OSC 8 hyperlinks as ``text <url>``: the target is visible, nothing is clickable."""
    return _LINK.sub(_link, text) if "\x1b]8;" in text else text


def _neutralise(text: str, escapes: re.Pattern[str]) -> str:
    """Escapes first, then the other controls: what is left of an ESC is only ever a whole
    SGR sequence, which removing a control cannot change. Each pass starts from a literal or
    one character class and substitutes a fixed string, so plain and coloured text cost
    little; bidi controls, the one replacement that needs a call, are rare."""
    if "\x1b" in text:
        text = escapes.sub("", _links(text))
    text = _CONTROLS.sub("", text)
    return text if text.isascii() else show_bidi(text)


def strip_ansi(text: str) -> str:
    """Terminal escapes mean nothing in markdown or a notebook viewer; links keep their URL."""
    if "\x1b" not in text:
        return text
    return _ANSI.sub("", _links(text))


def strip_controls(text: str) -> str:
    """Plain text: ANSI sequences and control characters dropped (tab and newline kept),
    hyperlinks as ``text <url>``, bidi controls visible (:func:`show_bidi`)."""
    return _neutralise(text, _ANSI)


def terminal_safe(text: str) -> str:
    """Cell output for a terminal or the runner's log: like :func:`strip_controls`, but SGR
    colour sequences (``ESC[...m``) stay, since both render them and they can do no more."""
    return _neutralise(text, _ANSI_BUT_SGR)


def show_bidi(text: str) -> str:
    """Bidi controls as visible markers (``⟦U+202E⟧``), so text reads as what it is.

    For what people read (log, reports, viewer); the .ipynb keeps the raw data. ASCII text
    (the common case, known to CPython without a scan) has none."""
    if text.isascii():
        return text
    return _BIDI.sub(lambda m: _bidi_marker(m[0]), text)


# -- escapes a secret's spellings come from ---------------------------------------------------

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
# Every other ASCII punctuation character; CommonMark allows a backslash before any of them,
# so escaping them all neutralises emphasis, links, autolinks, lists, headings and tables.
_MD_PUNCT = frozenset("!#$%()*+,-./:;=?@[\\]^_`{|}~")


def _md_table(newline: str) -> dict[int, str]:
    table = {ord(ch): "\\" + ch for ch in _MD_PUNCT}
    table.update({ord(ch): ent for ch, ent in _HTML.items()})
    table[ord("\n")] = newline
    table[ord("\t")] = " "
    return table


_MD_TABLES: dict[str, dict[int, str]] = {}
_HTML_TABLE = {ord(ch): ent for ch, ent in _HTML.items()} | {ord("\n"): " "}


def escape_md(text: str, *, newline: str = " ") -> str:
    """Inline markdown text that renders literally, also inside a GFM table cell.

    One pass (``str.translate``), so entities produced for ``<>&"'`` are never escaped twice.
    Newlines become ``newline`` (a space by default: a newline would end a table row).
    """
    table = _MD_TABLES.get(newline)
    if table is None:
        table = _MD_TABLES[newline] = _md_table(newline)
    return strip_controls(text).translate(table)


def escape_html(text: str) -> str:
    """Text inside a raw HTML block (e.g. ``<summary>``), where markdown is not parsed."""
    return strip_controls(text).translate(_HTML_TABLE)


# GitHub's workflow-command escaping (actions/toolkit command.ts; the runner unescapes in the
# reverse order, '%' last).
def escape_command_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


# -- masking ----------------------------------------------------------------------------------


def _variants(secret: str) -> set[str]:
    found = {secret}
    found.add(escape_md(secret))
    found.add(escape_md(secret, newline="<br>"))
    found.add(escape_html(secret))
    found.add(str(markupsafe.escape(secret)))  # jinja's autoescape: " is &#34;, not &quot;
    found.add(html.escape(secret))  # Python's (a cell building HTML): ' is &#x27;
    found.add(repr(secret)[1:-1])  # a cell's last expression: text/plain is its repr
    found.add(escape_command_data(secret))
    found.add(json.dumps(secret)[1:-1])
    found.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    # GitHub masks a multi-line secret line by line; so do we.
    found.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 3)
    return {v for v in found if v}


class Scrubber:
    """Replaces every known secret (and its escaped forms) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret and secret.strip():
                values.update(_variants(secret))
        # Longest first, so a secret that contains another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    @property
    def secrets(self) -> list[str]:
        return list(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def partial_tail(self, text: str) -> int:
        """How many trailing characters of ``text`` could begin a secret (0: none).

        A stream writer holds those back until more text arrives, so a secret written in
        two pieces is still masked whole."""
        best = 0
        for secret in self._values:
            for k in range(min(len(secret) - 1, len(text)), best, -1):
                if text.endswith(secret[:k]):
                    best = k
                    break
        return best

    def stream(self, pieces: Iterable[str]) -> Iterator[str]:
        """:meth:`text` over a text that comes in pieces (a 100 MB output read from a file),
        never holding more than a piece and a secret's length: each piece goes out masked up
        to a cut no secret spans; the rest waits for the next piece."""
        carry = ""
        keep = max((len(s) for s in self._values), default=1) - 1
        for piece in pieces:
            text = carry + piece
            cut = len(text) - keep
            moved = True
            while moved and cut > 0:
                moved = False
                for secret in self._values:
                    hit = text.find(secret, max(0, cut - len(secret) + 1), cut + len(secret) - 1)
                    if hit != -1 and hit < cut:  # this occurrence spans the cut
                        cut, moved = hit, True
            if cut <= 0:
                carry = text
                continue
            yield self.text(text[:cut])
            carry = text[cut:]
        if carry:
            yield self.text(carry)

    def deep(self, value: T) -> T:
        """A copy of a JSON-like value (dicts, lists, strings) with every string scrubbed."""
        if not self._values:
            return value
        return self._deep(value)  # type: ignore[no-any-return]

    def _deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return type(value)((self._deep(k), self._deep(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self._deep(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._deep(v) for v in value)
        return value
