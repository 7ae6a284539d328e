"""Warm the writers in a background thread while cells run, so publishing does not pay it.

The first .ipynb costs nbformat's import and its 4.5 schema compile (~0.17 s); the first
HTML report costs markdown-it, Pygments (its Python lexer's regexes) and the templates
(~0.25 s). A short run spends that time waiting on its runtime anyway. Measured with
`make bench` (docs/benchmarks.md, "prewarm"): kept because it cuts the native end-to-end
time by well over the 5% bar; every step is idempotent and the thread is a daemon.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["prewarm"]


def _warm(html: bool) -> None:
    with contextlib.suppress(Exception):
        from nbformat.validator import get_validator

        get_validator(version=4, version_minor=5)  # type: ignore[no-untyped-call]
    if html:
        with contextlib.suppress(Exception):
            from runt_action.report import html as report_html

            env = report_html.template_environment()
            env.get_template("report.html.j2")
            env.get_template("cell.html.j2")
            report_html.highlight_code("x = 1\n")
            report_html.render_markdown("*warm*")


def prewarm(*, html: bool = True) -> threading.Thread:
    thread = threading.Thread(target=_warm, args=(html,), name="report-prewarm", daemon=True)
    thread.start()
    return thread
