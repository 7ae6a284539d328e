"""PyodideEngine: the default runtime, Python compiled to wasm, run by Deno in a sandbox.

Deno gets only the permissions the run needs: read the bridge, Pyodide and the mounted
directories; write the snapshot cache (only when making a snapshot) and the output directory.
Secrets travel over the bridge's stdin, so they never appear in argv, the process environment
or a file.

``prestart()`` launches Deno (and sends it the init) without an event loop, so Pyodide boots
while the caller still imports and connects; ``start()`` adopts the process (process.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runt_action.agents.engine import ExecOutcome, OutputSink
from runt_action.agents.pyodide import paths
from runt_action.agents.pyodide.mounts import parse_mounts
from runt_action.agents.pyodide.packages import plan_packages
from runt_action.agents.pyodide.process import AdoptedProcess, launch
from runt_action.agents.pyodide.protocol import LineSplitter, deliver, encode, outcome_of
from runt_action.errors import RuntActionError, RuntimeAgentError, RuntimeDied, RuntimeStartTimeout
from runt_action.timeouts import Timeouts

__all__ = ["PyodideEngine", "snapshot_looks_whole"]

log = logging.getLogger(__name__)

_STDERR_TAIL = 40
_CDN_HOST = "cdn.jsdelivr.net:443"
_PYPI_HOSTS = ("pypi.org:443", "files.pythonhosted.org:443")  # micropip, downloads allowed
_SNAPSHOT_GRACE = 15.0


class PyodideEngine:
    """One Pyodide interpreter in one Deno process, with a persistent namespace."""

    runtime_type = "python3-pyodide"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        mounts: Iterable[str | os.PathLike[str]] = (),
        mount_readonly: bool = False,
        output_dir: str | os.PathLike[str] | None = None,
        snapshot: bool = True,
        *,
        package_cdn: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        startup_timeout: float | None = Timeouts().startup,
        packages: Sequence[str] = (),
        wheelhouse: str | os.PathLike[str] | None = None,
    ) -> None:
        """``mounts`` are ``host`` or ``host:target`` directories copied into Pyodide's FS,
        by default at the host's own absolute path (as the native runtime sees them); a
        writable one is copied back to the host after every cell (new, changed and deleted
        files), a read-only one (``mount_readonly``) refuses writes with PermissionError.
        ``output_dir`` is at its host path too and copied back after every cell. ``cwd`` is
        the cells' working directory, at the same path: mounted (like ``mounts``) unless a
        mount already holds it. ``env`` appears in os.environ only; ``package_cdn`` lets
        Pyodide fetch missing packages from its CDN and PyPI (default: $RUNT_PYODIDE_CDN,
        else off).

        ``packages`` (PEP 508 requirements: the notebook's metadata.packages + the packages
        input) are installed before the first cell, from ``wheelhouse``, the local
        distribution or (downloads allowed) the CDN / PyPI: see packages.py. One that cannot
        be had raises MissingPackageError from ``start()`` (exit 2); ``package_notes`` then
        says where each one came from.
        """
        self._env = {str(k): str(v) for k, v in (env or {}).items()}
        self._mounts = parse_mounts(mounts, mount_readonly)
        self._cwd = str(Path(cwd).resolve()) if cwd is not None else None
        if self._cwd is not None and not any(_under(self._cwd, m.target) for m in self._mounts):
            self._mounts.extend(parse_mounts([self._cwd], mount_readonly))
        self._output_dir = Path(output_dir).resolve() if output_dir is not None else None
        self._snapshot = snapshot
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        if package_cdn is None:
            package_cdn = os.environ.get("RUNT_PYODIDE_CDN", "") not in ("", "0", "false")
        self._package_cdn = package_cdn
        self._startup_timeout = startup_timeout
        self._packages = list(packages)
        self._wheelhouse = Path(wheelhouse) if wheelhouse is not None else None
        self.package_notes: list[str] = []
        self._popen: subprocess.Popen[bytes] | None = None  # launched, maybe not yet adopted
        self._launch_error: RuntActionError | OSError | None = None
        self._making_snapshot = False
        self._proc: AdoptedProcess | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL)
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._current: tuple[int, OutputSink, asyncio.Future[ExecOutcome]] | None = None
        self._next_id = 0
        self._lock = asyncio.Lock()
        self._closing = False
        self._dead: RuntimeDied | None = None
        self._bye: asyncio.Future[list[str]] | None = None  # the shutdown's last copy back
        self._shutdown_sent = False
        self.boot_info: dict[str, Any] = {}
        # What the last copy back to the host (at shutdown) could not do, one line per file:
        # the run must fail on it (see written_back()). A cell's own copy back fails the cell.
        self.write_back_problems: list[str] = []

    @property
    def pid(self) -> int | None:
        """Deno's process id once launched (for fault injection and diagnostics)."""
        return self._popen.pid if self._popen is not None else None

    # ------------------------------------------------------------------------------ lifecycle

    def prestart(self) -> None:
        """Launch Deno and send it the init now; ``start()`` adopts the process. Needs no loop.

        Pyodide then boots while the caller imports and connects. The environment is taken
        here. Idempotent; a failure to launch is raised by ``start()``.
        """
        if self._popen is not None or self._launch_error is not None or self._closing:
            return
        try:
            self._launch()
        except (RuntActionError, OSError) as exc:  # no Pyodide, a missing package, ...
            self._launch_error = exc

    def kill(self) -> None:
        """Last resort without an event loop (e.g. after it closed): kill and reap Deno."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait()
        if self._proc is None:  # adopted pipes belong to their transports
            for pipe in (popen.stdin, popen.stdout, popen.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    async def start(self) -> None:
        if self._proc is not None:
            return
        if self._launch_error is not None:
            raise self._launch_error
        if self._popen is None:
            self._launch()
        assert self._popen is not None
        self._proc = await AdoptedProcess.adopt(self._popen)
        self._ready = asyncio.get_running_loop().create_future()
        self._bye = asyncio.get_running_loop().create_future()
        self._shutdown_sent = False
        self._tasks = [
            asyncio.create_task(self._read_events(), name="pyodide-events"),
            asyncio.create_task(self._read_stderr(), name="pyodide-stderr"),
        ]
        try:
            self.boot_info = await asyncio.wait_for(
                asyncio.shield(self._ready), self._startup_timeout
            )
        except TimeoutError:
            await self.shutdown()
            raise RuntimeStartTimeout(
                f"Pyodide did not start within {self._startup_timeout} s{self._tail()}"
            ) from None
        except BaseException:
            await self.shutdown()
            raise

    def _launch(self) -> None:
        """Spawn Deno with only the permissions this run needs, and write the init command."""
        pyodide = paths.pyodide_dir()
        plan = plan_packages(self._packages, pyodide, self._wheelhouse, self._package_cdn)
        self.package_notes = list(plan.notes)
        for note in plan.notes:  # the orchestrator also shows them (package_notes)
            log.info("%s", note)
        stdlib = paths.compiled_stdlib(pyodide, self._cache_dir)
        snapshot, make = self._snapshot_plan(pyodide, stdlib)
        read = [paths.BRIDGE_DIR, pyodide, *(Path(m.host) for m in self._mounts), *plan.wheels]
        if stdlib is not None and not stdlib.path.is_relative_to(pyodide):
            read.append(stdlib.path)
        write: list[Path] = []
        if snapshot is not None:
            read.append(snapshot.parent)
        if make is not None:
            try:
                make.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a read-only cache only costs the speed-up
                log.warning("cannot cache the Pyodide snapshot in %s: %s", make.parent, exc)
                make = None
        if make is not None:
            read.append(make.parent)
            write.append(make.parent)
        if self._output_dir is not None:
            self._output_dir.mkdir(parents=True, exist_ok=True)
            write.append(self._output_dir)
        write.extend(Path(m.host) for m in self._mounts if not m.readonly)  # copied back
        argv = [paths.find_deno(), "run", "--no-prompt", "--no-config", "--no-lock", "--quiet"]
        argv.append("--allow-read=" + ",".join(str(p) for p in read))
        if write:
            argv.append("--allow-write=" + ",".join(str(p) for p in write))
        if self._package_cdn:
            hosts = [_CDN_HOST, *(_PYPI_HOSTS if plan.pip else ())]
            argv.append("--allow-net=" + ",".join(hosts))
        argv.append(str(paths.BRIDGE_DIR / "bridge.mjs"))
        child_env = {**os.environ, "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
        child_env.setdefault("DENO_TLS_CA_STORE", "system")
        try:
            popen = launch(argv, child_env)
        except OSError as exc:
            raise RuntimeAgentError(f"could not start deno: {exc}") from exc
        self._popen = popen
        self._making_snapshot = make is not None
        init = {
            "pyodideDir": str(pyodide),
            "env": self._env,
            "mounts": [
                {"host": m.host, "target": m.target, "readonly": m.readonly} for m in self._mounts
            ],
            "outputDir": str(self._output_dir) if self._output_dir is not None else None,
            "cwd": self._cwd,
            "stdlib": str(stdlib.path) if stdlib is not None else None,
            "snapshot": str(snapshot) if snapshot is not None else None,
            "makeSnapshot": str(make) if make is not None else None,
            "packages": None if plan.empty else plan.to_init(),
        }
        assert popen.stdin is not None
        try:  # one short line into an empty pipe: does not block
            popen.stdin.write(encode("init", **init))
            popen.stdin.flush()
        except OSError:
            pass  # Deno is already gone: start() reports its exit and its stderr

    def _snapshot_plan(
        self, pyodide: Path, stdlib: paths.CompiledStdlib | None
    ) -> tuple[Path | None, Path | None]:
        """(snapshot to boot from, snapshot to make): a present one is used, else one is made."""
        if not self._snapshot:
            return None, None
        path = paths.snapshot_path(pyodide, self._cache_dir, stdlib)
        if snapshot_looks_whole(path):
            return path, None
        return None, path

    async def restart(self) -> None:
        """Kill Deno (a running execute() raises RuntimeDied) and boot a fresh one, from the
        snapshot when there is one by now."""
        if self._closing:
            raise RuntimeAgentError("the Pyodide engine was shut down")
        self._closing = True  # the death that follows is ours, not a crash to remember
        try:
            proc = self._proc
            if proc is not None:
                proc.kill()
                await proc.wait()
            elif self._popen is not None:
                self.kill()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task  # the event reader ends at EOF and fails the running cell
            self._fail_current(RuntimeDied("the Pyodide runtime was restarted"))
        finally:
            self._closing = False
        self._proc, self._popen, self._tasks, self._ready = None, None, [], None
        self._launch_error, self._dead = None, None
        self._stderr.clear()
        await self.start()

    async def shutdown(self) -> None:
        self._closing = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                await self._send(encode("shutdown"))
                self._shutdown_sent = True
            if proc.stdin is not None:
                proc.stdin.close()
            # A run that made the snapshot lets the bridge finish writing it before it exits.
            grace = _SNAPSHOT_GRACE if self._making_snapshot else 2.0
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        elif proc is None:
            self.kill()  # prestarted, never adopted
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._fail_current(RuntimeDied("the Pyodide runtime was shut down"))
        self._end_bye()

    async def written_back(self) -> list[str]:
        """Once the shutdown's last copy back to the host is over (the bridge said goodbye, or
        the process ended): what it could not copy, as ``write_back_problems``. Returns at the
        goodbye, before the process exits (which may still be writing the snapshot), so the
        run can decide its outcome while Deno finishes. [] when the engine never started."""
        if self._bye is None:
            return []
        return list(await asyncio.shield(self._bye))

    def _end_bye(self) -> None:
        """The process ended: no goodbye will come."""
        bye = self._bye
        if bye is None or bye.done():
            return
        problems: list[str] = []
        writable = [m.target for m in self._mounts if not m.readonly]
        if self._output_dir is not None:
            writable.append(str(self._output_dir))
        if self._shutdown_sent and writable:  # asked to say goodbye, ended without it
            problems.append(
                f"the last copy of {', '.join(writable)} back to the host did not run: the "
                "Pyodide runtime ended first (files written after the last cell may be missing)"
            )
        self.write_back_problems = problems
        bye.set_result(problems)

    # ------------------------------------------------------------------------------ execution

    async def execute(
        self, code: str, sink: OutputSink, *, cell_id: str | None = None
    ) -> ExecOutcome:
        """``cell_id`` names the cell in tracebacks: ``File "<cell ID>", line N``."""
        async with self._lock:
            if self._dead is not None:
                raise self._dead
            if self._proc is None or self._closing:
                raise RuntimeAgentError("the Pyodide engine is not running")
            self._next_id += 1
            done: asyncio.Future[ExecOutcome] = asyncio.get_running_loop().create_future()
            self._current = (self._next_id, sink, done)
            try:
                await self._send(encode("exec", id=self._next_id, code=code, cellId=cell_id))
                return await done
            finally:
                self._current = None

    async def interrupt(self) -> None:
        if self._proc is not None and self._proc.returncode is None and not self._closing:
            with contextlib.suppress(Exception):
                await self._send(encode("interrupt"))

    # -------------------------------------------------------------------------------- plumbing

    async def _send(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RuntimeAgentError("the Pyodide engine is not running")
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._died_error() from exc

    async def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        splitter = LineSplitter()
        while chunk := await self._proc.stdout.read(1 << 16):
            for event in splitter.feed(chunk):
                self._on_event(event)
        await self._proc.wait()
        # Let the stderr reader drain so the error carries Deno's last words.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._tasks[1]), 0.5)
        error = self._died_error()
        if not self._closing:
            self._dead = error
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(RuntimeAgentError(f"Pyodide failed to start{self._tail()}"))
        self._fail_current(error)
        self._end_bye()

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr.append(line)
            if line.startswith("[runt-pyodide] warning: "):  # e.g. a file not copied back
                log.warning("%s", line.removeprefix("[runt-pyodide] warning: "))
            else:
                log.debug("deno: %s", line)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        if kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(event)
            return
        if kind == "bye":
            problems = [str(p) for p in event.get("problems") or []]
            for problem in problems:
                log.warning("%s", problem)
            self.write_back_problems = problems
            if self._bye is not None and not self._bye.done():
                self._bye.set_result(problems)
            return
        if kind == "fatal":
            message = str(event.get("message", "unknown failure"))
            self._stderr.append(message)
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(RuntimeAgentError(f"Pyodide failed to start: {message}"))
            return
        current = self._current
        if current is None or event.get("id") != current[0]:
            return  # a cell abandoned by a cancelled execute(): nobody is listening
        _, sink, done = current
        if kind == "done":
            if not done.done():
                done.set_result(outcome_of(event))
            return
        try:
            deliver(event, sink)
        except Exception:
            log.exception("output sink failed on %s", kind)

    def _fail_current(self, error: Exception) -> None:
        if self._current is not None and not self._current[2].done():
            self._current[2].set_exception(error)

    def _died_error(self) -> RuntimeDied:
        code = self._proc.returncode if self._proc is not None else None
        return RuntimeDied(f"the Deno/Pyodide process exited (code {code}){self._tail()}")

    def _tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        return (":\n" + "\n".join(lines[-15:])) if lines else ""


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def snapshot_looks_whole(path: Path) -> bool:
    """Cheap check (sidecar size); the bridge verifies the checksum before trusting it."""
    try:
        meta = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
        return bool(path.stat().st_size == meta["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
