"""Kernels forked from a pre-imported ipykernel, for batches of notebooks.

A suite of small notebooks is bound by kernel boots: each fresh ipykernel spends ~0.45 s of
CPU importing IPython, ipykernel and debugpy before it runs a line. The fork server
(:mod:`.forkserver_main`) imports them once; every kernel is then a fork of it that no user
code ran in, so a notebook still gets a fresh process (no state leaks between notebooks) for
~0.07 s. Forking needs the same interpreter as the kernel would run, so only the default
kernel (this interpreter's ipykernel, no ``-k``, no run-local environment) is forked.

The server is a child of ours; its kernels are its children, watched here through pidfds and
its exit reports. :class:`ForkedProcess` gives them the part of ``subprocess.Popen`` the
native engine uses. If the server cannot start, it says why once and the engine launches
kernels itself, as without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["ForkServer", "ForkedProcess"]

_SOURCE = Path(__file__).with_name("forkserver_main.py")
_READY_TIMEOUT_S = 60.0  # the server's imports, on a loaded machine
_REPLY_TIMEOUT_S = 10.0  # one fork
_EXIT_REPORT_S = 1.0  # a kernel's exit is reaped by the server at once; its report follows


class ForkServer:
    """One fork server process for ``python`` (this interpreter by default), started at once.

    Thread-safe: engines prestart from the event loop, the readiness wait runs in a thread.
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        python: str | None = None,
        note: Callable[[str], object] | None = None,
    ) -> None:
        """``environ``: the server's own environment (a kernel's base: no token);
        ``note(text)``: where the one line saying it was given up goes."""
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}
        self._buf = b""
        self._ready = False
        self.failed: str | None = None
        self._note = note
        env = dict(environ)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [python or sys.executable, "-c", _SOURCE.read_text(encoding="utf-8")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is not for it
            )
        except OSError as exc:
            self._proc = None
            self._give_up(f"could not start it: {exc}")

    # -- readiness ---------------------------------------------------------------------------

    def ready_nowait(self) -> bool:
        """True when a fork can be had now; False while it boots or once it failed."""
        if self._ready or self.failed is not None:
            return self._ready and self.failed is None
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._read(0.0)
        finally:
            self._lock.release()
        return self._ready and self.failed is None

    def wait_ready(self) -> bool:
        """Block until the server is ready (True) or has failed (False)."""
        with self._lock:
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while not self._ready and self.failed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._give_up(f"not ready within {_READY_TIMEOUT_S:g} s")
                    break
                self._read(left)
        return self._ready and self.failed is None

    # -- forking ---------------------------------------------------------------------------

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, log: str
    ) -> ForkedProcess | None:
        """A kernel forked with ``argv`` (ipykernel's, after the launcher), or None when the
        server cannot fork (the caller launches the kernel itself)."""
        if not self.wait_ready():
            return None
        request = {"argv": list(argv), "env": dict(env), "cwd": cwd, "log": log}
        with self._lock:
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
            except OSError as exc:
                self._give_up(f"it went away: {exc}")
                return None
            deadline = time.monotonic() + _REPLY_TIMEOUT_S
            while self.failed is None:
                for record in self._read(max(0.0, deadline - time.monotonic())):
                    if "pid" in record:
                        return ForkedProcess(self, int(record["pid"]))
                    if "error" in record:
                        self._give_up(str(record["error"]))
                if time.monotonic() >= deadline and self.failed is None:
                    self._give_up(f"no fork within {_REPLY_TIMEOUT_S:g} s")
        return None

    def exit_code(self, pid: int, wait: float) -> int | None:
        """The reported exit code of kernel ``pid``, waiting up to ``wait`` s for the report."""
        with self._lock:
            deadline = time.monotonic() + wait
            while pid not in self._exits and self.failed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._read(left)
            return self._exits.get(pid)

    def close(self) -> None:
        """End the server; any kernel of it still running is killed by it (EOF on its stdin)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _read(self, timeout: float) -> list[dict[str, Any]]:
        """Records that arrive within ``timeout`` (lock held); exits and readiness noted."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            if self.failed is None:
                self._give_up("it was closed")
            return []
        out: IO[bytes] = proc.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(out.fileno(), 65536)
        if not chunk:
            self._give_up("it exited")
            return []
        self._buf += chunk
        records: list[dict[str, Any]] = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            record = json.loads(line)
            if "ready" in record:
                self._ready = True
            elif "exit" in record:
                self._exits[int(record["exit"])] = int(record["code"])
            elif "error" in record and not self._ready:
                self._give_up(str(record["error"]))
            records.append(record)
        return records

    def _give_up(self, why: str) -> None:
        if self.failed is not None:
            return
        self.failed = why
        if self._note is not None:
            self._note(f"kernels are launched one by one: the fork server failed ({why})")


class ForkedProcess:
    """A forked kernel, with the part of ``subprocess.Popen`` the native engine uses."""

    stdin = None  # the kernel's stdin is a pipe of its own that nobody writes to

    def __init__(self, server: ForkServer, pid: int) -> None:
        self._server = server
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = None  # already gone: its exit report says how
        except (AttributeError, OSError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None and self._gone(0.0):
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._gone(timeout):
                raise subprocess.TimeoutExpired(["ipykernel"], timeout or 0.0)
            self._collect()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def _gone(self, timeout: float | None) -> bool:
        if self._pidfd is None:
            return self._server.exit_code(self.pid, timeout or 0.0) is not None or not _alive(
                self.pid
            )
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        return bool(ready)

    def _collect(self) -> None:
        code = self._server.exit_code(self.pid, _EXIT_REPORT_S)
        # No report (the server itself died): the process is gone, how is unknown.
        self.returncode = code if code is not None else -signal.SIGKILL
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
