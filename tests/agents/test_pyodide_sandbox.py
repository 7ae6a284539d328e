"""Issue 22 (2): what the sandbox cannot answer never breaks the copy back to the host, and a
copy back that fails is never a success.

Before: ``os.getuid()`` asked Deno for ``--allow-sys`` (a flag the user cannot set); the JS error
inside the system call was fatal to the interpreter, so no file any later cell wrote reached the
host, and the run still ended "success" with one stderr line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide import PyodideEngine
from runt_action.agents.recording import RecordingSink
from runt_action.errors import RuntimeDied

pytestmark = pytest.mark.pyodide

# What the standard library asks the system: each answers (or raises like CPython would).
SYSTEM_QUERIES = {
    "os.getuid()": "import os\nos.getuid()",
    "os.getgid()": "import os\nos.getgid()",
    "socket.gethostname()": "import socket\nsocket.gethostname()",
    "platform.platform()": "import platform\nplatform.platform()",
    "getpass.getuser()": "import getpass\ngetpass.getuser()",
    "os.getlogin()": "import os\nos.getlogin()",
    "os.cpu_count()": "import os\nos.cpu_count()",
    "os.uname()": "import os\nos.uname()",
    "os.system()": "import os\nos.system('true')",
    "os.umask()": "import os\nos.umask(0o22)",
}


async def run(engine: PyodideEngine, code: str) -> tuple[ExecStatus, RecordingSink]:
    sink = RecordingSink()
    outcome = await engine.execute(code, sink)
    return outcome.status, sink


def write_back_errors(sink: RecordingSink) -> list[str]:
    return [evalue for ename, evalue, _ in sink.of("error") if ename == "WriteBackError"]


async def test_system_queries_never_break_the_copy_back(tmp_path: Path) -> None:
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    eng = PyodideEngine(cwd=work, mounts=[str(data)])
    await eng.start()
    try:
        for name, code in SYSTEM_QUERIES.items():
            status, sink = await run(eng, code)
            assert status is ExecStatus.OK, (name, sink.calls)
            assert sink.of("result"), (name, sink.calls)
        status, sink = await run(eng, "import os\n(os.getuid(), os.getgid(), os.system('ls'))")
        # The sandbox's answers: uid/gid 0 (the owner of every file in Pyodide's file system)
        # and no shell (127, as sh answers for a command it cannot run).
        assert sink.of("result") == [{"text/plain": f"(0, 0, {127 << 8})"}]
        code = (
            f"open('in-cwd.txt', 'w').write('cwd')\n"
            f"open({str(data / 'in-mount.txt')!r}, 'w').write('mount')"
        )
        status, sink = await run(eng, code)
        assert status is ExecStatus.OK, sink.calls
        # After the cell, not only at shutdown.
        assert (work / "in-cwd.txt").read_text() == "cwd"
        assert (data / "in-mount.txt").read_text() == "mount"
    finally:
        await eng.shutdown()
    assert await eng.written_back() == []


async def test_js_calls_the_sandbox_refuses_raise_in_python(tmp_path: Path) -> None:
    """Deno's refusal reaches the cell as an exception; the runtime and the copy back go on."""
    eng = PyodideEngine(cwd=tmp_path)
    await eng.start()
    try:
        status, sink = await run(eng, "import js\njs.Deno.hostname()")
        assert status is ExecStatus.ERROR
        assert sink.of("error")[0][0] == "JsException" and "NotCapable" in sink.of("error")[0][1]
        status, sink = await run(eng, "open('after.txt', 'w').write('x')")
        assert status is ExecStatus.OK, sink.calls
        assert (tmp_path / "after.txt").read_text() == "x"
    finally:
        await eng.shutdown()


async def test_a_file_that_cannot_reach_the_host_fails_the_cell(tmp_path: Path) -> None:
    """A directory on the host where the cell wrote a file: the cell fails, naming the path and
    the cause; the cell's other files still arrive; a later cell is not blamed; once the host
    is fixed the file arrives after the next cell."""
    eng = PyodideEngine(cwd=tmp_path)
    await eng.start()
    try:
        (tmp_path / "blocked.txt").mkdir()  # after the copy in: Pyodide does not see it
        code = "open('blocked.txt', 'w').write('lost?')\nopen('fine.txt', 'w').write('fine')"
        status, sink = await run(eng, code)
        assert status is ExecStatus.ERROR, sink.calls
        [error] = write_back_errors(sink)
        assert f"could not copy {tmp_path / 'blocked.txt'} back to the host" in error
        assert "IsADirectory" in error or "directory" in error.lower(), error
        assert (tmp_path / "fine.txt").read_text() == "fine"

        status, sink = await run(eng, "1 + 1")
        assert status is ExecStatus.OK and write_back_errors(sink) == [], sink.calls

        (tmp_path / "blocked.txt").rmdir()
        status, sink = await run(eng, "None")
        assert status is ExecStatus.OK, sink.calls
        assert (tmp_path / "blocked.txt").read_text() == "lost?"
    finally:
        await eng.shutdown()


async def test_a_deletion_that_fails_on_the_host_fails_the_cell(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("old")
    eng = PyodideEngine(cwd=tmp_path)
    await eng.start()
    try:
        (tmp_path / "old.txt").unlink()
        (tmp_path / "old.txt").mkdir()
        (tmp_path / "old.txt" / "keep").write_text("k")  # a non-empty directory: not removed
        status, sink = await run(eng, "import os\nos.remove('old.txt')")
        assert status is ExecStatus.ERROR, sink.calls
        [error] = write_back_errors(sink)
        assert f"could not delete {tmp_path / 'old.txt'} on the host" in error
    finally:
        await eng.shutdown()


async def test_a_failed_copy_at_shutdown_is_reported(tmp_path: Path) -> None:
    """A file a background task wrote after its cell reaches the host only at shutdown; when it
    cannot, written_back() says so (the orchestrator fails the run on it)."""
    eng = PyodideEngine(cwd=tmp_path)
    await eng.start()
    try:
        (tmp_path / "late.txt").mkdir()
        code = (
            "import asyncio\n"
            "async def later():\n"
            "    await asyncio.sleep(0)\n"
            "    open('late.txt', 'w').write('late')\n"
            "task = asyncio.ensure_future(later())"
        )
        status, sink = await run(eng, code)
        assert status is ExecStatus.OK, sink.calls
    finally:
        await eng.shutdown()
    problems = await eng.written_back()
    assert len(problems) == 1 and str(tmp_path / "late.txt") in problems[0], problems
    assert eng.write_back_problems == problems


async def test_a_fatal_error_copies_back_then_ends_the_runtime(tmp_path: Path) -> None:
    """Whatever else breaks the interpreter for good: the cell's files reach the host, the cell
    fails with the cause, and nothing runs on a broken interpreter afterwards."""
    eng = PyodideEngine(cwd=tmp_path)
    await eng.start()
    try:
        code = (
            "open('before.txt', 'w').write('b')\n"
            "import pyodide_js\n"
            "pyodide_js._api.fatal_error(Exception('boom'))"
        )
        sink = RecordingSink()
        with pytest.raises(RuntimeDied, match="boom"):
            await eng.execute(code, sink)
        assert (tmp_path / "before.txt").read_text() == "b"
        assert any("failed fatally" in evalue for _, evalue, _ in sink.of("error")), sink.calls
        with pytest.raises(RuntimeDied):
            await eng.execute("open('after.txt', 'w').write('a')", RecordingSink())
    finally:
        await eng.shutdown()


# ------------------------------------------------------------------------------ whole runs

NOTEBOOK = """\
metadata:
  title: write-back
cells:
{cells}
"""


def run_notebook(tmp_path: Path, cells: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (tmp_path / "nb.yml").write_text(NOTEBOOK.format(cells=cells))
    return subprocess.run(
        [sys.executable, "-m", "runt_action", "nb.yml", "--runtime", "pyodide", "--cwd", "work"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_run_with_getuid_then_writes_succeeds_and_the_files_arrive(tmp_path: Path) -> None:
    cells = """\
  - id: who
    source: |
      import os, getpass, socket
      print(os.getuid(), getpass.getuser(), socket.gethostname())
  - id: write
    source: |
      open("result.txt", "w").write("done")
"""
    done = run_notebook(tmp_path, cells)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "work" / "result.txt").read_text() == "done"


def test_run_whose_copy_back_fails_is_not_a_success(tmp_path: Path) -> None:
    # Not copied in (a link), and the host cannot write through it: no such directory.
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "result.txt").symlink_to(tmp_path / "missing" / "result.txt")
    cells = """\
  - id: write
    source: |
      open("result.txt", "w").write("done")
"""
    done = run_notebook(tmp_path, cells)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "WriteBackError" in output and "result.txt" in output, output[-3000:]


def test_run_whose_last_copy_back_fails_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "late.txt").symlink_to(tmp_path / "missing" / "late.txt")
    cells = """\
  - id: later
    source: |
      import asyncio
      async def later():
          await asyncio.sleep(0)
          open("late.txt", "w").write("late")
      task = asyncio.ensure_future(later())
"""
    done = run_notebook(tmp_path, cells)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output[-3000:]
    assert f"could not copy {tmp_path / 'work' / 'late.txt'} back to the host" in output
