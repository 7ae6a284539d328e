"""The native engine against a real ipykernel: output mapping, interrupt, death, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.native import NativeEngine, strip_ansi
from runt_action.agents.recording import RecordingSink
from runt_action.errors import RuntimeAgentError, RuntimeDied


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[NativeEngine]:
    eng = NativeEngine(env={"RUNT_TEST_VAR": "hello"}, cwd=tmp_path)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


def _pid(engine: NativeEngine) -> int:
    pid = engine.pid
    assert pid is not None
    return pid


async def test_outputs_map_to_sink_calls(engine: NativeEngine, tmp_path: Path) -> None:
    sink = RecordingSink()
    code = (
        "import os, sys\n"
        "print(os.environ['RUNT_TEST_VAR'], os.getcwd())\n"
        "print('oops', file=sys.stderr)\n"
        "from IPython.display import display, clear_output\n"
        "h = display({'text/plain': 'one'}, raw=True, display_id=True)\n"
        "h.update({'text/plain': 'two'}, raw=True)\n"
        "clear_output(wait=True)\n"
        "6 * 7\n"
    )
    outcome = await engine.execute(code, sink)
    assert outcome.status is ExecStatus.OK
    assert sink.text("stdout") == f"hello {tmp_path}\n"
    assert sink.text("stderr") == "oops\n"
    kinds = [k for k, _ in sink.calls if k != "stream"]
    assert kinds == ["display", "update", "clear", "result"]
    (data, did), (data2, did2) = sink.calls[2][1], sink.calls[3][1]
    assert data == {"text/plain": "one"} and data2 == {"text/plain": "two"}
    assert did and did == did2
    assert ("clear", True) in sink.calls
    assert sink.calls[-1] == ("result", {"text/plain": "42"})


async def test_error_has_plain_traceback_and_namespace_persists(engine: NativeEngine) -> None:
    assert (await engine.execute("x = 41", RecordingSink())).status is ExecStatus.OK
    sink = RecordingSink()
    outcome = await engine.execute("def f():\n    raise ValueError(f'bad {x + 1}')\nf()", sink)
    assert outcome.status is ExecStatus.ERROR
    [(kind, (ename, evalue, tb))] = sink.calls
    assert (kind, ename, evalue) == ("error", "ValueError", "bad 42")
    assert tb and all("\x1b[" not in line for line in tb)
    assert "ValueError: bad 42" in tb[-1]
    assert any("f()" in line for line in tb)


async def test_interrupt_stops_a_running_cell(engine: NativeEngine) -> None:
    sink = RecordingSink()
    task = asyncio.create_task(
        engine.execute("import time\nprint('go', flush=True)\ntime.sleep(60)", sink)
    )
    async with asyncio.timeout(30):
        await sink.wait_text("go\n")
    await engine.interrupt()
    outcome = await asyncio.wait_for(task, 10)
    assert outcome.status is ExecStatus.INTERRUPTED
    assert (await engine.execute("'still alive'", RecordingSink())).status is ExecStatus.OK


async def test_kernel_killed_mid_cell_raises_runtime_died_within_2s(
    engine: NativeEngine,
) -> None:
    sink = RecordingSink()
    task = asyncio.create_task(
        engine.execute("import time\nprint('go', flush=True)\ntime.sleep(60)", sink)
    )
    async with asyncio.timeout(30):
        await sink.wait_text("go\n")
    os.kill(_pid(engine), signal.SIGKILL)
    with pytest.raises(RuntimeDied, match="SIGKILL"):
        await asyncio.wait_for(task, 2.0)
    with pytest.raises(RuntimeDied):
        await asyncio.wait_for(engine.execute("1", RecordingSink()), 2.0)


async def test_kernel_exiting_by_itself_is_runtime_died(engine: NativeEngine) -> None:
    with pytest.raises(RuntimeDied, match="exited with code 3"):
        await asyncio.wait_for(engine.execute("import os; os._exit(3)", RecordingSink()), 2.0)


async def test_shutdown_is_idempotent_and_kills_the_process(tmp_path: Path) -> None:
    eng = NativeEngine(cwd=tmp_path)
    await eng.start()
    pid = _pid(eng)
    task = asyncio.create_task(eng.execute("import time; time.sleep(60)", RecordingSink()))
    await asyncio.sleep(0.2)
    await eng.shutdown()
    await eng.shutdown()
    task.cancel()
    with pytest.raises((asyncio.CancelledError, RuntimeDied)):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_strip_ansi() -> None:
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: x\x1b]8;;http://a\x07l\x1b]8;;\x07") == (
        "ValueError: xl"
    )


async def test_polite_shutdown_runs_atexit_and_flushes_open_files(tmp_path: Path) -> None:
    eng = NativeEngine(cwd=tmp_path)
    await eng.start()
    code = (
        "import atexit\n"
        "f = open('unclosed.txt', 'w'); f.write('flushed at exit')\n"
        "atexit.register(lambda: open('atexit.txt', 'w').write('ran'))\n"
    )
    assert (await eng.execute(code, RecordingSink())).status is ExecStatus.OK
    await eng.shutdown()
    assert (tmp_path / "unclosed.txt").read_text() == "flushed at exit"
    assert (tmp_path / "atexit.txt").read_text() == "ran"


async def test_the_exit_hook_leaves_the_user_namespace_alone(engine: NativeEngine) -> None:
    sink = RecordingSink()
    code = "print(len(In), repr(_), sorted(k for k in dir() if not k.startswith('_')))"
    outcome = await engine.execute(code, sink)
    assert (outcome.status, outcome.execution_count) == (ExecStatus.OK, 1)
    assert sink.text() == "2 '' ['In', 'Out', 'exit', 'get_ipython', 'open', 'quit']\n"


async def test_prestart_launches_without_a_loop_and_start_adopts_it(tmp_path: Path) -> None:
    eng = NativeEngine(env={"RUNT_TEST_VAR": "early"}, cwd=tmp_path)
    await asyncio.to_thread(eng.prestart)  # no event loop in that thread
    pid = _pid(eng)
    eng.prestart()  # idempotent
    assert eng.pid == pid
    try:
        await eng.start()
        assert eng.pid == pid
        sink = RecordingSink()
        await eng.execute("import os; print(os.environ['RUNT_TEST_VAR'], os.getpid())", sink)
        assert sink.text() == f"early {pid}\n"
    finally:
        await eng.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_prestarted_kernel_never_started_is_reaped(tmp_path: Path) -> None:
    eng = NativeEngine(cwd=tmp_path)
    eng.prestart()
    pid = _pid(eng)
    await eng.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    other = NativeEngine(cwd=tmp_path)
    other.prestart()
    other_pid = _pid(other)
    other.kill()  # the synchronous last resort
    other.kill()
    with pytest.raises(ProcessLookupError):
        os.kill(other_pid, 0)
    with pytest.raises(RuntimeAgentError):
        await other.start()


async def test_tracebacks_name_the_cell_id(engine: NativeEngine) -> None:
    """IPython compiles the cell as "<cell ID>" (the id travels in the request's metadata)."""
    sink = RecordingSink()
    outcome = await engine.execute("def f():\n    return 1 / 0\nf()", sink, cell_id="setup")
    assert outcome.status is ExecStatus.ERROR
    traceback = "\n".join(sink.of("error")[0][2])
    assert 'File "<cell setup>", line 3' in traceback
    assert 'File "<cell setup>", line 2, in f' in traceback
    sink = RecordingSink()
    await engine.execute("x = (\n", sink, cell_id="syntax")
    assert 'File "<cell syntax>", line 1' in "\n".join(sink.of("error")[0][2])
    sink = RecordingSink()  # without an id, IPython's own naming
    await engine.execute("1 / 0", sink)
    assert "Cell In[" in "\n".join(sink.of("error")[0][2])


async def test_kernel_name_starts_that_kernelspec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-k NAME``: the kernelspec's argv (``python`` = this interpreter) and env, as
    jupyter_client launches it; cwd and cell naming still apply."""
    spec = tmp_path / "share" / "kernels" / "runt-test-kernel"
    spec.mkdir(parents=True)
    argv = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": argv,
                "display_name": "t",
                "language": "python",
                "env": {"RUNT_FROM_SPEC": "yes"},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    work = tmp_path / "work"
    work.mkdir()
    eng = NativeEngine(cwd=work, kernel="runt-test-kernel")
    await eng.start()
    try:
        sink = RecordingSink()
        code = "import os\nprint(os.environ['RUNT_FROM_SPEC'], os.getcwd())\n1 / 0"
        outcome = await eng.execute(code, sink, cell_id="k")
        assert outcome.status is ExecStatus.ERROR
        assert sink.text("stdout") == f"yes {work}\n"
        assert 'File "<cell k>", line 3' in "\n".join(sink.of("error")[0][2])
    finally:
        await eng.shutdown()
    with pytest.raises(RuntimeAgentError, match="not installed"):
        NativeEngine(kernel="no-such-kernel-here").prestart()
