"""What cells see and produce in Pyodide, on one engine shared by the module (boots cost)."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide import PyodideEngine, paths
from runt_action.agents.recording import RecordingSink

pytestmark = [pytest.mark.pyodide, pytest.mark.asyncio(loop_scope="module")]
WAIT_S = 50.0  # bounds each wait below the 120 s test timeout; never reached when it passes
IDLE_S = 15.0  # a trivial cell on an idle engine takes milliseconds


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[PyodideEngine]:
    """Boots from the user's snapshot cache, like a real run after setup-pyodide.sh."""
    eng = PyodideEngine(env={"RUNT_SECRET": "s3cr3t"})
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def idle_engine(engine: PyodideEngine) -> AsyncIterator[None]:
    """Hands every test an idle engine, even after a test failed with its cell still running.

    Without this, one lost interrupt left ``while True`` spinning and every later test of the
    module queued behind it until its 120 s timeout (about ten minutes of failures for one).
    A restart is reported as a warning, never silent.
    """
    yield
    try:
        await asyncio.wait_for(engine.execute("None", RecordingSink()), IDLE_S)
    except Exception as exc:  # busy (timed out) or dead: boot a fresh one for the rest
        warnings.warn(
            f"Pyodide engine restarted after a test left it unusable: {exc!r}", stacklevel=1
        )
        await engine.restart()


def proc_files(pid: int) -> tuple[bytes, bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes(), Path(f"/proc/{pid}/environ").read_bytes()


async def run(engine: PyodideEngine, code: str) -> tuple[ExecStatus, RecordingSink]:
    sink = RecordingSink()
    outcome = await engine.execute(code, sink)
    return outcome.status, sink


# ------------------------------------------------------------------------------------ outputs


async def test_namespace_persists_and_execution_count_grows(engine: PyodideEngine) -> None:
    first = await engine.execute("x = 20", RecordingSink())
    sink = RecordingSink()
    second = await engine.execute("x + 22", sink)
    assert sink.of("result") == [{"text/plain": "42"}]
    assert first.execution_count is not None and second.execution_count == first.execution_count + 1


async def test_rich_reprs_become_mime_bundles(engine: PyodideEngine) -> None:
    code = """
class Rich:
    def _repr_html_(self): return "<b>rich</b>"
    def _repr_markdown_(self): return "**rich**"
    def _repr_png_(self): return b"\\x89PNG fake"
    def _repr_json_(self): return {"a": [1, 2]}
    def __repr__(self): return "Rich()"
Rich()
"""
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK
    [data] = sink.of("result")
    assert data["text/html"] == "<b>rich</b>"
    assert data["text/markdown"] == "**rich**"
    assert base64.b64decode(data["image/png"]) == b"\x89PNG fake"
    assert data["application/json"] == {"a": [1, 2]}
    assert data["text/plain"] == "Rich()"


async def test_display_update_and_clear(engine: PyodideEngine) -> None:
    code = """
from IPython.display import HTML, Markdown, display, clear_output
display("plain", Markdown("*md*"))
h = display(HTML("<i>one</i>"), display_id=True)
h.update(HTML("<i>two</i>"))
display({"text/html": "<p>raw</p>"}, raw=True)
display("<em>bare</em>", "just text", raw=True)
clear_output(wait=True)
None
"""
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK
    kinds = ["display", "display", "display", "update", "display", "display", "display", "clear"]
    assert sink.kinds() == kinds
    shown = sink.of("display")
    assert shown[0] == ({"text/plain": "'plain'"}, None)
    assert shown[1][0]["text/markdown"] == "*md*"
    display_id = shown[2][1]
    assert display_id and shown[2][0]["text/html"] == "<i>one</i>"
    assert sink.of("update") == [
        ({"text/html": "<i>two</i>", "text/plain": shown[2][0]["text/plain"]}, display_id)
    ]
    assert shown[3][0] == {"text/html": "<p>raw</p>", "text/plain": "raw"}
    assert shown[4][0] == {"text/html": "<em>bare</em>", "text/plain": "bare"}
    assert shown[5][0] == {"text/plain": "just text"}
    assert sink.of("clear") == [True]
    assert sink.of("result") == []


async def test_streams_keep_order_with_displays(engine: PyodideEngine) -> None:
    code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\ndisplay(1)\nprint('c', end='')"
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK
    assert sink.calls == [
        ("stream", ("stdout", "a\n")),
        ("stream", ("stderr", "b\n")),
        ("display", ({"text/plain": "1"}, None)),
        ("stream", ("stdout", "c")),
    ]


async def test_stdout_arrives_while_the_cell_still_runs(engine: PyodideEngine) -> None:
    sink = RecordingSink(wake_on="started")
    task = asyncio.create_task(engine.execute("print('started')\nwhile True: pass", sink))
    await asyncio.wait_for(sink.woken.wait(), WAIT_S)
    assert not task.done()  # the text came out of a cell that has not finished
    await engine.interrupt()
    outcome = await asyncio.wait_for(task, WAIT_S)
    assert outcome.status is ExecStatus.INTERRUPTED


async def test_interrupt_keeps_the_namespace(engine: PyodideEngine) -> None:
    await engine.execute("kept = 'yes'", RecordingSink())
    sink = RecordingSink(wake_on="spin")
    task = asyncio.create_task(engine.execute("print('spin')\nwhile True:\n    pass", sink))
    await asyncio.wait_for(sink.woken.wait(), WAIT_S)
    await engine.interrupt()
    outcome = await asyncio.wait_for(task, WAIT_S)
    assert outcome.status is ExecStatus.INTERRUPTED
    [(ename, _, _)] = sink.of("error")
    assert ename == "KeyboardInterrupt"
    status, after = await run(engine, "kept")
    assert status is ExecStatus.OK and after.of("result") == [{"text/plain": "'yes'"}]


@pytest.mark.parametrize(
    "code",
    [
        "import time\nprint('napping')\ntime.sleep(600)",
        "import asyncio\nprint('napping')\nawait asyncio.sleep(600)",
    ],
    ids=["time.sleep", "await asyncio.sleep"],
)
async def test_sleeping_cells_are_interruptible(engine: PyodideEngine, code: str) -> None:
    sink = RecordingSink(wake_on="napping")
    task = asyncio.create_task(engine.execute(code, sink))
    await asyncio.wait_for(sink.woken.wait(), WAIT_S)
    await engine.interrupt()
    outcome = await asyncio.wait_for(task, WAIT_S)
    assert outcome.status is ExecStatus.INTERRUPTED
    assert [e[0] for e in sink.of("error")] == ["KeyboardInterrupt"]


async def test_an_interrupt_between_cells_does_not_hit_the_next(engine: PyodideEngine) -> None:
    await engine.interrupt()
    status, sink = await run(engine, "import time\ntime.sleep(0.01)\nsum(range(100_000))")
    assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "4999950000"}]


async def test_error_traceback_shows_only_user_frames(engine: PyodideEngine) -> None:
    code = "def inner():\n    return 1 / 0\n\ndef outer():\n    return inner()\n\nouter()"
    status, sink = await run(engine, code)
    assert status is ExecStatus.ERROR
    [(ename, evalue, tb)] = sink.of("error")
    assert (ename, evalue) == ("ZeroDivisionError", "division by zero")
    text = "\n".join(tb)
    assert "in outer" in text and "in inner" in text and "return 1 / 0" in text
    assert "runt-runtime" not in text and "_pyodide" not in text and "run_cell" not in text
    assert tb[-1] == "ZeroDivisionError: division by zero"


async def test_syntax_error(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "def broken(:\n    pass")
    assert status is ExecStatus.ERROR
    [(ename, _, tb)] = sink.of("error")
    assert ename == "SyntaxError" and "runt-runtime" not in "\n".join(tb)


async def test_missing_package_is_one_clear_error(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "import runt_no_such_package_here")
    assert status is ExecStatus.ERROR
    assert sink.kinds() == ["error"]
    [(ename, evalue, _)] = sink.of("error")
    assert ename == "ModuleNotFoundError"
    assert "runt_no_such_package_here" in evalue and "not available" in evalue


async def test_distribution_package_missing_offline(engine: PyodideEngine) -> None:
    """A package Pyodide knows (in its lock file) but whose wheel is not here: one error."""
    pyodide = paths.pyodide_dir()
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    absent = next(
        name
        for name, pkg in sorted(lock["packages"].items())
        if pkg.get("imports")
        and not (pyodide / pkg["file_name"]).exists()
        and pkg.get("package_type", "package") == "package"
    )
    module = lock["packages"][absent]["imports"][0]
    status, sink = await run(engine, f"import {module}")
    assert status is ExecStatus.ERROR
    assert sink.kinds() == ["error"]
    [(ename, evalue, _)] = sink.of("error")
    assert ename == "ModuleNotFoundError" and module in evalue


async def test_top_level_await(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "import asyncio\nawait asyncio.sleep(0)\n'awaited'")
    assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "'awaited'"}]


async def test_system_exit_does_not_end_the_runtime(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "raise SystemExit(3)")
    assert status is ExecStatus.ERROR and sink.of("error")[0][0] == "SystemExit"
    status, sink = await run(engine, "'alive'")
    assert status is ExecStatus.OK


# -------------------------------------------------------------------------------------- env


async def test_env_secret_is_only_in_os_environ(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "import os; os.environ['RUNT_SECRET']")
    assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "'s3cr3t'"}]
    assert engine._proc is not None
    cmdline, environ = proc_files(engine._proc.pid)
    assert b"s3cr3t" not in cmdline and b"s3cr3t" not in environ
