"""The last line of defence: no secret value leaves the process through a report.

The orchestrator already masks parameters, but secrets can still surface in cell output
(a notebook that prints its token). Every string a reporter writes goes through a
:class:`Scrubber`, which also knows the escaped spellings a value takes on its way out
(HTML entities, markdown escapes, JSON, workflow-command escaping).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TypeVar

import markupsafe

from runt_action.report.escape import escape_command_data, escape_html, escape_md
from runt_action.results import CellResult, RunResult

__all__ = ["MASK", "Scrubber", "scrub_cell", "scrub_result"]

MASK = "***"
T = TypeVar("T")


def _variants(secret: str) -> set[str]:
    found = {secret}
    found.add(escape_md(secret))
    found.add(escape_md(secret, newline="<br>"))
    found.add(escape_html(secret))
    found.add(str(markupsafe.escape(secret)))  # jinja's autoescape: " is &#34;, not &quot;
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


def scrub_cell(cell: CellResult, scrubber: Scrubber) -> CellResult:
    """A deep copy of one cell with every string scrubbed (``cell`` itself with no secrets)."""
    if not scrubber:
        return cell
    s = scrubber.deep
    return replace(
        cell,
        id=s(cell.id),
        source=s(cell.source),
        reason=s(cell.reason),
        notes=s(list(cell.notes)),
        outputs=[
            replace(
                out,
                name=s(out.name),
                text=s(out.text),
                data=s(dict(out.data)),
                metadata=s(dict(out.metadata)),
                ename=s(out.ename),
                evalue=s(out.evalue),
                traceback=s(list(out.traceback)),
            )
            for out in cell.outputs
        ],
    )


def scrub_result(result: RunResult, scrubber: Scrubber) -> RunResult:
    """A deep copy of ``result`` with every string scrubbed; reporters render only this."""
    if not scrubber:
        return result
    s = scrubber.deep
    cells = [scrub_cell(cell, scrubber) for cell in result.cells]
    return replace(
        result,
        notebook_url=s(result.notebook_url),
        title=s(result.title),
        source_file=s(result.source_file),
        cells=cells,
        parameters=s(dict(result.parameters)),
        error=s(result.error),
        location_note=s(result.location_note),
        timings=s(dict(result.timings)),
        artifacts=s(dict(result.artifacts)),
    )
