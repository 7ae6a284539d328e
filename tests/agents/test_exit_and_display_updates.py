"""Issue #21 on every engine: ``sys.exit(0)`` is a clean end of a cell (papermill), other exit
codes fail it; ``update_display`` from a later cell rewrites the earlier cell's display."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from runt_action.agents.sink import clean_exit

if TYPE_CHECKING:  # conftest is not importable at run time (--import-mode=importlib)
    from conftest import AgentHarness, Notebook


@pytest.mark.parametrize(
    ("ename", "evalue", "clean"),
    [
        ("SystemExit", "", True),
        ("SystemExit", "0", True),
        ("SystemExit", "None", True),
        ("SystemExit", "3", False),
        ("SystemExit", "msg", False),
        ("ValueError", "0", False),
        (None, None, False),
    ],
)
def test_clean_exit(ename: str | None, evalue: str | None, clean: bool) -> None:
    assert clean_exit(ename, evalue) is clean


CLEAN = [
    "import sys\nsys.exit()",
    "import sys\nsys.exit(0)",
    "raise SystemExit",
    "import sys\nsys.exit(None)",
]
FAILING = {"import sys\nsys.exit('msg')": "msg", "raise SystemExit(3)": "3"}


async def test_sys_exit_zero_succeeds_and_other_codes_fail(
    notebook: Notebook, runtime: AgentHarness
) -> None:
    for source in CLEAN:
        cell, _, done = await notebook.run(f"print('before')\n{source}\nprint('AFTER')")
        assert done["status"] == "success", (source, done)
        assert done.get("error") is None
        assert notebook.text(cell) == "before\n"
        [err] = [o for o in notebook.outputs(cell) if o.output_type == "error"]
        assert '"ename":"SystemExit"' in (err.data or ""), err.data  # kept, as papermill does
    for source, code in FAILING.items():
        cell, _, done = await notebook.run(source)
        assert done["status"] == "error", (source, done)
        assert done["error"] == f"SystemExit: {code}"
    # The runtime survived every one of them.
    cell, _, done = await notebook.run("print('alive')")
    assert done["status"] == "success" and notebook.text(cell) == "alive\n"


async def test_update_display_from_a_later_cell(notebook: Notebook, runtime: AgentHarness) -> None:
    first, _, done = await notebook.run("h = display('a', display_id=True)")
    assert done["status"] == "success"
    [out] = notebook.outputs(first)
    assert out.display_id and out.data == "'a'"
    second, _, done = await notebook.run("h.update('b')\nprint('updated')")
    assert done["status"] == "success"
    [out] = notebook.outputs(first)  # the earlier cell's row was rewritten, none was added
    assert out.data == "'b'"
    assert [o.output_type for o in notebook.outputs(second)] == ["terminal"]
