"""A notebook's markdown cell inside the job summary, unable to break out of its place.

The author's markdown is shown as markdown, not escaped. But pasted into our document raw, it
could take over what follows: ``</details>`` closes our block, ``<!--`` or an unclosed code
fence swallows the rest of the summary, ``<pre>`` runs to the end. So each cell is parsed
with markdown-it (the CommonMark parser our tests render the summary with):

- markdown that has no raw HTML and ends where it starts (a sentinel paragraph after it still
  parses as its own paragraph) is inserted verbatim;
- anything else is rendered to HTML by markdown-it with raw HTML *disabled* (the author's tags
  shown as text), and inserted as one single-line ``<div>``: a well-formed fragment whose every
  text is escaped, which a CommonMark HTML block keeps whole because it has no blank line.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["contained_markdown", "is_self_contained"]

_SENTINEL = "runtsentinel0paragraph"
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S)


@cache
def _parser(html: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": html})
    md.enable(["table", "strikethrough"])
    return md


def _has_html(tokens: list[Token]) -> bool:
    for tok in tokens:
        if tok.type in ("html_block", "html_inline"):
            return True
        if tok.children and _has_html(tok.children):
            return True
    return False


def is_self_contained(source: str) -> bool:
    """No raw HTML, and what follows the cell (after a blank line) is not taken over by it."""
    md = _parser(True)
    if _has_html(md.parse(source)):
        return False
    rendered: str = md.render(source.rstrip("\n") + f"\n\n{_SENTINEL}\n")
    return rendered.endswith(f"<p>{_SENTINEL}</p>\n") and rendered.count(_SENTINEL) == 1


def _one_line(html: str) -> str:
    """HTML without newlines: ``&#10;`` keeps them inside <pre>, elsewhere they are spaces."""
    parts = _PRE.split(html)
    return "".join(
        p.replace("\n", "&#10;") if i % 2 else p.replace("\n", " ") for i, p in enumerate(parts)
    ).strip()


@lru_cache(maxsize=4096)  # the summary renders each cell once per size budget
def contained_markdown(source: str) -> str:
    """Markdown (or one line of HTML) to place between blank lines in the summary."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        return ""
    if is_self_contained(text):
        return text
    return f"<div>{_one_line(_parser(False).render(text))}</div>"
