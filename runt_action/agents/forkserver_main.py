"""The fork server's process: ipykernel imported once, one fork per kernel.

Run by :mod:`runt_action.agents.forkserver` as ``python -c <this file's source>``, in the
environment kernels get (no token). It imports what an ipykernel imports while it boots, then
forks a child per request; the child becomes the kernel exactly as ``python -m
ipykernel_launcher -f FILE`` would (its own session, the request's environment, working
directory, argv and log). A kernel so costs ~0.07 s of CPU instead of ~0.45 s: a suite of
small notebooks is bound by kernel boots, and each notebook still gets a fresh process that
no user code ran in before (this process never runs any).

Protocol, JSON lines: stdin takes ``{"argv", "env", "cwd", "log"}``; stdout answers
``{"ready": pid}`` once, ``{"pid": N}`` or ``{"error": "..."}`` per request, and ``{"exit":
pid, "code": returncode}`` (Popen's convention: -N for a signal) when a kernel ends. EOF on
stdin ends the server, and its kernels with it.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] in ("", "-c"):  # as ipykernel_launcher: no cwd while importing
    del sys.path[0]

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import selectors
import signal
import threading
import traceback
from typing import Any

# What ipykernel imports while it boots (measured with sys.modules before and after
# IPKernelApp.initialize); importing them here is what a fork saves. None starts a thread.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "sqlite3",
    "pdb",
    "tornado.gen",
    "tornado.queues",
    "tornado.platform.asyncio",
)
_ENV_OF = {"parent_handle": "JPY_PARENT_PID", "interrupt": "JPY_INTERRUPT_EVENT"}


def _send(out: int, record: dict[str, Any]) -> None:
    data = (json.dumps(record) + "\n").encode()
    while data:
        data = data[os.write(out, data) :]


def _preload() -> str | None:
    """None when ready to fork, else why not (the client then launches kernels itself)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:
            if name == "ipykernel.kernelapp":
                return f"cannot import ipykernel: {exc}"
    if threading.active_count() != 1:
        return "importing ipykernel started a thread; forking would be unsafe"
    return None


def _child(request: dict[str, Any], keep: set[int]) -> None:
    """Become the kernel; never returns."""
    code = 1
    try:
        os.setsid()  # as start_new_session: interrupts go to the kernel's own group
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        read_end, _write_end = os.pipe()  # stdin: a pipe nobody writes to, as Popen's PIPE
        os.dup2(read_end, 0)
        os.close(read_end)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # it exits when this server does
        launcher = importlib.util.find_spec("ipykernel_launcher")
        origin = launcher.origin if launcher is not None and launcher.origin else "ipykernel"
        sys.argv = [origin, *request["argv"]]
        from ipykernel import kernelapp

        # Traits whose defaults ipykernel reads from the environment when it is imported (here,
        # before this kernel's environment was set): the parent it watches, to exit with it.
        given = {name: int(os.environ.get(var) or 0) for name, var in _ENV_OF.items()}
        kernelapp.IPKernelApp.launch_instance(None, **given)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    try:
        atexit._run_exitfuncs()  # the user's atexit handlers run, as in a launched kernel
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main() -> None:
    out = os.dup(1)  # answers; fd 1 itself goes to stderr so no stray print corrupts them
    os.dup2(2, 1)
    why = _preload()
    if why is not None:
        _send(out, {"error": why})
        return
    gc.collect()
    gc.freeze()  # the imported modules' objects: shared with every kernel, never copied
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: set[int] = set()
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    _send(out, {"ready": os.getpid()})
    buf = b""
    try:
        while True:
            for key, _ in sel.select():
                if key.fd == wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    _reap(out, children)
                    continue
                chunk = os.read(0, 65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        sel.close()
                        _child(request, {0, out, wake_r, wake_w})
                    children.add(pid)
                    _send(out, {"pid": pid})
    finally:
        for pid in children:  # our client is gone: so are its kernels
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        _reap(out, children)


def _reap(out: int, children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            with contextlib.suppress(OSError):
                _send(out, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
