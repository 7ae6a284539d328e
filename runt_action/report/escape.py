"""Escaping for every place untrusted text ends up: markdown, HTML, workflow commands.

Cell output and user input are hostile by default: a notebook must not be able to add
links, images or HTML to the job summary, nor issue workflow commands through the log.
"""

from __future__ import annotations

import re

__all__ = [
    "code_block",
    "code_span",
    "escape_command_data",
    "escape_command_property",
    "escape_html",
    "escape_md",
    "longest_backtick_run",
    "strip_ansi",
    "strip_controls",
    "unescape_command_data",
    "unescape_command_property",
]

# CSI (colours, cursor moves), OSC (titles, hyperlinks) and lone two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# C0/C1 controls except tab and newline; \r is dropped so "progress\rdone" shows "progressdone"
# rather than letting a carriage return start a new log or markdown line.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
# Every other ASCII punctuation character; CommonMark allows a backslash before any of them,
# so escaping them all neutralises emphasis, links, autolinks, lists, headings and tables.
_MD_PUNCT = frozenset("!#$%()*+,-./:;=?@[\\]^_`{|}~")


def strip_ansi(text: str) -> str:
    """Terminal colour codes mean nothing in markdown or a notebook viewer."""
    return _ANSI.sub("", text)


def strip_controls(text: str) -> str:
    """Drop ANSI sequences and control characters (keeping tab and newline)."""
    return _CONTROLS.sub("", strip_ansi(text))


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


def longest_backtick_run(text: str) -> int:
    return max(map(len, re.findall(r"`+", text)), default=0)


def code_block(text: str, *, info: str = "text") -> str:
    """A fenced block whose fence is longer than any backtick run, so nothing can close it."""
    body = strip_controls(text).rstrip("\n")
    fence = "`" * max(3, longest_backtick_run(body) + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def code_span(text: str) -> str:
    """Inline code that shows ``text`` literally and copyably (a path, an id); one line.

    Not for GFM table cells, where a ``|`` would still end the cell."""
    body = strip_controls(text).replace("\n", " ").replace("\t", " ")
    if not body:
        return ""
    fence = "`" * (longest_backtick_run(body) + 1)
    if body.startswith(("`", " ")) or body.endswith(("`", " ")):
        body = f" {body} "
    return f"{fence}{body}{fence}"


# GitHub's workflow-command escaping (actions/toolkit command.ts; the runner unescapes in the
# reverse order, '%' last).
def escape_command_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_command_property(text: str) -> str:
    return escape_command_data(text).replace(":", "%3A").replace(",", "%2C")


def unescape_command_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_command_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )
