"""Escaping for every place untrusted text ends up: markdown, HTML, workflow commands.

Cell output and user input are hostile by default: a notebook must not be able to add
links, images or HTML to the job summary, nor issue workflow commands through the log.
The escapes a secret's spellings come from, and the terminal-text neutralising they build on,
live in :mod:`runt_action.masking` (the runtime agent masks with them too); they are
re-exported here.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from runt_action.masking import (
    escape_command_data,
    escape_html,
    escape_md,
    show_bidi,
    strip_ansi,
    strip_controls,
    terminal_safe,
)

__all__ = [
    "code_block",
    "code_span",
    "escape_command_data",
    "escape_command_property",
    "escape_html",
    "escape_md",
    "link_md",
    "longest_backtick_run",
    "show_bidi",
    "strip_ansi",
    "strip_controls",
    "terminal_safe",
    "unescape_command_data",
    "unescape_command_property",
]


def longest_backtick_run(text: str) -> int:
    return max(map(len, re.findall(r"`+", text)), default=0)


def link_md(text: str, url: str) -> str | None:
    """A markdown link only for plain http(s) URLs; anything else is not linked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    dest = quote(url, safe="/:?#[]@!$&*+,;=%~-._")  # percent-encodes ( ) < > " ' \ space
    return f"[{escape_md(text)}]({dest})"


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


# GitHub's workflow-command escaping (actions/toolkit command.ts; escape_command_data is in
# runt_action.masking); the runner unescapes in the reverse order, '%' last.
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
