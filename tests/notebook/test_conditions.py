from __future__ import annotations

import pytest

from runt_action.errors import NotebookError
from runt_action.notebook.conditions import CellFacts, compile_condition

FACTS = {
    "load": CellFacts(status="success", attempts=1, duration_ms=12.0),
    "flaky-one": CellFacts(status="failed", attempts=3),
}


@pytest.mark.parametrize(
    ("expr", "failed", "expected"),
    [
        ("success()", False, True),
        ("success()", True, False),
        ("failure()", True, True),
        ("failure()", False, False),
        ("always()", True, True),
        ('cells.load.status == "success"', False, True),
        ('cells["flaky-one"].status == "failed"', True, True),
        ('cells["flaky-one"].attempts >= 3 and not success()', True, True),
        ('cells.load.status in ("failed", "timeout")', False, False),
        ('cells.load.status not in ["failed", "timeout"]', False, True),
        ("cells.load.duration_ms < 100", False, True),
        ('failure() or cells.load.status == "success"', False, True),
        ("${{ always() }}", True, True),
        ("cells.load.status < 3", False, False),  # type mismatch is false, not a crash
        ("1 < 2 < 3", False, True),
        ("-1 < 0", False, True),
    ],
)
def test_evaluates(expr: str, failed: bool, expected: bool) -> None:
    cond = compile_condition(expr, earlier_cells=["load", "flaky-one"])
    assert cond.evaluate(FACTS, failed=failed) is expected


def test_status_functions_flag() -> None:
    assert compile_condition("always()").uses_status_function
    assert compile_condition("failure() and True").uses_status_function
    assert not compile_condition("success()").uses_status_function
    assert compile_condition('cells.a.status == "x"').cells == {"a"}


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "cells.load.status.__class__",
        "cells.load.__class__.__bases__",
        "cells.load.source",
        "().__class__.__base__.__subclasses__()",
        "[x for x in (1, 2)]",
        "lambda: 1",
        "success(1)",
        "success(x=1)",
        "os",
        "cells",
        "cells[0].status",
        "1 + 1",
        "'a' * 10**9",
        "None",
        "b'x' == b'x'",
        "f'{cells}'",
        "cells.load.status if True else 1",
        "(x := 1)",
        "success() is True",
        "[cells.load.status]",
        "",
        "success(",
        "x" * 2000,
    ],
)
def test_rejects_unsafe_or_unknown(expr: str) -> None:
    with pytest.raises(NotebookError):
        compile_condition(expr, earlier_cells=["load"])


def test_rejects_later_or_unknown_cells_with_location() -> None:
    with pytest.raises(NotebookError) as info:
        compile_condition(
            'cells.later.status == "success"', earlier_cells=["load"], file="nb.yml", line=7
        )
    assert str(info.value).startswith("nb.yml:7:1: ")
    assert "later" in str(info.value)


def test_unknown_cell_at_runtime_reads_as_skipped() -> None:
    cond = compile_condition('cells.ghost.status == "skipped"')
    assert cond.evaluate({}, failed=False)
