"""What makes Pyodide boot fast: the precompiled stdlib, the snapshot's warm modules (and that a
snapshot restored many times still behaves like a fresh interpreter), and prestart."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runt_action.agents.engine import ExecStatus
from runt_action.agents.pyodide import PyodideEngine, paths
from runt_action.agents.pyodide.engine import snapshot_looks_whole
from runt_action.agents.pyodide.prepare import build_compiled_stdlib
from runt_action.errors import RuntimeAgentError

pytestmark = pytest.mark.pyodide


class Collect:
    """The smallest OutputSink: results and errors, in order."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.errors: list[tuple[str, str, list[str]]] = []

    def stream(self, name: str, text: str) -> None: ...

    def display(self, data: dict[str, Any], *args: Any, **kwargs: Any) -> None: ...

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.results.append(data)

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.errors.append((ename, evalue, traceback))

    def clear(self, wait: bool = False) -> None: ...


async def value(engine: PyodideEngine, code: str) -> str:
    sink = Collect()
    outcome = await engine.execute(code, sink)
    assert outcome.status is ExecStatus.OK, sink.errors
    [data] = sink.results
    return str(data["text/plain"])


async def ensure_compiled_stdlib() -> paths.CompiledStdlib:
    """The one setup-pyodide.sh builds (prepare.py); built here if this checkout lacks it."""
    return paths.compiled_stdlib() or await build_compiled_stdlib()


async def test_prepare_compiles_every_stdlib_module(tmp_path: Path) -> None:
    built = await build_compiled_stdlib(target=tmp_path)
    check_compiled_zip(built, tmp_path)


def check_compiled_zip(built: paths.CompiledStdlib, target: Path) -> None:
    assert built.path.parent == target
    assert sorted(p.name for p in target.iterdir()) == [built.path.name, built.path.name + ".json"]
    meta = json.loads(Path(f"{built.path}.json").read_text())
    assert meta == {
        "size": built.path.stat().st_size,
        "sha256": built.sha256,
        "pyodide": paths.pyodide_version(),
        "builder": paths.stdlib_builder_digest(),
    }
    with zipfile.ZipFile(paths.pyodide_dir() / "python_stdlib.zip") as stock:
        sources = {n for n in stock.namelist() if n.endswith(".py")}
    with zipfile.ZipFile(built.path) as z:
        names = set(z.namelist())
        assert sources <= names  # the sources stay, for tracebacks and inspect
        compiled = {n[:-1] for n in names if n.endswith(".pyc")}
        assert len(compiled) > 0.9 * len(sources) and compiled <= sources
        header = z.read("statistics.pyc")[:8]
    flags = int.from_bytes(header[4:8], "little")
    assert flags == 0b01  # hash-based, unchecked: no source hashing at import time


async def test_stdlib_imports_use_bytecode_and_keep_source_tracebacks() -> None:
    await ensure_compiled_stdlib()
    engine = PyodideEngine(snapshot=False)
    await engine.start()
    try:
        # zipimport names the module after the file it loaded: the .pyc, not the .py.
        assert await value(engine, "import email.parser\nemail.parser.__file__[-4:]") == "'.pyc'"
        sink = Collect()
        outcome = await engine.execute("import statistics\nstatistics.mean([])", sink)
        assert outcome.status is ExecStatus.ERROR
        [(ename, _, traceback)] = sink.errors
        text = "\n".join(traceback)
        assert ename == "StatisticsError"
        assert "python314.zip/statistics.py" in text and "raise StatisticsError" in text
    finally:
        await engine.shutdown()


async def test_snapshot_carries_warm_modules_and_reseeds_random(tmp_path: Path) -> None:
    maker = PyodideEngine(cache_dir=tmp_path)
    await maker.start()
    assert maker.boot_info["boot"] == "cold+snapshot"
    await maker.shutdown()  # straight away: the snapshot is still written before the exit
    assert only_a_whole_snapshot(tmp_path)

    draws = []
    for _ in range(2):
        engine = PyodideEngine(cache_dir=tmp_path)
        await engine.start()
        try:
            assert engine.boot_info["boot"] == "snapshot"
            preloaded = (
                "import sys\n"
                "[m for m in ('statistics', 'datetime', 'decimal', 'csv', 'pprint')"
                " if m not in sys.modules]"
            )
            assert await value(engine, preloaded) == "[]"
            draws.append(await value(engine, "import random\nrandom.random()"))
        finally:
            await engine.shutdown()
    assert draws[0] != draws[1]  # not the generator state frozen into the snapshot


def only_a_whole_snapshot(cache: Path) -> bool:
    [snapshot] = sorted(cache.glob("*.snapshot"))
    return snapshot_looks_whole(snapshot) and not list(cache.glob("*.tmp*"))


def test_snapshot_key_follows_the_stdlib(tmp_path: Path) -> None:
    stock = paths.snapshot_path(None, tmp_path, None)
    compiled = paths.CompiledStdlib(tmp_path / "x.zip", "ab" * 32)
    assert paths.snapshot_path(None, tmp_path, compiled) != stock
    found = paths.compiled_stdlib(None, tmp_path)
    assert paths.snapshot_path(None, tmp_path) == paths.snapshot_path(None, tmp_path, found)


def test_compiled_stdlib_needs_a_matching_sidecar(tmp_path: Path) -> None:
    directory = tmp_path / "pyodide"
    directory.mkdir()
    (directory / "package.json").write_text('{"version": "9.9.9"}')
    zip_path = tmp_path / "cache" / paths.compiled_stdlib_name("9.9.9")
    zip_path.parent.mkdir()
    zip_path.write_bytes(b"0123456789")
    sidecar = Path(f"{zip_path}.json")
    good = {
        "size": 10,
        "sha256": "00",
        "pyodide": "9.9.9",
        "builder": paths.stdlib_builder_digest(),
    }
    stale: list[dict[str, object]] = [
        {**good, "size": 9},  # a half-written zip
        {**good, "pyodide": "1.0.0"},  # another Pyodide's bytecode
        {**good, "builder": "0" * 16},  # built by another version of stdlib.mjs
    ]
    for meta in stale:
        sidecar.write_text(json.dumps(meta))
        assert paths.compiled_stdlib(directory, zip_path.parent) is None
    sidecar.write_text(json.dumps(good))
    assert paths.compiled_stdlib(directory, zip_path.parent) == paths.CompiledStdlib(zip_path, "00")


def test_prestart_needs_no_loop_and_start_adopts_the_process() -> None:
    engine = PyodideEngine()
    engine.prestart()  # no event loop here: this is how a run launches Deno before its imports
    engine.prestart()  # idempotent
    assert engine._popen is not None
    pid = engine._popen.pid

    async def scenario() -> str:
        await engine.start()
        try:
            assert engine._proc is not None and engine._proc.pid == pid
            return await value(engine, "import os\nos.environ.get('HOME')")
        finally:
            await engine.shutdown()

    assert asyncio.run(scenario()) == "'/home/pyodide'"
    assert engine._popen.returncode is not None


def test_prestarted_engine_is_killed_without_a_loop() -> None:
    engine = PyodideEngine()
    engine.prestart()
    assert engine._popen is not None and engine._popen.poll() is None
    engine.kill()  # e.g. the run failed before its loop started
    assert engine._popen.returncode is not None
    engine.kill()


async def test_prestart_failure_is_raised_by_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNT_PYODIDE_HOME", str(tmp_path))
    engine = PyodideEngine()
    engine.prestart()  # Pyodide is missing: nothing to launch, and nothing raised yet
    assert engine._popen is None
    with pytest.raises(RuntimeAgentError, match=r"setup-pyodide\.sh"):
        await engine.start()
