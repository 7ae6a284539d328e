"""The JUnit writer on records: the dialect's shape, read back by junitparser."""

from __future__ import annotations

from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped

from runt_action.report.junit import render_junit, write_junit
from runt_action.report.records import CellRecord, EntryRecord


def _entry(status: str, cells: list[CellRecord], **kw: object) -> EntryRecord:
    base: dict[str, object] = {
        "name": "nb/x.yml",
        "path": "nb/x.yml",
        "label": None,
        "source_file": "nb/x.yml",
        "status": status,
        "duration_ms": 1500.0,
    }
    base.update(kw)
    return EntryRecord(cells=cells, **base)  # type: ignore[arg-type]


def test_every_verdict_has_its_element(tmp_path: Path) -> None:
    entry = _entry(
        "failed",
        [
            CellRecord("ok", "success", 12.0, stdout="hi\n"),
            CellRecord("allowed", "allowed-error", 3.0, message="KeyError: 'k'"),
            CellRecord("bad", "failed", 250.0, line=7, message="ValueError: no", traceback="tb"),
            CellRecord("slow", "timeout", 2000.0, reason="the cell timeout (2 s) expired"),
            CellRecord("gone", "cancelled", 0.0, reason="cancelled by a signal"),
            CellRecord("later", "skipped", reason="an earlier cell failed"),
            CellRecord("raw", "not-executed"),
        ],
    )
    path = tmp_path / "j.xml"
    write_junit(path, [entry])
    (suite,) = JUnitXml.fromfile(str(path))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (6, 2, 1, 1)
    assert suite.time == 1.5
    cases = {c.name: c for c in suite}
    assert "raw" not in cases  # raw and markdown cells are not tests
    assert cases["ok"].result == [] and cases["ok"].system_out == "hi\n"
    assert cases["ok"].time == 0.012
    assert "allowed error: KeyError: 'k'" in (cases["allowed"].system_out or "")
    (failure,) = cases["bad"].result
    assert isinstance(failure, Failure) and failure.type == "ValueError"
    assert (failure.message, failure.text) == ("ValueError: no", "tb")
    assert cases["bad"]._elem.get("line") == "7"
    assert isinstance(cases["slow"].result[0], Failure)
    assert cases["slow"].result[0].type == "CellTimeout"
    assert isinstance(cases["gone"].result[0], Error)
    assert isinstance(cases["later"].result[0], Skipped)


def test_a_run_error_without_a_failed_cell_is_not_lost() -> None:
    entry = _entry("error", [CellRecord("ok", "success")], error="the runtime agent failed")
    (suite,) = JUnitXml.fromstring(render_junit([entry]).encode())
    cases = {c.name: c for c in suite}
    assert (suite.tests, suite.errors) == (2, 1)
    assert cases["(run)"].result[0].message == "the runtime agent failed"


def test_sweep_sets_name_their_cases_and_xml_forbidden_characters_are_replaced() -> None:
    entry = _entry(
        "success",
        [CellRecord("c", "success", stdout="bell \x07 and \x1b[0m")],
        name="nb/x.yml [2-n-3]",
        label="2-n-3",
    )
    text = render_junit([entry])
    (suite,) = JUnitXml.fromstring(text.encode())
    (case,) = suite
    assert (suite.name, case.name, case.classname) == ("nb/x.yml [2-n-3]", "c [2-n-3]", "nb/x.yml")
    assert case.system_out == "bell \ufffd and \ufffd[0m"
