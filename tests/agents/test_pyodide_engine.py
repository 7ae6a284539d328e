"""PyodideEngine processes against a real Deno + Pyodide: boot modes, failures, mounts, death."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide import PyodideEngine, paths
from runt_action.agents.recording import RecordingSink
from runt_action.errors import RuntimeAgentError, RuntimeDied

pytestmark = pytest.mark.pyodide


async def shared_snapshot() -> Path:
    """The user's snapshot cache (setup-pyodide.sh fills it); made here if it is empty."""
    path = paths.snapshot_path()
    if not path.exists():
        eng = PyodideEngine()
        await eng.start()
        await eng.shutdown()
    return path


@pytest.fixture
async def engine() -> AsyncIterator[PyodideEngine]:
    """Boots from the user's snapshot cache, like a real run after setup-pyodide.sh."""
    eng = PyodideEngine(env={"RUNT_SECRET": "s3cr3t"})
    await eng.start()
    try:
        yield eng
    finally:
        await eng.shutdown()


async def run(engine: PyodideEngine, code: str) -> tuple[ExecStatus, RecordingSink]:
    sink = RecordingSink()
    outcome = await engine.execute(code, sink)
    return outcome.status, sink


def deno_pid(engine: PyodideEngine) -> int:
    proc = engine._proc
    assert proc is not None
    return proc.pid


def list_snapshots(directory: Path) -> list[Path]:
    return sorted(directory.glob("pyodide-*.snapshot"))


def list_dir(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def sidecar(snapshot: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(Path(f"{snapshot}.json").read_text())
    return meta


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def corrupt_copy(real: Path, bad: Path) -> None:
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, so only the checksum can tell
    bad.write_bytes(bytes(data))
    Path(f"{bad}.json").write_text(Path(f"{real}.json").read_text())


# ------------------------------------------------------------------------------------ booting


async def test_snapshot_is_made_once_then_booted_from(tmp_path: Path) -> None:
    # A leftover that is not a whole snapshot (a crash while writing) is simply replaced.
    stale = paths.snapshot_path(None, tmp_path)
    write(stale, b"not a snapshot")
    write(Path(f"{stale}.json"), b'{"size": 999, "sha256": "00"}')
    first = PyodideEngine(cache_dir=tmp_path)
    await first.start()
    try:
        assert first.boot_info["boot"] == "cold+snapshot"
        status, sink = await run(first, "21 * 2")
        assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "42"}]
    finally:
        await first.shutdown()
    [snapshot] = list_snapshots(tmp_path)
    assert snapshot == stale and sidecar(snapshot)["size"] > 1_000_000

    second = PyodideEngine(cache_dir=tmp_path)
    await second.start()
    try:
        assert second.boot_info["boot"] == "snapshot"
        status, sink = await run(second, "import sys; sys.version_info[:2] >= (3, 12)")
        assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "True"}]
    finally:
        await second.shutdown()


@pytest.mark.parametrize("unusable_cache", [False, True], ids=["snapshot-off", "cache-unusable"])
async def test_cold_boot_without_snapshot(tmp_path: Path, unusable_cache: bool) -> None:
    if unusable_cache:  # e.g. a read-only image layer: boot cold, do not fail
        write(tmp_path / "a-file", b"")
        eng = PyodideEngine(snapshot=True, cache_dir=tmp_path / "a-file" / "cache")
    else:
        eng = PyodideEngine(snapshot=False, cache_dir=tmp_path)
    await eng.start()
    try:
        assert eng.boot_info["boot"] == "cold"
        status, sink = await run(eng, "print('cold'); 1 + 1")
        assert status is ExecStatus.OK
        assert sink.text() == "cold\n" and sink.of("result") == [{"text/plain": "2"}]
    finally:
        await eng.shutdown()
    assert list_snapshots(tmp_path) == []
    assert sorted(p.name for p in list_dir(tmp_path)) == (["a-file"] if unusable_cache else [])


async def test_corrupt_snapshot_falls_back_to_cold_boot(tmp_path: Path) -> None:
    real = await shared_snapshot()
    bad = paths.snapshot_path(None, tmp_path)
    corrupt_copy(real, bad)

    eng = PyodideEngine(cache_dir=tmp_path)
    await eng.start()
    try:
        assert eng.boot_info["boot"] == "cold"
        status, sink = await run(eng, "'still fine'")
        assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "'still fine'"}]
    finally:
        await eng.shutdown()


async def test_start_failure_carries_the_bridge_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "node_modules" / "pyodide"
    broken.mkdir(parents=True)
    (broken / "package.json").write_text('{"version": "0.0.0-broken"}')
    (broken / "pyodide.mjs").write_text('throw new Error("this pyodide is broken on purpose");\n')
    monkeypatch.setenv("RUNT_PYODIDE_HOME", str(tmp_path))
    eng = PyodideEngine(snapshot=False)
    with pytest.raises(RuntimeAgentError, match="broken on purpose"):
        await eng.start()
    assert eng._proc is not None and eng._proc.returncode is not None


async def test_start_failure_reports_deno_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "deno"
    fake.write_text("#!/bin/sh\necho 'deno: cannot run here (fault injected)' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("RUNT_DENO", str(fake))
    eng = PyodideEngine(snapshot=False)
    with pytest.raises(RuntimeAgentError, match=r"fault injected"):
        await eng.start()


async def test_missing_pyodide_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNT_PYODIDE_HOME", str(tmp_path))
    with pytest.raises(RuntimeAgentError, match=r"setup-pyodide\.sh"):
        await PyodideEngine().start()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data set"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01beta")
    return root


async def test_mounts_sit_at_the_host_path_and_writes_reach_the_host(data_dir: Path) -> None:
    """As on the native runtime: the same absolute path, and what a cell writes, changes or
    deletes there is on the host after the cell (not only at shutdown)."""
    (data_dir / "gone.txt").write_text("bye")
    eng = PyodideEngine(mounts=[str(data_dir), f"{data_dir}:/data"])
    await eng.start()
    try:
        here = str(data_dir)
        code = (
            f"open({here + '/a.txt'!r}).read(), open('/data/sub/b.bin', 'rb').read(), "
            f"open({here + '/new.txt'!r}, 'w').write('ok')"
        )
        status, sink = await run(eng, code)
        assert status is ExecStatus.OK, sink.calls
        assert sink.of("result") == [{"text/plain": "('alpha', b'\\x00\\x01beta', 2)"}]
        assert (data_dir / "new.txt").read_text() == "ok"
        code = (
            f"import os\nos.chdir({here!r})\nopen('a.txt', 'w').write('changed')\n"
            "os.remove('gone.txt')\nos.makedirs('deep/er')\n"
            "open('deep/er/c.txt', 'w').write('c')"
        )
        status, sink = await run(eng, code)
        assert status is ExecStatus.OK, sink.calls
        assert (data_dir / "a.txt").read_text() == "changed"
        assert not (data_dir / "gone.txt").exists()
        assert (data_dir / "deep" / "er" / "c.txt").read_text() == "c"
    finally:
        await eng.shutdown()
    assert (data_dir / "sub" / "b.bin").read_bytes() == b"\x00\x01beta"  # unchanged stays


async def test_a_failed_copy_back_is_shown_in_the_cell(data_dir: Path) -> None:
    """Never silent: a file that cannot reach the host fails the cell, naming it (more in
    test_pyodide_sandbox.py)."""
    eng = PyodideEngine(mounts=[str(data_dir)])
    await eng.start()
    try:
        (data_dir / "clash").write_text("a file on the host")  # after the copy in
        code = f"import os\nos.makedirs({str(data_dir / 'clash')!r})\n"
        code += f"open({str(data_dir / 'clash' / 'f.txt')!r}, 'w').write('x')"
        status, sink = await run(eng, code)
        assert status is ExecStatus.ERROR, sink.calls
        [(ename, evalue, _)] = sink.of("error")
        assert ename == "WriteBackError"
        assert f"could not copy {data_dir / 'clash' / 'f.txt'} back to the host" in evalue
    finally:
        await eng.shutdown()
    assert (data_dir / "clash").read_text() == "a file on the host"  # the host's file stays


async def test_cwd_is_the_same_path_and_mounted(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.csv").write_text("a,b\n1,2\n")
    eng = PyodideEngine(cwd=work)
    await eng.start()
    try:
        code = (
            f"import os\nopen('out.txt', 'w').write('w')\n"
            f"os.getcwd() == {str(work)!r} and open('in.csv').read() == 'a,b\\n1,2\\n'"
        )
        status, sink = await run(eng, code)
        assert status is ExecStatus.OK, sink.calls
        assert sink.of("result") == [{"text/plain": "True"}]
    finally:
        await eng.shutdown()
    assert (work / "out.txt").read_text() == "w"


async def test_tracebacks_name_the_cell_id(engine: PyodideEngine) -> None:
    sink = RecordingSink()
    outcome = await engine.execute("def f():\n    return 1 / 0\nf()", sink, cell_id="setup")
    assert outcome.status is ExecStatus.ERROR
    traceback = "\n".join(sink.of("error")[0][2])
    assert 'File "<cell setup>", line 3' in traceback
    assert 'File "<cell setup>", line 2, in f' in traceback
    sink = RecordingSink()
    await engine.execute("x = (\n", sink, cell_id="syntax")
    assert 'File "<cell syntax>", line 1' in "\n".join(sink.of("error")[0][2])


async def test_readonly_mount_refuses_writes(data_dir: Path) -> None:
    eng = PyodideEngine(mounts=[f"{data_dir}:/ro"], mount_readonly=True)
    await eng.start()
    try:
        status, sink = await run(eng, "open('/ro/a.txt').read()")
        assert status is ExecStatus.OK and sink.of("result") == [{"text/plain": "'alpha'"}]
        for code in ("open('/ro/a.txt', 'w')", "open('/ro/created.txt', 'w')"):
            status, sink = await run(eng, code)
            assert status is ExecStatus.ERROR
            assert sink.of("error")[0][0] == "PermissionError"
    finally:
        await eng.shutdown()
    assert (data_dir / "a.txt").read_text() == "alpha"


async def test_output_dir_is_copied_back_after_each_cell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    eng = PyodideEngine(output_dir=out)
    await eng.start()
    try:
        code = (
            f"import os\nout = {str(out)!r}\nos.makedirs(out + '/deep', exist_ok=True)\n"
            "open(out + '/report.txt', 'w').write('v1')\n"
            "open(out + '/deep/raw.bin', 'wb').write(bytes(range(256)))"
        )
        status, _ = await run(eng, code)
        assert status is ExecStatus.OK
        assert (out / "report.txt").read_text() == "v1"
        assert (out / "deep" / "raw.bin").read_bytes() == bytes(range(256))
        status, _ = await run(eng, "open(out + '/report.txt', 'w').write('version 2')")
        assert (out / "report.txt").read_text() == "version 2"
        status, _ = await run(eng, "open(out + '/late.txt', 'w').write('x'); 1 / 0")
        assert status is ExecStatus.ERROR and (out / "late.txt").read_text() == "x"
        # Written by a task after its cell ended: only the copy at shutdown can catch it.
        code = (
            "import asyncio\n"
            "async def later():\n"
            "    await asyncio.sleep(0)\n"
            "    open(out + '/background.txt', 'w').write('bg')\n"
            "background = asyncio.ensure_future(later())"
        )
        status, _ = await run(eng, code)
        assert status is ExecStatus.OK
    finally:
        await eng.shutdown()
    assert (out / "background.txt").read_text() == "bg"


# ------------------------------------------------------------------------------ death, cleanup


async def test_process_death_raises_runtime_died(engine: PyodideEngine) -> None:
    sink = RecordingSink(wake_on="busy")
    task = asyncio.create_task(engine.execute("print('busy')\nwhile True: pass", sink))
    await asyncio.wait_for(sink.woken.wait(), 30)
    os.kill(deno_pid(engine), signal.SIGKILL)
    with pytest.raises(RuntimeDied):
        await asyncio.wait_for(task, 5)
    with pytest.raises(RuntimeDied):
        await engine.execute("1", RecordingSink())


async def test_shutdown_is_idempotent_and_ends_the_process() -> None:
    eng = PyodideEngine()
    await eng.start()
    pid = deno_pid(eng)
    await eng.shutdown()
    await eng.shutdown()
    assert eng._proc is not None and eng._proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
