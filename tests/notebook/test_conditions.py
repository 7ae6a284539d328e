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
        ("cells.load.attempts < 'x'", False, False),  # type mismatch is false, not a crash
        ('cells.load.status == cells["flaky-one"].status', False, False),
        ('cells.load.status != "not-executed"', False, True),
        ("1 < 2 < 3", False, True),
        ("-1 < 0", False, True),
    ],
)
def test_evaluates(expr: str, failed: bool, expected: bool) -> None:
    cond = compile_condition(expr, earlier_cells=["load", "flaky-one"])
    assert cond.evaluate(FACTS, failed=failed) is expected


@pytest.mark.parametrize(
    ("expr", "uses", "overrides"),
    [
        ("always()", True, True),
        ("failure() and True", True, True),
        ("not failure()", True, True),  # mentions failure(): may run after a failure
        ('success() or cells.a.status == "failed"', True, False),
        ("success()", True, False),
        ('cells.a.status == "failed"', False, False),
        ("cells.a.attempts > 1", False, False),
    ],
)
def test_status_functions_and_stop_on_error(expr: str, uses: bool, overrides: bool) -> None:
    cond = compile_condition(expr)
    assert cond.uses_status_function is uses
    assert cond.overrides_stop is overrides
    assert cond.cells == ({"a"} if "cells" in expr else set())


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ('cells.load.status == "faild"', "unknown status 'faild'; did you mean 'failed'?"),
        ('"sucess" != cells.load.status', "unknown status 'sucess'; did you mean 'success'?"),
        ('cells.load.status in ("failed", "timed-out")', "did you mean 'timeout'?"),
        ('cells.load.status not in ["succeeded"]', "unknown status 'succeeded'"),
        ('cells.load.status == "ok"', "unknown status 'ok' (expected one of: success, failed"),
        ("cells.load.status == 1", "a status is a string, not 1"),
        ("cells.load.status == True", "a status is a string, not True"),
        ("cells.load.status < 3", "can only be compared with ==, != or in"),
        ('cells.load.status >= "failed"', "can only be compared with ==, != or in"),
        ('"fail" in cells.load.status', "can only be compared with ==, != or in"),
        ('cells.load.status in "failed timeout"', "test a status against a tuple"),
        ("cells.load.status < cells.load.status", "two statuses can only be compared"),
        ('1 < 2 and cells.load.status == "faild"', "did you mean 'failed'?"),
        ('"failed" == cells.load.status == "faild"', "did you mean 'failed'?"),
    ],
)
def test_rejects_unknown_status_literals(expr: str, message: str) -> None:
    with pytest.raises(NotebookError) as info:
        compile_condition(expr, earlier_cells=["load"])
    assert message in str(info.value)


def test_every_documented_status_is_accepted() -> None:
    from runt_action.notebook.conditions import STATUS_VALUES
    from runt_action.results import CellStatus

    assert tuple(s.value for s in CellStatus) == STATUS_VALUES
    for status in STATUS_VALUES:
        cond = compile_condition(f"cells.load.status == {status!r}", earlier_cells=["load"])
        assert cond.evaluate({"load": CellFacts(status=status)}, failed=False)


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
