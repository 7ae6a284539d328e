"""HTML from a notebook (``text/html`` outputs, raw HTML in markdown) made safe to inline.

Sanitiser: **nh3**, the Python binding of Rust's ammonia. It parses with html5ever (the
spec's parsing algorithm, as a browser does, so no parser-differential tricks), works from an
allow-list, is maintained, fast (a 300-row DataFrame in about 2 ms here, 4 MB of table in
about 1.4 s) and has no dependencies. bleach, the usual Python choice, is deprecated; lxml's
Cleaner moved out of lxml and is a deny-list.

Kept: text formatting, tables, lists, ``<details>``, images from ``data:`` URLs, links (they
are navigations a person chooses, never a request the page makes), MathML, and inline styles
limited to properties that cannot load anything or cover the page (no ``url()``, no
``position``). Dropped: scripts, event handlers, forms and their controls, frames and embeds,
``<style>`` sheets (they would restyle the whole page), every other URL, ``id`` and ``class``
(they would collide with the report's own; our markdown's few classes excepted). What was
dropped is said in a note next to the output (:attr:`Sanitized.removed`); pandas' standard
``.dataframe`` style sheet, which the page's own table style replaces, is the one removal
not worth a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Sanitized", "sanitize_html"]

_MATHML_TAGS = frozenset(
    [
        "math",
        "mrow",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "mfrac",
        "msqrt",
        "mroot",
        "msup",
        "msub",
        "msubsup",
        "mover",
        "munder",
        "munderover",
        "mtable",
        "mtr",
        "mtd",
        "mstyle",
        "mpadded",
        "mphantom",
        "menclose",
        "mfenced",
        "merror",
        "semantics",
        "annotation",
    ]
)
TAGS = (
    frozenset(
        [
            "a",
            "abbr",
            "acronym",
            "article",
            "aside",
            "b",
            "bdi",
            "bdo",
            "blockquote",
            "br",
            "caption",
            "center",
            "cite",
            "code",
            "col",
            "colgroup",
            "data",
            "dd",
            "del",
            "details",
            "dfn",
            "div",
            "dl",
            "dt",
            "em",
            "figcaption",
            "figure",
            "footer",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "header",
            "hgroup",
            "hr",
            "i",
            "img",
            "ins",
            "kbd",
            "li",
            "mark",
            "nav",
            "ol",
            "p",
            "pre",
            "q",
            "rp",
            "rt",
            "rtc",
            "ruby",
            "s",
            "samp",
            "small",
            "span",
            "strike",
            "strong",
            "sub",
            "summary",
            "sup",
            "table",
            "tbody",
            "td",
            "tfoot",
            "th",
            "thead",
            "time",
            "tr",
            "tt",
            "u",
            "ul",
            "var",
            "wbr",
        ]
    )
    | _MATHML_TAGS
)

_TABLE_CELL = {"colspan", "rowspan", "headers", "scope", "align", "valign", "width", "nowrap"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "summary", "align", "width"},
    "td": _TABLE_CELL,
    "th": _TABLE_CELL,
    "tr": {"align", "valign"},
    "thead": {"align", "valign"},
    "tbody": {"align", "valign"},
    "col": {"span", "width", "align"},
    "colgroup": {"span", "width", "align"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "details": {"open"},
    "time": {"datetime"},
    "data": {"value"},
    "math": {"display", "xmlns"},
    "mi": {"mathvariant"},
    "mn": {"mathvariant"},
    "mtext": {"mathvariant"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "form", "largeop",
           "movablelimits", "accent", "minsize", "maxsize", "symmetric"},
    "mfrac": {"linethickness"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mtable": {"columnalign", "rowalign", "rowspacing", "columnspacing", "displaystyle"},
    "mtr": {"columnalign", "rowalign"},
    "mtd": {"columnalign", "rowalign", "rowspan", "columnspan"},
    "mstyle": {"displaystyle", "scriptlevel", "mathvariant"},
    "mspace": {"width", "height", "depth"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "menclose": {"notation"},
    "mfenced": {"open", "close", "separators"},
    "annotation": {"encoding"},
}  # fmt: skip

#: The only classes kept: the ones our own markdown renderer writes (math, remote-image
#: links); an author's classes would otherwise pick up the page's styles (a fake badge).
CLASSES: dict[str, set[str]] = {
    "a": {"ext-image"},
    "span": {"math", "inline", "math-error"},
    "div": {"math", "display", "math-error"},
}

#: CSS properties kept in ``style``: looks only. Nothing that positions an element over the
#: page (position, z-index, transform), hides content (visibility, opacity, display:none) or
#: loads a URL.
STYLE_PROPERTIES = frozenset(
    [
        "color",
        "background-color",
        "font-weight",
        "font-style",
        "font-size",
        "font-family",
        "font-variant",
        "text-align",
        "text-decoration",
        "text-transform",
        "text-indent",
        "vertical-align",
        "white-space",
        "word-break",
        "overflow-wrap",
        "line-height",
        "letter-spacing",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "border",
        "border-top",
        "border-right",
        "border-bottom",
        "border-left",
        "border-color",
        "border-style",
        "border-width",
        "border-collapse",
        "border-spacing",
        "border-radius",
        "width",
        "min-width",
        "max-width",
        "height",
        "min-height",
        "max-height",
        "caption-side",
        "empty-cells",
        "list-style-type",
        # side by side (DataFrames shown next to each other): layout, never hiding
        "display",
        "float",
        "clear",
        "flex",
        "flex-direction",
        "flex-wrap",
        "justify-content",
        "align-items",
        "gap",
        "column-gap",
        "row-gap",
    ]
)
#: Values that would hide content, refused even for an allowed property.
_HIDING = {"display": ("none", "contents")}

_LOADS = re.compile(r"url\s*\(|image-set\s*\(|expression\s*\(|@import|\\", re.I)
_LINK_SCHEMES = ("http://", "https://", "mailto:", "#")

_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_HANDLER = re.compile(r"[\s/](on[a-z]+)\s*=")  # on the lower-cased text
# What is counted for the note, by tag name (str.count on the lower-cased text: a 4 MB table
# is scanned in milliseconds, where one regex per kind took a tenth of a second each).
_COUNTED = {
    "script": ("<script",),
    "form control": ("<form", "<input", "<button", "<select", "<textarea"),
    "frame or embed": ("<iframe", "<frame", "<object", "<embed", "<applet"),
    "link/meta/base element": ("<link", "<meta", "<base"),
    "javascript: URL": ("javascript:",),
}
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)(?:</style\s*>|\Z)", re.I | re.S)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CSS_RULE = re.compile(r"([^{}]+)\{[^{}]*\}")


@dataclass(frozen=True, slots=True)
class Sanitized:
    html: str
    removed: tuple[str, ...]  # what was dropped, for a visible note ("1 script", ...)


def _pandas_only(css: str) -> bool:
    """pandas' own sheet (``.dataframe tbody tr th {...}``): the page styles tables anyway."""
    rules = _CSS_RULE.findall(_CSS_COMMENT.sub("", css))
    selectors = [s.strip() for rule in rules for s in rule.split(",")]
    return bool(selectors) and all(s.startswith(".dataframe") for s in selectors)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _removed_parts(html: str, dropped_urls: list[str], styles: list[str]) -> list[str]:
    parts: list[str] = []
    low = html.lower()
    for what, needles in _COUNTED.items():
        n = sum(low.count(needle) for needle in needles)
        if n:
            parts.append(_plural(n, what))
    handlers = []
    if _HANDLER.search(low):  # only then tag by tag (a big table has many tags)
        handlers = [h for tag in _TAG.findall(low) for h in _HANDLER.findall(tag)]
    if handlers:
        names = ", ".join(dict.fromkeys(handlers))
        parts.append(f"{_plural(len(handlers), 'event handler')} ({names})")
    sheets = []
    if "<style" in low:
        sheets = [css for css in _STYLE_BLOCK.findall(html) if not _pandas_only(css)]
    if sheets:
        parts.append(_plural(len(sheets), "<style> sheet"))
    if styles:
        names = ", ".join(dict.fromkeys(styles))
        parts.append(f"{_plural(len(styles), 'style declaration')} ({names})")
    if dropped_urls:
        shown = ", ".join(dropped_urls[:3]) + (" …" if len(dropped_urls) > 3 else "")
        parts.append(f"{_plural(len(dropped_urls), 'external URL')} ({shown})")
    return parts


def _safe_style(value: str, dropped: list[str]) -> str | None:
    """The declarations of an allowed property that load nothing; the others' names go to
    ``dropped``."""
    kept = []
    for declaration in value.split(";"):
        name, colon, rest = declaration.partition(":")
        name = name.strip().lower()
        if not name and not rest.strip():
            continue
        hides = rest.strip().lower().removesuffix("!important").strip() in _HIDING.get(name, ())
        if colon and name in STYLE_PROPERTIES and not _LOADS.search(rest) and not hides:
            kept.append(f"{name}:{rest.strip()}")
        else:
            dropped.append(name or declaration.strip()[:40])
    return ";".join(kept) or None


#: Outputs up to this size are remembered (the live page re-renders a changed cell's
#: neighbours); a bigger one is sanitised each time instead of pinned in memory.
CACHED_CHARS = 64 * 1024


def sanitize_html(html: str) -> Sanitized:
    """``html`` reduced to the allow-list above, and what was removed."""
    return _cached(html) if len(html) <= CACHED_CHARS else _sanitize(html)


@lru_cache(maxsize=256)
def _cached(html: str) -> Sanitized:
    return _sanitize(html)


def _sanitize(html: str) -> Sanitized:
    import nh3

    dropped: list[str] = []
    styles: list[str] = []

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr == "style":
            return _safe_style(value, styles)
        if attr == "src":
            if value.startswith("data:image/"):
                return value
            dropped.append(value[:80])
            return None
        if attr == "href":
            if value.startswith(_LINK_SCHEMES):
                return value
            if not value.lower().startswith("javascript:"):  # counted on its own
                dropped.append(value[:80])
            return None
        return value

    clean = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags={"script", "style", "template", "noscript", "textarea", "select"},
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        allowed_classes=CLASSES,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Sanitized(clean, tuple(_removed_parts(html, dropped, styles)))
