"""Kernels forked from the fork server: fresh processes, each as a launched kernel would be."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.forkserver import ForkedProcess, ForkServer
from runt_action.agents.native import NativeEngine
from runt_action.agents.recording import RecordingSink
from runt_action.errors import RuntimeDied

PROBE = (
    "import json, os, random, sys\n"
    "print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'r': random.random(),"
    " 'var': os.environ.get('RUNT_FORK_VAR'), 'cwd': os.getcwd(), 'argv': sys.argv,"
    " 'path': sys.path, 'seen': 'leak' in globals(),"
    " 'parent': os.environ.get('JPY_PARENT_PID')}))\n"
    "leak = 1\n"
)


@pytest.fixture
def forks() -> Iterator[ForkServer]:
    notes: list[str] = []
    server = ForkServer(os.environ, note=notes.append)
    try:
        assert server.wait_ready(), notes
        yield server
    finally:
        server.close()


async def _probe(engine: NativeEngine) -> dict[str, object]:
    sink = RecordingSink()
    outcome = await engine.execute(PROBE, sink)
    assert outcome.status is ExecStatus.OK, sink.calls
    record: dict[str, object] = json.loads(sink.text("stdout"))
    return record


async def _sleeping(engine: NativeEngine) -> asyncio.Task[Any]:
    """A cell sleeping in ``engine``, once it has started."""
    sink = RecordingSink()
    task = asyncio.create_task(
        engine.execute("import time\nprint('go', flush=True)\ntime.sleep(60)", sink)
    )
    async with asyncio.timeout(30):
        await sink.wait_text("go\n")
    return task


async def test_each_kernel_is_a_fresh_fork_with_its_own_env_and_cwd(
    forks: ForkServer, tmp_path: Path
) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    engines = []
    for d, var in zip(dirs, ("one", "two"), strict=True):
        d.mkdir()
        engines.append(NativeEngine(env={"RUNT_FORK_VAR": var}, cwd=d, forks=forks))
    try:
        for engine in engines:
            await engine.start()
            assert isinstance(engine._proc, ForkedProcess)  # forked, not launched
        first, second = [await _probe(e) for e in engines]
        server_pid = forks._proc.pid  # type: ignore[union-attr]
        assert first["pid"] != second["pid"]
        assert first["ppid"] == second["ppid"] == server_pid
        assert first["parent"] == str(server_pid)  # the kernel exits with its server
        assert (first["var"], second["var"]) == ("one", "two")
        assert (first["cwd"], second["cwd"]) == tuple(str(d) for d in dirs)
        assert first["r"] != second["r"]  # random is reseeded in every fork
        assert first["seen"] is False and second["seen"] is False
        assert (await _probe(engines[0]))["seen"] is True  # the namespace persists
        # As a launched kernel has them: the launcher's path in argv, the same sys.path.
        launched = NativeEngine(cwd=dirs[0])
        engines.append(launched)
        await launched.start()
        reference = await _probe(launched)
        assert reference["ppid"] == os.getpid()
        assert first["path"] == reference["path"]
        argv, ref_argv = first["argv"], reference["argv"]
        assert isinstance(argv, list) and isinstance(ref_argv, list)
        assert argv[0] == ref_argv[0] and argv[0].endswith("ipykernel_launcher.py")
        assert argv[1] == "-f" and argv[3:] == ref_argv[3:]
    finally:
        for engine in engines:
            await engine.shutdown()


async def test_interrupt_exit_code_and_kill_are_reported(forks: ForkServer) -> None:
    engine = NativeEngine(forks=forks)
    await engine.start()
    try:
        task = await _sleeping(engine)
        await engine.interrupt()
        assert (await task).status is ExecStatus.INTERRUPTED
        with pytest.raises(RuntimeDied, match="exited with code 3"):
            await engine.execute("import os\nos._exit(3)", RecordingSink())
    finally:
        await engine.shutdown()

    engine = NativeEngine(forks=forks)
    await engine.start()
    try:
        pid = engine.pid
        assert pid is not None
        task = await _sleeping(engine)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RuntimeDied, match="killed by SIGKILL"):
            await task
    finally:
        await engine.shutdown()


async def test_a_kernel_asked_for_while_the_server_boots_is_forked_at_start() -> None:
    with ForkServer(os.environ) as forks:
        engine = NativeEngine(forks=forks)
        engine.prestart()  # the server is still importing: the fork waits for start()
        assert engine.pid is None
        await engine.start()
        try:
            assert isinstance(engine._proc, ForkedProcess)
            assert (await _probe(engine))["ppid"] == forks._proc.pid  # type: ignore[union-attr]
        finally:
            await engine.shutdown()


async def test_closing_the_server_ends_its_kernels(forks: ForkServer) -> None:
    engine = NativeEngine(forks=forks)
    await engine.start()
    proc = engine._proc
    assert isinstance(proc, ForkedProcess)
    forks.close()
    assert proc.wait(30) == -signal.SIGKILL
    with pytest.raises(RuntimeDied):
        await engine.execute("1", RecordingSink())
    await engine.shutdown()


async def test_a_server_that_cannot_import_ipykernel_says_so_and_kernels_launch(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "ipykernel"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('no kernel here')\n")
    notes: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    with ForkServer(env, note=notes.append) as forks:
        assert not forks.wait_ready()
        assert notes == [
            "kernels are launched one by one: the fork server failed "
            "(cannot import ipykernel: no kernel here)"
        ]
        engine = NativeEngine(forks=forks)  # the engine's own environment has ipykernel
        await engine.start()
        try:
            assert not isinstance(engine._proc, ForkedProcess)
            assert (await _probe(engine))["ppid"] == os.getpid()
        finally:
            await engine.shutdown()


def test_only_this_interpreters_default_kernel_is_forked(forks: ForkServer) -> None:
    assert NativeEngine(forks=forks)._forks is forks
    assert NativeEngine(forks=forks, kernel="python3")._forks is None
    assert NativeEngine(forks=forks, python="/elsewhere/bin/python")._forks is None
    assert NativeEngine(forks=forks, python=sys.executable)._forks is forks


async def test_a_kernel_exits_when_its_fork_server_dies(forks: ForkServer) -> None:
    """As a launched kernel exits when we die (JPY_PARENT_PID), a forked one watches its
    server; ipykernel read that variable when the server imported it, before the fork."""
    engine = NativeEngine(forks=forks)
    await engine.start()
    try:
        proc = engine._proc
        assert isinstance(proc, ForkedProcess)
        assert forks._proc is not None
        os.kill(forks._proc.pid, signal.SIGKILL)  # no report of its kernels' exits now
        assert proc.wait(60) == -signal.SIGKILL  # gone (how, the dead server cannot say)
        with pytest.raises(RuntimeDied):
            await engine.execute("1", RecordingSink())
    finally:
        await engine.shutdown()
