"""Issue #21: Jupyter cells run on Pyodide as IPython would read them, and output is batched.

IPython syntax (%magics, %%cell magics, !shell), IPython's display imports, input() without
stdin, and the batching of stream writes (order kept, shown while a busy cell still runs).
One engine for the module (boots cost).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide import PyodideEngine
from runt_action.agents.recording import RecordingSink

pytestmark = [pytest.mark.pyodide, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[PyodideEngine]:
    eng = PyodideEngine()
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


async def run(engine: PyodideEngine, code: str) -> tuple[ExecStatus, RecordingSink]:
    sink = RecordingSink()
    outcome = await asyncio.wait_for(engine.execute(code, sink), 60)
    return outcome.status, sink


async def test_line_and_cell_magics_that_make_sense_run(engine: PyodideEngine) -> None:
    status, sink = await run(engine, "%time x = 21\nprint(x * 2)")
    assert status is ExecStatus.OK
    assert "Wall time:" in sink.text() and sink.text().endswith("42\n")
    status, sink = await run(engine, "%time x + 1")
    assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "22"}]
    status, sink = await run(engine, "%%timeit\nsum(range(10))")
    assert status is ExecStatus.OK
    assert "per loop (mean ± std. dev. of 7 runs" in sink.text()
    status, sink = await run(engine, "%matplotlib inline\ny = 3\ny")
    assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "3"}]
    status, sink = await run(engine, "%%html\n<b>bold</b>")
    assert status is ExecStatus.OK
    assert sink.of("display")[0][0]["text/html"] == "<b>bold</b>\n"


async def test_python_that_looks_like_a_magic_is_left_alone(engine: PyodideEngine) -> None:
    status, sink = await run(engine, 's = """\n%time\n!ls\n"""\nprint(s.split())')
    assert status is ExecStatus.OK and sink.text() == "['%time', '!ls']\n"


async def test_shell_commands_and_pip_fail_with_one_clear_error(engine: PyodideEngine) -> None:
    for code, command in (("!ls -la", "!ls -la"), ("files = !ls", "!ls")):
        status, sink = await run(engine, code)
        assert status is ExecStatus.ERROR
        [(ename, evalue, _)] = sink.of("error")
        assert (ename, evalue) == (
            "RuntimeError",
            f"shell commands are not available on Pyodide: {command}",
        )
    status, sink = await run(engine, "%pip install requests")
    [(ename, evalue, _)] = sink.of("error")
    assert ename == "UsageError" and "%pip is not available on Pyodide" in evalue
    status, sink = await run(engine, "%nosuchmagic")
    [(ename, evalue, _)] = sink.of("error")
    assert ename == "UsageError" and "%nosuchmagic" in evalue


async def test_ipython_display_imports_work(engine: PyodideEngine) -> None:
    code = (
        "from IPython.core.display import display, HTML\n"
        "from IPython.display import Markdown\n"
        "display(HTML('<i>hi</i>'))\n"
        "display(Markdown('**md**'))"
    )
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK
    shown = [data for data, _ in sink.of("display")]
    assert shown[0]["text/html"] == "<i>hi</i>" and shown[1]["text/markdown"] == "**md**"


async def test_input_raises_stdin_not_implemented_as_ipykernel_does(
    engine: PyodideEngine,
) -> None:
    status, sink = await run(engine, "input('name? ')")
    assert status is ExecStatus.ERROR
    [(ename, evalue, _)] = sink.of("error")
    assert ename == "StdinNotImplementedError"
    assert evalue == "raw_input was called, but this frontend does not support input requests."
    code = (
        "from IPython.core.error import StdinNotImplementedError\n"
        "try:\n    input()\nexcept StdinNotImplementedError:\n    print('caught')"
    )
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK and sink.text() == "caught\n"


async def test_batched_output_keeps_order_and_every_byte(engine: PyodideEngine) -> None:
    code = (
        "import sys\n"
        "for i in range(20000):\n    print(i)\n"
        "print('err', file=sys.stderr)\nprint('after')\ndisplay('shown')\nprint('last')"
    )
    status, sink = await run(engine, code)
    assert status is ExecStatus.OK
    expected = "".join(f"{i}\n" for i in range(20000)) + "after\nlast\n"
    assert sink.text() == expected
    assert len(sink.of("stream")) < 200  # batched: not one event per write
    order = [k if k != "stream" else v[0] for k, v in sink.calls]
    squeezed = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    assert squeezed == ["stdout", "stderr", "stdout", "display", "stdout"]


async def test_output_of_a_busy_cell_is_shown_while_it_runs(engine: PyodideEngine) -> None:
    code = (
        "import time\nprint('a')\nprint('b')\n"
        "t = time.monotonic()\nwhile time.monotonic() - t < 3: pass\nprint('done')"
    )
    sink = RecordingSink()
    task = asyncio.ensure_future(engine.execute(code, sink))
    try:
        async with asyncio.timeout(2.5):  # long before the loop ends
            await sink.wait_text("a\nb\n")
    finally:
        outcome = await asyncio.wait_for(task, 30)
    assert outcome.status is ExecStatus.OK and sink.text() == "a\nb\ndone\n"
