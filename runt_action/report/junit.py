"""JUnit XML of a suite, in the dialect Jenkins, GitLab, dorny/test-reporter and
mikepenz/action-junit-report read (the de-facto "JUnit 10" schema of Ant/Maven Surefire).

One ``<testsuite>`` per entry (notebook, or one set of a sweep), one ``<testcase>`` per cell
that was to execute (classname = the notebook's path, name = the cell id, plus ``[set]`` in a
sweep); markdown and raw cells are not tests. A failed or timed-out cell is a ``<failure>``
(message ``ename: evalue``, the traceback as text), a cancelled one an ``<error>``, a skipped
one ``<skipped>`` with its reason; an allowed error passes and says so in ``<system-out>``. A run
that failed without a failing cell (the runtime died, files did not come back) gets one more
``<testcase name="(run)">`` with an ``<error>``, so no failure is lost. Times are seconds.
Everything comes from records already scrubbed of secrets; characters XML 1.0 forbids become
U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from runt_action.report.records import CellRecord, EntryRecord

__all__ = ["render_junit", "write_junit"]

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_FAILED = ("failed", "timeout")
_NOT_TESTS = ("not-executed",)


def _x(text: str | None) -> str:
    return _INVALID_XML.sub("\ufffd", text or "")


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}"


def render_junit(entries: Sequence[EntryRecord], *, name: str = "runt-automate") -> str:
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_ms = 0.0
    for entry in entries:
        suite, counts = _suite(entry)
        root.append(suite)
        for k in totals:
            totals[k] += counts[k]
        total_ms += entry.duration_ms
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", _seconds(total_ms))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, entries: Sequence[EntryRecord]) -> None:
    from runt_action.report.files import write_text_atomic

    write_text_atomic(path, render_junit(entries))


def _suite(entry: EntryRecord) -> tuple[ET.Element, dict[str, int]]:
    suite = ET.Element("testsuite", name=_x(entry.name))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("notebook", entry.source_file),
        ("status", entry.status),
        ("notebook-id", entry.notebook_id),
        ("report", entry.html or entry.ipynb or ""),
    ):
        if value:
            ET.SubElement(props, "property", name=key, value=_x(value))
    classname = _x(entry.path)
    suffix = f" [{entry.label}]" if entry.label else ""
    had_problem = False
    for cell in entry.cells:
        if cell.status in _NOT_TESTS:
            continue
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name=_x(cell.id + suffix),
            time=_seconds(cell.duration_ms),
            file=_x(entry.path),
        )
        if cell.line:
            case.set("line", str(cell.line))
        counts["tests"] += 1
        kind = _verdict(cell, case)
        if kind is not None:
            counts[kind] += 1
            had_problem = had_problem or kind in ("failures", "errors")
        _streams(cell, case)
    if entry.status in ("error", "cancelled", "failed") and not had_problem:
        case = ET.SubElement(
            suite, "testcase", classname=classname, name="(run)" + suffix, time="0.000"
        )
        message = entry.error or f"the run ended {entry.status}"
        error = ET.SubElement(case, "error", message=_x(message), type=entry.status)
        error.text = _x(message)
        counts["tests"] += 1
        counts["errors"] += 1
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", _seconds(entry.duration_ms))
    if entry.started_at:
        suite.set("timestamp", entry.started_at.removesuffix("Z"))
    suite.set("file", _x(entry.path))
    return suite, counts


def _verdict(cell: CellRecord, case: ET.Element) -> str | None:
    """Add the cell's failure/error/skipped element; which count it adds to."""
    if cell.status in _FAILED:
        message = cell.message or cell.reason or f"cell {cell.status}"
        kind = "CellTimeout" if cell.status == "timeout" else message.split(":", 1)[0]
        failure = ET.SubElement(case, "failure", message=_x(message), type=_x(kind))
        failure.text = _x(cell.traceback or message)
        return "failures"
    if cell.status == "cancelled":
        message = cell.reason or "cancelled"
        error = ET.SubElement(case, "error", message=_x(message), type="Cancelled")
        error.text = _x(message)
        return "errors"
    if cell.status == "skipped":
        ET.SubElement(case, "skipped", message=_x(cell.reason or "skipped"))
        return "skipped"
    return None


def _streams(cell: CellRecord, case: ET.Element) -> None:
    out = cell.stdout
    if cell.status == "allowed-error":
        note = f"allowed error: {cell.message or ''}\n{cell.traceback}".rstrip() + "\n"
        out = f"{out}{note}"
    if out:
        ET.SubElement(case, "system-out").text = _x(out)
    if cell.stderr:
        ET.SubElement(case, "system-err").text = _x(cell.stderr)
