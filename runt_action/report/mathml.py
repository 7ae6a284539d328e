"""LaTeX math as MathML, made on our side: browsers draw MathML natively, with no script.

MathJax or KaTeX would need a script (the report's CSP allows none) or fonts and CSS from a
CDN (no network). ``latex2mathml`` is pure Python and small. An expression it cannot convert
stays visible as its source, marked (``math-error``, with the reason as a tooltip), never
dropped. The markdown side (which ``$`` starts math) is markdown-it's dollarmath and texmath
plugins, wired in :mod:`runt_action.report.html`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup

__all__ = ["latex_output", "math_html"]

# A text/latex output is usually one expression in $…$, $$…$$, \(…\), \[…\] or an
# environment (\begin{align}…); whatever it is, the whole text is converted when no
# delimiter pair wraps it.
_WRAPPED = re.compile(
    r"\A\s*(?:\$\$(?P<d>.*?)\$\$|\$(?P<i>.*?)\$|\\\[(?P<b>.*?)\\\]|\\\((?P<p>.*?)\\\))\s*\Z",
    re.S,
)


@lru_cache(maxsize=2048)
def math_html(latex: str, display: bool) -> Markup:
    """``<math>`` for one expression, or its source marked as not converted."""
    from latex2mathml.converter import convert

    source = latex.strip()
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises many kinds (its own, KeyError, ...)
        why = f"not rendered: {type(exc).__name__}: {exc}".strip().rstrip(":")
        tag = "div" if display else "span"
        delim = ("$$", "$$") if display else ("$", "$")
        return Markup('<{tag} class="math-error" title="{why}">{o}{src}{c}</{tag}>').format(
            tag=Markup(tag), why=why, o=delim[0], src=source, c=delim[1]
        )
    if display:
        return Markup('<div class="math display">{}</div>').format(Markup(mathml))
    return Markup('<span class="math inline">{}</span>').format(Markup(mathml))


def latex_output(text: str) -> Markup:
    """A ``text/latex`` output: one expression, shown as display math."""
    found = _WRAPPED.match(text)
    if found is None:
        return math_html(text, True)
    inline = found.group("i")
    if inline is not None:
        return math_html(inline, False)
    return math_html(found.group("d") or found.group("b") or found.group("p") or "", True)
